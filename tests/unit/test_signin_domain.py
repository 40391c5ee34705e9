"""The pure parts of Google sign-in: the signed state, the allow-list, the new settings."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.domain.signin import StateCodec, StateError, return_to_allowed
from shared.settings import Settings, SettingsError

T0 = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
BASE = {"GOOGLE_CLOUD_PROJECT": "p", "DELEGATION_SERVICE_ACCOUNT": "sa@p.iam.gserviceaccount.com"}


def reason(call: object) -> str:
    assert callable(call)
    with pytest.raises(StateError) as raised:
        call()
    return raised.value.reason


def test_a_state_round_trips_only_with_its_key_cookie_and_time() -> None:
    codec = StateCodec("key-1", 600)
    text, secret, issued = codec.issue(login_hint="a@example.com", return_to="", now=T0)
    assert codec.verify(text, secret, T0 + dt.timedelta(seconds=599)) == issued
    assert secret not in text and "a@example.com" not in text.split(".")[1]
    assert reason(lambda: codec.verify(text, secret, T0 + dt.timedelta(seconds=600))) == (
        "state_expired"
    )
    assert reason(lambda: codec.verify(text, "another-browser", T0)) == "state_foreign"
    assert reason(lambda: codec.verify(text, None, T0)) == "state_foreign"
    assert reason(lambda: StateCodec("key-2", 600).verify(text, secret, T0)) == "state_invalid"
    for broken in ("", None):
        assert reason(lambda b=broken: codec.verify(b, secret, T0)) == "state_missing"
    for broken in ("x", "x.y", text + "A", "." + text.split(".")[1], "é." * 3, "a" * 5000):
        assert reason(lambda b=broken: codec.verify(b, secret, T0)) == "state_invalid"


def test_verifiers_differ_per_state_and_browser() -> None:
    codec = StateCodec("key-1", 600)
    text, secret, state = codec.issue(login_hint="", return_to="", now=T0)
    _, other_secret, other = codec.issue(login_hint="", return_to="", now=T0)
    verifier = codec.verifier(state, secret)
    assert len(verifier) == 43 and verifier == codec.verifier(state, secret)
    assert verifier not in (codec.verifier(other, other_secret), codec.verifier(state, "x"))
    assert verifier not in text


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://app.example.com/settings", True),
        ("https://app.example.com/settings/", True),
        ("https://APP.example.com/settings/x?y=1#z", True),
        ("https://app.example.com/settingsx", False),
        ("https://app.example.com/", False),
        ("https://app.example.com:443/settings", False),
        ("http://app.example.com/settings", False),
        ("https://evil.example.com/settings", False),
        ("https://app.example.com.evil.example.com/settings", False),
        ("https://user@app.example.com/settings", False),
        ("https://app.example.com\\@evil/settings", False),
        ("https://app.example.com/settings\n", False),
        ("https://app.example.com:bad/settings", False),
        ("//app.example.com/settings", False),
        ("", False),
        ("https://other.example.com/anything/at/all", True),
    ],
)
def test_return_to_matches_origin_and_path_never_text(url: str, allowed: bool) -> None:
    allowlist = ("https://app.example.com/settings", "https://other.example.com")
    assert return_to_allowed(url, allowlist) is allowed


def test_connect_settings_have_googles_defaults_and_are_checked() -> None:
    s = Settings.from_env(BASE)
    assert s.oauth_auth_uri == "https://accounts.google.com/o/oauth2/v2/auth"
    assert s.oauth_revoke_uri == "https://oauth2.googleapis.com/revoke"
    assert s.oauth_certs_uri == "https://www.googleapis.com/oauth2/v3/certs"
    assert (s.connect_watches_primary, s.connect_state_ttl_seconds) == (True, 600)
    s = Settings.from_env(
        {
            **BASE,
            "CONNECT_WATCHES_PRIMARY": "false",
            "CONNECT_RETURN_TO_ALLOWLIST": "https://a.example.com/x, https://b.example.com",
        }
    )
    assert not s.connect_watches_primary
    assert s.return_to_allowlist == ("https://a.example.com/x", "https://b.example.com")
    for env, named in (
        ({"CONNECT_WATCHES_PRIMARY": "maybe"}, "CONNECT_WATCHES_PRIMARY"),
        ({"CONNECT_RETURN_TO_ALLOWLIST": "app.example.com"}, "CONNECT_RETURN_TO_ALLOWLIST"),
        ({"OAUTH_REDIRECT_URI": "ftp://x"}, "OAUTH_REDIRECT_URI"),
        ({"AUTH_MODE": "refresh_token", "OAUTH_CLIENT_ID": "c", "OAUTH_CLIENT_SECRET": "s",
          "TOKEN_ENCRYPTION_KEY": "k"}, "STATE_SIGNING_KEY"),
    ):  # fmt: skip
        with pytest.raises(SettingsError, match=named):
            Settings.from_env({**BASE, **env})
