"""Registering users for delegation, describing and disconnecting them, and the user events
(`shared.services.users`), on the in-memory adapters."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from shared.domain.errors import AuthRevokedError
from shared.domain.models import Meeting, User, calendar_key
from shared.domain.refusals import Kind, Refusal
from shared.services.users import mark_revoked
from tests.unit.onboarding_support import ALICE, BOB, SOURCE, world


def refused(call: Callable[[], object]) -> Refusal:
    with pytest.raises(Refusal) as raised:
        call()
    return raised.value


def test_registering_for_delegation_proves_it_then_stores_and_announces() -> None:
    w = world()
    user, created = w.users.register({"email": "Carol@Example.com", "authMode": "delegation"})
    assert created and w.oauth.calls["delegation"] == 1
    assert (user["email"], user["authMode"], user["status"]) == (
        "carol@example.com",
        "delegation",
        "active",
    )
    assert w.types() == ["user.connected"]
    again, created = w.users.register({"email": "carol@example.com"})  # AUTH_MODE default
    assert not created and again["version"] == user["version"] == 1
    assert w.types() == ["user.connected"]  # idempotent: nothing new to announce


@pytest.mark.parametrize("reason", ["unauthorized_client", "invalid_grant"])
def test_registration_google_refuses_carries_its_reason_and_stores_nothing(reason: str) -> None:
    w = world()
    w.oauth.delegation_refusals[ALICE] = reason
    refusal = refused(lambda: w.users.register({"email": ALICE, "authMode": "delegation"}))
    assert (refusal.kind, refusal.field, refusal.reason) == (Kind.FORBIDDEN, "email", reason)
    assert w.store.get_user(ALICE) is None and w.sink.events == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "nope"}, "email"),
        ({}, "email"),
        ({"email": ALICE, "authMode": "refresh_token"}, "authMode"),
        ({"email": ALICE, "authMode": "magic"}, "authMode"),
    ],
)
def test_registration_refuses_bad_input_before_google(body: dict[str, str], field: str) -> None:
    w = world()
    refusal = refused(lambda: w.users.register(body))
    assert (refusal.kind, refusal.field) == (Kind.INVALID, field)
    assert w.oauth.calls["delegation"] == 0


def test_a_connected_sign_in_user_is_not_silently_switched_to_delegation() -> None:
    w = world()
    w.connect(ALICE)
    refusal = refused(lambda: w.users.register({"email": ALICE}))
    assert refusal.kind is Kind.CONFLICT
    w.users.disconnect(ALICE)
    user, _ = w.users.register({"email": ALICE})
    assert (user["authMode"], user["status"]) == ("delegation", "active")
    assert w.store.users[ALICE].refresh_token_enc == ""


def test_re_registering_a_revoked_delegation_user_resumes_their_calendars() -> None:
    w = world()
    w.users.register({"email": ALICE})
    w.channels.watch(ALICE, "primary")
    mark_revoked(w.store, ALICE, sink=w.sink, source=SOURCE)
    w.synced.clear()
    user, created = w.users.register({"email": ALICE})
    assert not created and user["status"] == "active"
    assert w.synced == [calendar_key(ALICE, "primary")]
    assert w.types() == ["user.connected", "user.auth_revoked", "user.connected"]


def test_describe_shows_mode_status_and_calendar_health_but_never_a_token() -> None:
    w = world()
    w.connect(ALICE)
    shown = w.users.describe(ALICE.upper())
    assert (shown["authMode"], shown["status"]) == ("refresh_token", "active")
    [calendar] = shown["calendars"]
    assert calendar["calendarId"] == ALICE and calendar["status"] == "watching"
    assert calendar["channelExpiration"] is not None
    text = json.dumps(shown)
    assert "token" not in text.lower().replace("refresh_token", "")  # the mode name only
    assert w.store.users[ALICE].refresh_token_enc not in text
    assert refused(lambda: w.users.describe(BOB)).kind is Kind.NOT_FOUND
    assert refused(lambda: w.users.describe("bad")).kind is Kind.INVALID


def test_disconnect_stops_channels_revokes_and_forgets_the_token_keeps_meetings() -> None:
    w = world()
    w.connect(ALICE)
    w.channels.watch(ALICE, "team@group.calendar.google.com")
    w.store.put_meeting(Meeting(id="m1", organizer=ALICE, mode="calendar"))
    refresh = next(iter(w.oauth.live))

    done = w.users.disconnect(ALICE)
    assert done["changed"] and done["tokenRevoked"] and len(done["stoppedChannels"]) == 2
    assert all(c["stopped"] for c in w.calendar.channels.values())
    assert w.oauth.revoked == [refresh]
    user = w.store.get_user(ALICE)
    assert user is not None and (user.status, user.refresh_token_enc) == ("disconnected", "")
    assert {c.status for c in w.store.calendars_of(ALICE)} == {"stopped"}
    assert w.store.get_meeting("m1") is not None
    assert w.types() == ["user.connected", "user.disconnected"]

    again = w.users.disconnect(ALICE)
    assert not again["changed"] and again["stoppedChannels"] == [] and not again["tokenRevoked"]
    assert w.types() == ["user.connected", "user.disconnected"]
    assert refused(lambda: w.users.disconnect(BOB)).kind is Kind.NOT_FOUND


def test_disconnecting_a_revoked_user_records_the_channels_stopped_anyway() -> None:
    w = world()
    w.connect(ALICE)
    w.oauth.live.clear()  # the user revoked the app at Google
    w.calendar.fail["channels.stop"] = AuthRevokedError("gone", status=400, reason="invalid_grant")
    done = w.users.disconnect(ALICE)
    assert len(done["stoppedChannels"]) == 1 and not done["tokenRevoked"]
    assert {c.state for c in w.store.channels.values()} == {"stopped"}
    assert w.store.users[ALICE].status == "disconnected"


def test_a_revocation_is_announced_once_and_a_failed_publish_is_sent_later() -> None:
    w = world()
    w.users.register({"email": ALICE})
    w.sink.fail_next = 1
    mark_revoked(w.store, ALICE, sink=w.sink, source=SOURCE)  # best effort: no raise
    stored = w.store.users[ALICE]
    assert stored.status == "auth_revoked" and [e["type"] for e in stored.outbox] == [
        "user.auth_revoked"
    ]
    mark_revoked(w.store, ALICE, sink=w.sink, source=SOURCE)  # already revoked: no news
    assert len(w.store.users[ALICE].outbox) == 1
    w.users.register({"email": ALICE})  # the next change sends what was left, in order
    assert w.types() == ["user.connected", "user.auth_revoked", "user.connected"]
    assert w.store.users[ALICE].outbox == []


def test_user_event_ids_are_stable_per_change() -> None:
    w = world()
    w.users.register({"email": ALICE})
    first = w.sink.events[0]
    user = w.store.users[ALICE]
    w.sink.events.clear()
    user.outbox = [first]  # a re-delivery of the same stored change
    w.store.users[ALICE] = User.from_dict(user.to_dict())
    w.users.disconnect(ALICE)
    assert w.sink.events[0]["id"] == first["id"]
    assert w.sink.events[1]["id"] != first["id"]
