"""OAuth refresh, token expiry on the emulator clock, revocation and domain-wide delegation."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from google.auth.exceptions import RefreshError

from tests.emulator.support import Harness, make_credentials, run

A = "alice@example.com"
CALENDAR_401 = {
    "error": {
        "errors": [
            {
                "domain": "global",
                "reason": "authError",
                "message": "Invalid Credentials",
                "locationType": "header",
                "location": "Authorization",
            }
        ],
        "code": 401,
        "message": "Invalid Credentials",
    }
}


def test_refresh_flow_and_bad_tokens(h: Harness) -> None:
    cal = h.calendar(A)
    run(cal.events().list(calendarId="primary"))
    token_calls = [r for r in h.requests_log() if r["api"] == "oauth"]
    assert [(r["status"], r["user"]) for r in token_calls] == [(200, A)]
    assert h.control("GET", "/users")[0]["client_ids"] == ["test-client"]
    for headers in ({}, {"Authorization": "Bearer nope"}):
        resp = requests.get(
            f"{h.url}/calendar/v3/calendars/primary/events", headers=headers, timeout=5
        )
        assert resp.status_code == 401
        assert resp.json() == CALENDAR_401
        meet = requests.get(f"{h.url}/v2/spaces/abc", headers=headers, timeout=5)
        assert meet.status_code == 401
        assert meet.json()["error"]["status"] == "UNAUTHENTICATED"


def test_access_token_expires_on_emulator_clock(h: Harness) -> None:
    h.add_user(A)
    issued = h.control("POST", f"/users/{A}/token", {})
    assert issued["expires_in"] == 3600
    url = f"{h.url}/calendar/v3/calendars/primary/events"
    auth = {"Authorization": f"Bearer {issued['access_token']}"}
    assert requests.get(url, headers=auth, timeout=5).status_code == 200
    h.advance(3601)
    expired = requests.get(url, headers=auth, timeout=5)
    assert expired.status_code == 401
    assert expired.json() == CALENDAR_401
    bare = h.calendar(A, credentials=make_credentials(token=issued["access_token"]))
    with pytest.raises(RefreshError):  # the client cannot refresh a bare token
        run(bare.events().list(calendarId="primary"))

    refreshing = h.calendar(A)
    run(refreshing.events().list(calendarId="primary"))
    h.advance(3601)
    run(refreshing.events().list(calendarId="primary"))  # 401, refresh, retry
    statuses = [(r["api"], r["status"]) for r in h.requests_log() if r["user"] in (A, None)]
    assert statuses[-5:] == [
        ("oauth", 200),
        ("calendar", 200),
        ("calendar", 401),
        ("oauth", 200),
        ("calendar", 200),
    ]


def test_revoked_refresh_token_is_invalid_grant(h: Harness) -> None:
    creds = h.credentials(A)
    cal = h.calendar(A, credentials=creds)
    run(cal.events().list(calendarId="primary"))
    h.control("POST", f"/users/{A}/revoke")
    with pytest.raises(RefreshError) as exc:
        run(cal.events().list(calendarId="primary"))
    assert "invalid_grant" in str(exc.value)
    raw = requests.post(
        f"{h.url}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": creds.refresh_token,
            "client_id": "c",
            "client_secret": "s",
        },
        timeout=5,
    )
    assert raw.status_code == 400
    assert raw.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    fresh = h.calendar(A)  # a new consent gives a working token again
    run(fresh.events().list(calendarId="primary"))


def _sign(h: Harness, claims: dict[str, object]) -> str:
    resp = requests.post(
        f"{h.url}/v1/projects/-/serviceAccounts/sync@proj.iam.gserviceaccount.com:signJwt",
        json={"payload": json.dumps(claims)},
        headers={"Authorization": "Bearer anything"},
        timeout=5,
    )
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"keyId", "signedJwt"}
    jwt: str = body["signedJwt"]
    return jwt


def _grant(h: Harness, assertion: str) -> requests.Response:
    return requests.post(
        f"{h.url}/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        timeout=5,
    )


def _delegation_claims(now: float) -> dict[str, Any]:
    """A service account's domain-wide delegation grant for A, valid for an hour."""
    return {
        "iss": "sync@proj.iam.gserviceaccount.com",
        "sub": A,
        "scope": "https://www.googleapis.com/auth/calendar",
        "aud": "https://oauth2.googleapis.com/token",
        "iat": int(now),
        "exp": int(now) + 3600,
    }


def test_domain_wide_delegation(h: Harness) -> None:
    h.add_user(A)
    now = h.control("GET", "/clock")["now"]
    claims = _delegation_claims(now)
    granted = _grant(h, _sign(h, claims))
    assert granted.status_code == 200
    token = granted.json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    cal = h.calendar(A, credentials=make_credentials(token=token["access_token"]))
    assert run(cal.calendars().get(calendarId="primary"))["id"] == A

    jwt = _sign(h, claims)
    tampered = jwt[:-4] + ("AAAA" if not jwt.endswith("AAAA") else "BBBB")
    for assertion, claims_override in (
        (tampered, None),
        (None, {"sub": "stranger@example.com"}),
        (None, {"exp": int(now) - 10}),
        (None, {"exp": int(now) + 7200}),
        (None, {"aud": "https://example.com/elsewhere"}),
    ):
        signed = assertion or _sign(h, {**claims, **(claims_override or {})})
        bad = _grant(h, signed)
        assert bad.status_code == 400, claims_override
        assert bad.json()["error"] == "invalid_grant"


def test_withdrawn_delegation_refuses_the_user_until_reauthorised(h: Harness) -> None:
    h.add_user(A)
    now = h.control("GET", "/clock")["now"]
    claims = _delegation_claims(now)
    h.control("POST", f"/users/{A}/revoke")
    refused = _grant(h, _sign(h, claims))
    assert refused.status_code == 400
    assert refused.json()["error"] == "unauthorized_client"
    h.add_user(A)  # the user authorises again
    assert _grant(h, _sign(h, claims)).status_code == 200
