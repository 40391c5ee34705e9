"""`GET /_emulator/secrets`: every credential the emulator issued, for log leak scans."""

from __future__ import annotations

import json
import time

import requests

from tests.emulator.support import Harness

A = "alice@example.com"
SA = "svc@project.iam.gserviceaccount.com"


def _secrets(h: Harness) -> dict[str, list[str]]:
    found: dict[str, list[str]] = h.control("GET", "/secrets")
    return found


def _issue_one_of_each(h: Harness, channel_token: str) -> dict[str, str]:
    """A refresh token, an access token through /token, a signed JWT and a channel token."""
    refresh = h.add_user(A)
    grant = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "c"}
    access = requests.post(f"{h.url}/token", data=grant, timeout=5).json()["access_token"]
    claims = {"iss": SA, "sub": A, "aud": f"{h.url}/token", "exp": int(time.time()) + 600}
    signed = requests.post(
        f"{h.url}/v1/projects/-/serviceAccounts/{SA}:signJwt",
        json={"payload": json.dumps(claims)},
        timeout=5,
    ).json()["signedJwt"]
    watch = {"id": f"ch-{channel_token}", "type": "web_hook", "address": "https://example.com/h"}
    response = requests.post(
        f"{h.url}/calendar/v3/calendars/primary/events/watch",
        json={**watch, "token": channel_token},
        headers={"Authorization": f"Bearer {access}"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    return {
        "refresh_tokens": refresh,
        "access_tokens": access,
        "signed_jwts": signed,
        "channel_tokens": channel_token,
    }


def test_every_issued_secret_is_listed_by_kind_and_survives_reset(h: Harness) -> None:
    first = _issue_one_of_each(h, "channel-secret-1")
    listed = _secrets(h)
    assert set(listed) == set(first)
    for kind, value in first.items():
        assert value in listed[kind], kind
        assert all(value not in others for k, others in listed.items() if k != kind), kind

    h.control("POST", "/reset")
    second = _issue_one_of_each(h, "channel-secret-2")
    after = _secrets(h)
    for issued in (first, second):
        for kind, value in issued.items():
            assert value in after[kind], kind
    assert all(r["path"] != "/_emulator/secrets" for r in h.requests_log())


def test_tokens_issued_through_the_control_api_are_listed_too(h: Harness) -> None:
    h.add_user(A)
    refresh_again = h.add_user(A)  # each call issues a new refresh token
    token = h.control("POST", f"/users/{A}/token", {})["access_token"]
    listed = _secrets(h)
    assert refresh_again in listed["refresh_tokens"]
    assert token in listed["access_tokens"]
