"""The `users` function on the local stack: operators register Workspace users for
delegation (proven against Google first), see their status, and disconnect them: channels
stopped and the refresh token revoked, as the workspace emulator shows."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.browser import Browser
from tests.e2e.support import Env

ALICE, CAROL = "alice@example.com", "carol@example.com"


@pytest.fixture
def carol(env: Env) -> str:
    """A Workspace user (in the emulator) the product does not know yet."""
    env.emu("POST", "users", {"email": CAROL})
    return CAROL


def register(env: Env, email: str) -> Any:
    return env.call("users", "POST", "/users", {"email": email, "authMode": "delegation"})


def test_registering_a_delegation_user_proves_it_and_is_idempotent(env: Env, carol: str) -> None:
    subscription = env.subscribe()
    env.emu("DELETE", "requests")
    first = register(env, carol)
    assert first.status_code == 201, first.text
    assert (first.json()["authMode"], first.json()["status"]) == ("delegation", "active")
    assert [r["api"] for r in env.emu("GET", "requests")] == ["iam", "oauth"]  # token minted
    again = register(env, carol)
    assert again.status_code == 200 and again.json()["version"] == first.json()["version"]
    events = env.events_until(subscription, lambda seen: bool(seen))
    assert [e["type"] for e in events] == ["user.connected"]
    assert env.watch(carol)["created"]  # a registered user can be watched at once


@pytest.mark.parametrize(
    ("setup", "reason"),
    [("no such user at Google", "invalid_grant"), ("delegation withdrawn", "unauthorized_client")],
)
def test_registration_google_refuses_is_a_4xx_with_its_reason_and_stores_nothing(
    env: Env, carol: str, setup: str, reason: str
) -> None:
    email = "nobody@example.com" if reason == "invalid_grant" else carol
    if reason == "unauthorized_client":
        env.emu("POST", f"users/{carol}/revoke", {})
    refused = register(env, email)
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert (error["reason"], error["field"]) == (reason, "email")
    assert env.store.get_user(email) is None
    assert env.call("users", "GET", f"/users/{email}").status_code == 404


def test_disconnect_stops_channels_revokes_the_token_keeps_meetings(env: Env, carol: str) -> None:
    Browser(env.stack).connect(carol)
    meeting = env.create_meeting(carol, "Kept")
    [channel] = [c for c in env.emu("GET", "channels") if c["user"] == carol]
    subscription = env.subscribe()

    done = env.call("users", "DELETE", f"/users/{carol}")
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "disconnected" and body["stoppedChannels"] == [channel["id"]]
    assert body["tokenRevoked"] is True
    assert [c["stopped"] for c in env.emu("GET", "channels") if c["user"] == carol] == [True]
    [grant] = [
        g
        for g in env.emu("GET", f"oauth/grants?email={carol}")
        if g["source"] == "authorization_code"
    ]
    assert grant["revoked"] and grant["revoked_by"] == "revoke endpoint"
    user = env.store.get_user(carol)
    assert user is not None and user.refresh_token_enc == ""
    assert env.meeting(meeting["id"]).id == meeting["id"]  # meeting records stay
    shown = env.call("users", "GET", f"/users/{carol}").json()
    assert shown["status"] == "disconnected"
    assert [c["status"] for c in shown["calendars"]] == ["stopped"]
    # the meeting's own announcements (its conference becoming ready) may still arrive
    events = env.events_until(
        subscription, lambda seen: any(e["type"].startswith("user.") for e in seen)
    )
    assert [e["type"] for e in events if e["type"].startswith("user.")] == ["user.disconnected"]

    second = env.call("users", "DELETE", f"/users/{carol}")
    assert second.status_code == 200
    assert second.json()["changed"] is False and second.json()["stoppedChannels"] == []
    refused = env.call(
        "create_meeting", "POST", "/meetings",
        {"organizer": carol, "summary": "x", "start": "2026-12-01T10:00:00Z",
         "end": "2026-12-01T11:00:00Z"},
    )  # fmt: skip
    assert refused.status_code == 403


def test_disconnecting_a_delegation_user_stops_their_channels(env: Env) -> None:
    channel = env.watch(ALICE)["channelId"]
    done = env.call("users", "DELETE", f"/users/{ALICE}")
    assert done.status_code == 200 and done.json()["stoppedChannels"] == [channel]
    assert done.json()["tokenRevoked"] is False
    assert all(c["stopped"] for c in env.emu("GET", "channels"))


def test_users_answers_json_errors_for_bad_requests(env: Env) -> None:
    assert env.call("users", "GET", "/users/nobody@example.com").status_code == 404
    bad = env.call("users", "POST", "/users", {"email": "not-an-email"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "email"
    shown = env.call("users", "GET", f"/users/{ALICE}").json()
    assert "refresh_token_enc" not in shown and shown["authMode"] == "delegation"
