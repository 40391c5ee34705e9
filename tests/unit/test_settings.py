from __future__ import annotations

import pytest

from shared.settings import Settings, SettingsError

BASE = {"GOOGLE_CLOUD_PROJECT": "p", "DELEGATION_SERVICE_ACCOUNT": "sa@p.iam.gserviceaccount.com"}


def test_defaults_and_typed_values() -> None:
    s = Settings.from_env({**BASE, "CHANNEL_TTL_SECONDS": "3600", "CONFERENCE_WAIT_SECONDS": "2.5"})
    assert s.project == "p"
    assert s.channel_ttl_seconds == 3600
    assert s.conference_wait_seconds == 2.5
    assert s.changes_topic == "calendar-changes"
    assert s.calendar_api_root == "https://www.googleapis.com/"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "GOOGLE_CLOUD_PROJECT"),
        ({"GOOGLE_CLOUD_PROJECT": "p"}, "DELEGATION_SERVICE_ACCOUNT"),
        ({**BASE, "CHANNEL_TTL_SECONDS": "soon"}, "CHANNEL_TTL_SECONDS"),
        ({**BASE, "LEASE_SECONDS": "-5"}, "LEASE_SECONDS"),
        ({**BASE, "AUTH_MODE": "magic"}, "AUTH_MODE"),
        ({**BASE, "AUTH_MODE": "refresh_token"}, "OAUTH_CLIENT_ID"),
        ({**BASE, "CALENDAR_API_ROOT": "ftp://x"}, "CALENDAR_API_ROOT"),
        ({**BASE, "WEBHOOK_URL": "nope"}, "WEBHOOK_URL"),
    ],
)
def test_bad_environment_names_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_env_names_cover_every_field_and_secrets_are_marked() -> None:
    names = Settings.env_names()
    assert {"GOOGLE_CLOUD_PROJECT", "WEBHOOK_URL", "OAUTH_CLIENT_SECRET"} <= names
    assert Settings.secret_env_names() == {
        "OAUTH_CLIENT_SECRET",
        "TOKEN_ENCRYPTION_KEY",
        "STATE_SIGNING_KEY",
    }


def test_secrets_are_not_in_repr() -> None:
    s = Settings.from_env(
        {
            "GOOGLE_CLOUD_PROJECT": "p",
            "AUTH_MODE": "refresh_token",
            "OAUTH_CLIENT_ID": "cid",
            "OAUTH_CLIENT_SECRET": "s3cr3t-value",
            "TOKEN_ENCRYPTION_KEY": "k3y-value",
            "STATE_SIGNING_KEY": "st4te-value",
            "OAUTH_REDIRECT_URI": "https://connect.example.com/oauth/callback",
        }
    )
    for secret in ("s3cr3t-value", "k3y-value", "st4te-value"):
        assert secret not in repr(s)
