"""Sign-in grants: granular consent, scope enforcement (403), revocation."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError

from tests.emulator.signin_support import (
    CALENDAR,
    CLIENT_ID,
    CLIENT_SECRET,
    EMAIL,
    MEET,
    SignIn,
)
from tests.emulator.support import Harness, error_body, make_credentials, run

A = "alice@example.com"
CALENDAR_403 = {
    "error": {
        "code": 403,
        "message": "Request had insufficient authentication scopes.",
        "errors": [
            {
                "message": "Insufficient Permission",
                "domain": "global",
                "reason": "insufficientPermissions",
            }
        ],
        "status": "PERMISSION_DENIED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                "domain": "googleapis.com",
                "metadata": {"service": "calendar-json.googleapis.com"},
            }
        ],
    }
}


@pytest.fixture
def s(h: Harness) -> SignIn:
    return SignIn(h)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_unticked_calendar_scope_gets_insufficient_permissions(h: Harness, s: SignIn) -> None:
    h.add_user(A)
    tokens = s.tokens(login_hint=A, untick=("scope-calendar",))
    assert set(tokens["scope"].split()) == {"openid", EMAIL, MEET}
    cal = h.calendar(A, credentials=make_credentials(token=tokens["access_token"]))
    with pytest.raises(HttpError) as exc:
        run(cal.events().list(calendarId="primary"))
    assert exc.value.resp.status == 403
    assert error_body(exc.value) == CALENDAR_403
    assert 'error="insufficient_scope"' in exc.value.resp["www-authenticate"]
    meet = h.meet(A, credentials=make_credentials(token=tokens["access_token"]))
    assert run(meet.spaces().create(body={}))["meetingUri"]  # Meet was granted


def test_consent_knob_grants_a_subset_and_meet_answers_permission_denied(
    h: Harness, s: SignIn
) -> None:
    h.add_user(A)
    assert h.control("POST", "/oauth/consent", {"grant_scopes": [CALENDAR]}) == {
        "grant_scopes": [CALENDAR]
    }
    back = s.authorize(login_hint=A)
    assert set(back["scope"].split()) == {"openid", EMAIL, CALENDAR}
    assert h.control("GET", "/oauth/consent") == {"grant_scopes": None}  # one consent only
    token = s.exchange(back["code"]).json()["access_token"]
    meet = h.meet(A, credentials=make_credentials(token=token))
    with pytest.raises(HttpError) as exc:
        run(meet.spaces().create(body={}))
    body = error_body(exc.value)["error"]
    assert (body["code"], body["status"]) == (403, "PERMISSION_DENIED")
    assert body["message"] == "Request had insufficient authentication scopes."
    assert body["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    assert body["details"][0]["metadata"]["method"].endswith("SpacesService.CreateSpace")
    cal = h.calendar(A, credentials=make_credentials(token=token))
    assert run(cal.calendars().get(calendarId="primary"))["id"] == A
    # nothing granted at all (only non-sign-in scopes asked, all unticked): access_denied
    h.control("POST", "/oauth/consent", {"grant_scopes": []})
    assert s.authorize(login_hint=A, scope=MEET)["error"] == "access_denied"


def test_existing_tokens_keep_their_scopes(h: Harness) -> None:
    """Control-API tokens, refresh without a scope and delegation behave as before; a
    token asked for a narrower scope is held to it."""
    h.add_user(A)
    default = h.control("POST", f"/users/{A}/token", {})["access_token"]
    url = f"{h.url}/calendar/v3/calendars/primary/events"
    assert requests.get(url, headers=_bearer(default), timeout=5).status_code == 200
    assert requests.post(f"{h.url}/v2/spaces", json={}, headers=_bearer(default), timeout=5).ok
    readonly = h.control(
        "POST", f"/users/{A}/token", {"scope": "https://www.googleapis.com/auth/calendar.readonly"}
    )["access_token"]
    assert requests.get(url, headers=_bearer(readonly), timeout=5).status_code == 200
    denied = requests.post(url, json={}, headers=_bearer(readonly), timeout=5)
    assert denied.status_code == 403 and denied.json() == CALENDAR_403
    meet_only = h.control("POST", f"/users/{A}/token", {"scope": MEET})["access_token"]
    assert requests.get(url, headers=_bearer(meet_only), timeout=5).status_code == 403


def _grants(h: Harness) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = h.control("GET", "/oauth/grants?email=" + A)
    return found


def test_revoked_refresh_token_is_invalid_grant(h: Harness, s: SignIn) -> None:
    h.add_user(A)
    tokens = s.tokens(login_hint=A)
    refreshed = s.refresh(tokens["refresh_token"]).json()["access_token"]
    sign_in = [g for g in _grants(h) if g["source"] == "authorization_code"]
    assert len(sign_in) == 1
    assert sign_in[0]["live_access_tokens"] == 2 and sign_in[0]["revoked"] is False
    assert sign_in[0]["client_id"] == CLIENT_ID and sign_in[0]["has_refresh_token"]
    listing = json.dumps(h.control("GET", "/oauth/grants"))
    assert all(tokens[k] not in listing for k in ("refresh_token", "access_token", "id_token"))

    revoked = requests.post(f"{h.url}/revoke", data={"token": tokens["refresh_token"]}, timeout=5)
    assert (revoked.status_code, revoked.json()) == (200, {})
    dead = s.refresh(tokens["refresh_token"])
    assert dead.status_code == 400
    assert dead.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    url = f"{h.url}/calendar/v3/calendars/primary/events"
    for access in (tokens["access_token"], refreshed):  # minted from it: dead too
        assert requests.get(url, headers=_bearer(access), timeout=5).status_code == 401
    grant = next(g for g in _grants(h) if g["id"] == sign_in[0]["id"])
    assert grant["revoked"] is True and grant["revoked_by"] == "revoke endpoint"
    assert grant["live_access_tokens"] == 0
    again = requests.post(f"{h.url}/revoke", data={"token": tokens["refresh_token"]}, timeout=5)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_token"

    creds = make_credentials(
        token=None,
        refresh_token=tokens["refresh_token"],
        token_uri=f"{h.url}/token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    with pytest.raises(RefreshError, match="invalid_grant"):
        run(h.calendar(A, credentials=creds).events().list(calendarId="primary"))


def test_revoking_an_access_token_by_query_revokes_its_grant(h: Harness, s: SignIn) -> None:
    h.add_user(A)
    tokens = s.tokens(login_hint=A)
    other = s.tokens(login_hint=A, prompt="consent")  # a second, independent grant
    resp = requests.post(f"{h.url}/revoke?token={tokens['access_token']}", timeout=5)
    assert resp.status_code == 200
    assert s.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert s.refresh(other["refresh_token"]).status_code == 200
    logged = [r for r in h.requests_log() if r["path"] == "/revoke"]
    assert logged[0]["query"] == {"token": "<redacted>"} and logged[0]["user"] == A
    unknown = requests.post(f"{h.url}/revoke", data={"token": "ya29.nothing"}, timeout=5)
    assert (unknown.status_code, unknown.json()["error"]) == (400, "invalid_token")
    # control-API tokens are revocable too; user-level revoke marks sign-in grants
    control_refresh = h.add_user(A)
    assert requests.post(f"{h.url}/revoke", data={"token": control_refresh}, timeout=5).ok
    h.control("POST", f"/users/{A}/revoke")
    assert all(g["revoked"] for g in _grants(h))
    assert s.refresh(other["refresh_token"]).json()["error"] == "invalid_grant"


def test_control_revokes_one_grant(h: Harness, s: SignIn) -> None:
    h.add_user(A)
    tokens = s.tokens(login_hint=A)
    grant = next(g for g in _grants(h) if g["source"] == "authorization_code")
    view = h.control("POST", f"/oauth/grants/{grant['id']}/revoke")
    assert view["revoked"] is True and view["revoked_by"] == "user revoked"
    assert s.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    control_grant = next(g for g in _grants(h) if g["source"] == "control")
    assert control_grant["revoked"] is False and control_grant["scopes"] is None
