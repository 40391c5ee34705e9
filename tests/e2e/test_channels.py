"""watch_calendar and renew_channels: idempotent watching, unwatching, and renewal that marks
gone calendars and revoked users instead of retrying them forever, and reaps orphans."""

from __future__ import annotations

import datetime as dt

from shared.domain.models import CalendarState, Channel, calendar_key
from tests.e2e.support import Env

ALICE, BOB = "alice@example.com", "bob@example.com"


def test_watching_twice_is_idempotent_and_delete_stops_the_channels(env: Env) -> None:
    first = env.call("watch_calendar", "POST", "/calendars", {"user": ALICE})
    assert first.status_code == 201
    again = env.call(
        "watch_calendar", "POST", "/calendars", {"user": ALICE, "calendarId": "primary"}
    )
    assert again.status_code == 200
    assert again.json()["channelId"] == first.json()["channelId"]
    assert [c["id"] for c in env.emu("GET", "channels")] == [first.json()["channelId"]]
    assert env.calendar_state(ALICE).sync_token  # the first full sync stored a token

    stopped = env.call("watch_calendar", "DELETE", "/calendars", {"user": ALICE})
    assert stopped.status_code == 200
    assert stopped.json()["stoppedChannels"] == [first.json()["channelId"]]
    assert all(c["stopped"] for c in env.emu("GET", "channels"))
    assert env.calendar_state(ALICE).status == "stopped"


def test_watch_rejects_bad_input_and_unknown_users(env: Env) -> None:
    cases = [
        ({"user": "mallory@example.com"}, 403, "user"),
        ({"user": "not-an-email"}, 400, "user"),
        ({"user": ALICE, "calendarId": "a/b"}, 400, "calendarId"),
    ]
    for body, status, field in cases:
        response = env.call("watch_calendar", "POST", "/calendars", body)
        assert response.status_code == status, body
        assert response.json()["error"]["field"] == field
    assert env.call("watch_calendar", "GET", "/calendars").status_code == 405
    assert env.calendar_requests() == []


def test_renewal_marks_revoked_users_and_gone_calendars_and_reaps_orphans(env: Env) -> None:
    env.emu("POST", "config", {"channel_max_ttl_seconds": 3600})  # inside the renew window
    env.watch(ALICE)
    env.watch(BOB)
    for who in (ALICE, BOB):  # opened long ago: within the renewal window now
        env.age_channels(calendar_key(who, "primary"))
    # a watched calendar that no longer exists at Google
    gone_key = calendar_key(ALICE, "team@group.calendar.google.com")
    env.store.put_calendar(
        CalendarState(key=gone_key, owner=ALICE, calendar_id="team@group.calendar.google.com")
    )
    expiring = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    env.store.put_channel(
        Channel(
            id="gone-1",
            calendar_key=gone_key,
            resource_id="r",
            token_hash="h",
            expiration=expiring,
            created_at=expiring - dt.timedelta(days=7),
        )
    )
    # a channel whose calendar the product no longer knows
    env.store.put_channel(
        Channel(
            id="orphan-1",
            calendar_key="x:y",
            resource_id="r",
            token_hash="h",
            expiration=expiring,
            created_at=expiring - dt.timedelta(days=7),
        )
    )
    env.emu("POST", f"users/{BOB}/revoke", {})

    report = env.renew()
    assert report["auth_revoked"] == [calendar_key(BOB, "primary")]
    assert report["gone"] == [gone_key]
    assert report["orphans_stopped"] == ["orphan-1"]
    assert len(report["renewed"]) == 1  # alice's channel only
    assert env.calendar_state(BOB).status == "auth_revoked"
    user = env.store.get_user(BOB)
    assert user is not None
    assert user.status == "auth_revoked"
    gone = env.store.get_calendar(gone_key)
    assert gone is not None
    assert gone.status == "gone"

    # not retried forever: the next run leaves them alone
    again = env.renew()
    assert again["auth_revoked"] == [] and again["gone"] == [] and again["orphans_stopped"] == []


def test_renew_rejects_unknown_actions(env: Env) -> None:
    response = env.call("renew_channels", "POST", "/", {"action": "explode"})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "action"
