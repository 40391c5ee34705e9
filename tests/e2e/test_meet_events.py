"""Meetings as they happen, through the real path: the workspace emulator's Meet activity →
Workspace Events published to the Pub/Sub emulator → push subscription → `meet_events`
over HTTP → the meeting record and `meeting-events`."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from devstack.browser import Browser
from tests.e2e import contract
from tests.e2e.support import Env, types_for, wait_for

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
STARTED, ENDED = "meeting.started", "meeting.ended"
RECORDING, TRANSCRIPT = "meeting.recording_ready", "meeting.transcript_ready"


def _times(from_now_hours: float) -> dict[str, str]:
    """A one-hour meeting starting this long from now: meetings are followed (subscribed)
    until two days after their end, whatever day the tests run."""
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=from_now_hours)
    return {"start": start.isoformat(), "end": (start + dt.timedelta(hours=1)).isoformat()}


SOON = _times(1)


def _sid(space: str) -> str:
    return space.split("/", 1)[1]


def _subscribed(env: Env, mid: str) -> Any:
    return env.wait_meeting(
        mid, lambda m: bool(m.subscription) and m.subscription_state == "active", "subscribed"
    )


def _emu_subscriptions(env: Env) -> list[dict[str, Any]]:
    return [s for s in env.emu("GET", "subscriptions") if not s.get("expired")]


def test_a_full_meeting_attendance_and_artifacts(env: Env) -> None:
    events = env.subscribe()
    created = env.create_meeting(ALICE, attendees=[{"email": BOB}, {"email": CAROL}], **SOON)
    mid = created["id"]
    meeting = _subscribed(env, mid)
    subs = _emu_subscriptions(env)
    assert [s["targetResource"] for s in subs] == [f"//meet.googleapis.com/{meeting.space}"]
    assert subs[0]["name"] == meeting.subscription
    assert subs[0]["notificationEndpoint"]["pubsubTopic"].endswith("/topics/workspace-events")

    sid = _sid(meeting.space)
    env.emu("POST", f"spaces/{sid}/join", {"email": ALICE})
    env.emu("POST", f"spaces/{sid}/join", {"email": BOB})
    env.emu("POST", f"spaces/{sid}/join", {"anonymous": "Visitor"})
    env.emu("POST", f"spaces/{sid}/leave", {"email": BOB})
    env.emu("POST", f"spaces/{sid}/end", {})
    env.emu("POST", f"spaces/{sid}/artifacts", {"kind": "recording"})
    env.emu("POST", f"spaces/{sid}/artifacts", {"kind": "transcript"})

    done = env.wait_meeting(
        mid,
        lambda m: (
            bool(m.conferences)
            and m.conferences[-1]["state"] == "ended"
            and all(a.get("fileId") for a in m.conferences[-1]["recordings"])
            and len(m.conferences[-1]["recordings"]) == 1
            and len(m.conferences[-1]["transcripts"]) == 1
            and all(a.get("fileId") for a in m.conferences[-1]["transcripts"])
        ),
        "conference ended with its artifacts",
    )
    view = done.public()
    assert view["conference"]["participants"] == {"signedIn": 2, "guests": 1, "phone": 0}
    joined = {a["email"]: a["joined"] for a in view["attendance"]["attendees"]}
    assert joined == {ALICE: True, BOB: True, CAROL: False}
    assert [u["displayName"] for u in view["attendance"]["unmatched"]] == ["Visitor"]

    seen = env.events_until(
        events, lambda e: {STARTED, ENDED, RECORDING, TRANSCRIPT} <= set(types_for(e, mid))
    )
    types = types_for(seen, mid)
    assert types.count(STARTED) == types.count(ENDED) == 1
    assert types.index(STARTED) < types.index(ENDED)

    response = env.call("create_meeting", "GET", f"/meetings/{mid}")
    assert response.status_code == 200
    contract.check("/meetings/{id}", "GET", 200, response.json())
    assert response.json()["artifacts"]["recordings"][0]["fileId"]


def test_duplicated_reordered_and_dropped_events_converge(env: Env) -> None:
    events = env.subscribe()
    mid = env.create_meeting(ALICE, attendees=[{"email": BOB}], **SOON)["id"]
    sid = _sid(_subscribed(env, mid).space)
    # the first two events (started, Alice joined) are lost; the rest come twice, shuffled
    env.emu("POST", "events_delivery", {"drop_next": 2, "duplicate": True, "reorder": True,
                                        "seed": 7})  # fmt: skip
    env.emu("POST", f"spaces/{sid}/join", {"email": ALICE})
    env.emu("POST", f"spaces/{sid}/join", {"email": BOB})
    env.emu("POST", f"spaces/{sid}/end", {})
    done = env.wait_meeting(
        mid,
        lambda m: bool(m.conferences) and m.conferences[-1]["state"] == "ended",
        "conference ended",
    )
    attendance = {a["email"]: a["joined"] for a in done.public()["attendance"]["attendees"]}
    assert attendance == {ALICE: True, BOB: True}
    seen = env.events_until(events, lambda e: ENDED in types_for(e, mid))
    drain_until = time.monotonic() + 1.5  # duplicates would come right after
    while time.monotonic() < drain_until:
        seen += env.pull(events)
        time.sleep(0.1)
    types = types_for(seen, mid)
    assert types.count(STARTED) == 1 and types.count(ENDED) == 1
    deliveries = env.emu("GET", "event_deliveries")
    assert any(d["status"] == "dropped" for d in deliveries)


def test_a_cancelled_meetings_subscription_is_deleted(env: Env) -> None:
    env.watch(ALICE)
    mid = env.create_meeting(ALICE, **SOON)["id"]
    meeting = _subscribed(env, mid)
    assert len(_emu_subscriptions(env)) == 1
    env.calendar_as(ALICE).events().delete(calendarId="primary", eventId=mid).execute()
    env.wait_meeting(
        mid,
        lambda m: m.status == "cancelled" and m.subscription_state == "deleted",
        "cancelled and unsubscribed",
    )
    assert _emu_subscriptions(env) == []
    assert meeting.subscription


def test_the_subscription_is_renewed_across_its_expiry(env: Env) -> None:
    # a user who connected with Google sign-in: the emulator judges a delegation JWT by its
    # own clock, which this test moves days ahead of ours
    dana = "dana@example.com"
    env.emu("POST", "users", {"email": dana})
    assert Browser(env.stack).connect(dana)["status"] == "active"
    mid = env.create_meeting(dana, **_times(24 * 30))["id"]
    meeting = _subscribed(env, mid)
    first = env.emu("GET", f"subscriptions/{_sid(meeting.subscription)}")
    # to just past the 12 h reminder: meet_events renews the subscription to 7 days again
    env.emu("POST", "clock", {"advance_seconds": 6 * 86400 + 13 * 3600})
    renewed = wait_for(
        lambda: (
            s
            if (s := env.emu("GET", f"subscriptions/{_sid(meeting.subscription)}"))["expireTime"]
            > first["expireTime"]
            else None
        ),
        what="subscription renewed",
    )
    # past the first expiry: still there, still delivering
    env.emu("POST", "clock", {"advance_seconds": 86400})
    again = env.emu("GET", f"subscriptions/{_sid(meeting.subscription)}")
    assert not again["expired"] and again["state"] == "ACTIVE"
    assert renewed["name"] == meeting.subscription
    sid = _sid(meeting.space)
    env.emu("POST", f"spaces/{sid}/join", {"email": dana})
    env.wait_meeting(
        mid, lambda m: bool(m.conferences) and m.conferences[-1]["state"] == "live", "live"
    )


def test_an_expired_subscription_is_recreated_while_the_meeting_needs_it(env: Env) -> None:
    """The expiration reminder is lost, so nothing renews it: at expiry Google sends
    `expired`, and meet_events makes a new subscription for the still-followed meeting;
    only that one is live, and it delivers."""
    dana = "dana@example.com"  # Google sign-in: the emulator clock moves days ahead
    env.emu("POST", "users", {"email": dana})
    assert Browser(env.stack).connect(dana)["status"] == "active"
    mid = env.create_meeting(dana, **_times(24 * 30))["id"]
    first = _subscribed(env, mid).subscription
    env.emu("POST", "events_delivery", {"drop_next": 1})  # the reminder never arrives
    env.emu("POST", "clock", {"advance_seconds": 7 * 86400 + 3600})  # past the expiry
    recreated = env.wait_meeting(
        mid,
        lambda m: m.subscription != first and m.subscription_state == "active",
        "a new subscription after the expiry",
    )
    live = [s for s in _emu_subscriptions(env) if s["targetResource"].endswith(recreated.space)]
    assert [s["name"] for s in live] == [recreated.subscription]  # the expired one is gone
    env.emu("POST", f"spaces/{_sid(recreated.space)}/join", {"email": dana})
    env.wait_meeting(
        mid, lambda m: bool(m.conferences) and m.conferences[-1]["state"] == "live", "live"
    )


def test_patch_turns_recording_on_before_the_meeting(env: Env) -> None:
    events = env.subscribe()
    mid = env.create_meeting(ALICE, **SOON)["id"]  # calendar mode: Calendar made the space
    meeting = _subscribed(env, mid)
    body = {"conference": {"autoRecording": "ON", "accessType": "RESTRICTED"}}
    response = env.call("create_meeting", "PATCH", f"/meetings/{mid}", body)
    assert response.status_code == 200, response.text
    contract.check("/meetings/{id}", "PATCH", 200, response.json())
    assert response.json()["conferenceSettings"]["autoRecording"] == "ON"
    space = env.emu("GET", f"spaces/{_sid(meeting.space)}")
    assert space["config"]["accessType"] == "RESTRICTED"
    assert space["config"]["artifactConfig"]["recordingConfig"]["autoRecordingGeneration"] == "ON"
    patches = [
        r for r in env.emu("GET", "requests") if r["method"] == "PATCH" and r["api"] == "meet"
    ]
    assert len(patches) == 1
    mask = patches[0]["query"].get("updateMask")
    mask = mask[0] if isinstance(mask, list) else mask
    assert set(mask.split(",")) == {
        "config.accessType",
        "config.artifactConfig.recordingConfig.autoRecordingGeneration",
    }
    bad = env.call("create_meeting", "PATCH", f"/meetings/{mid}", {"conference": {"moderation": 1}})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "conference.moderation"
    env.events_until(events, lambda e: "meeting.updated" in types_for(e, mid))


def test_a_revoked_then_reauthorised_users_subscription_is_reactivated(env: Env) -> None:
    mid = env.create_meeting(ALICE, **SOON)["id"]
    meeting = _subscribed(env, mid)
    sub_id = _sid(meeting.subscription)
    env.emu("POST", f"users/{ALICE}/revoke", {})  # Google suspends the subscription
    env.wait_meeting(mid, lambda m: m.subscription_state == "suspended", "suspended")
    wait_for(
        lambda: (u := env.store.get_user(ALICE)) is not None and u.status == "auth_revoked",
        what="alice marked auth_revoked",
    )
    assert env.emu("GET", f"subscriptions/{sub_id}")["state"] == "SUSPENDED"
    env.emu("POST", "users", {"email": ALICE})  # the admin authorises the client again
    response = env.call("users", "POST", "/users", {"email": ALICE, "authMode": "delegation"})
    assert response.status_code == 200, response.text
    assert env.emu("GET", f"subscriptions/{sub_id}")["state"] == "ACTIVE"
    assert env.meeting(mid).subscription_state == "active"
    sid = _sid(meeting.space)
    env.emu("POST", f"spaces/{sid}/join", {"email": ALICE})
    env.wait_meeting(
        mid, lambda m: bool(m.conferences) and m.conferences[-1]["state"] == "live", "live"
    )


def test_disconnecting_a_user_deletes_their_subscriptions(env: Env) -> None:
    mid = env.create_meeting(BOB, **SOON)["id"]
    _subscribed(env, mid)
    assert len(_emu_subscriptions(env)) == 1
    response = env.call("users", "DELETE", f"/users/{BOB}")
    assert response.status_code == 200, response.text
    assert _emu_subscriptions(env) == []
    assert env.meeting(mid).subscription_state == "deleted"


def test_the_sweep_learns_an_outcome_whose_events_were_all_lost(env: Env) -> None:
    mid = env.create_meeting(ALICE, **_times(-2))["id"]  # over an hour ago: due for a check
    sid = _sid(_subscribed(env, mid).space)
    env.emu("POST", "events_delivery", {"drop_rate": 1.0})
    env.emu("POST", f"spaces/{sid}/join", {"email": ALICE})
    env.emu("POST", f"spaces/{sid}/end", {})
    assert env.meeting(mid).conferences == []
    answer = env.sweep()  # its shard's sweep job reads the conference records
    assert mid in answer["updated"], answer
    after = env.meeting(mid)
    assert after.conferences[-1]["state"] == "ended" and after.outcome_check_at is None


def test_what_happened_before_the_space_was_subscribed_is_read_by_the_next_sweep(
    env: Env,
) -> None:
    # Workspace Events refuses the subscription (past the client's retries)
    env.emu("POST", "faults", {"status": 503, "api": "events", "count": 20})
    mid = env.create_meeting(ALICE, attendees=[{"email": BOB}], **SOON)["id"]
    made = env.wait_meeting(mid, lambda m: m.status == "ready", "ready")
    assert not made.subscription and _emu_subscriptions(env) == []
    env.emu("DELETE", "faults")
    sid = _sid(made.space)
    env.emu("POST", f"spaces/{sid}/join", {"email": BOB})  # Google sends nobody an event
    answer = env.sweep()
    assert mid in answer["updated"], answer
    after = env.meeting(mid)
    assert after.subscription_state == "active" and len(_emu_subscriptions(env)) == 1
    attendance = {a["email"]: a["joined"] for a in after.public()["attendance"]["attendees"]}
    assert attendance == {ALICE: False, BOB: True}
    # subscribed now: the rest comes as events
    env.emu("POST", f"spaces/{sid}/end", {})
    env.wait_meeting(mid, lambda m: m.conferences[-1]["state"] == "ended", "ended by its event")
