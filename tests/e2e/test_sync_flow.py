"""Meetings that follow the calendar, through the real path:
emulator push → webhook over HTTP → Pub/Sub emulator → push subscription → worker over HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.e2e.support import Env, types_for, wait_for

ALICE = "alice@example.com"
LIVE = {"meeting.started", "meeting.ended", "meeting.recording_ready", "meeting.transcript_ready"}


def calendar_types(stream: list[dict[str, object]], mid: str) -> list[str]:
    """The meeting's announcements about its calendar event (the joins these tests make in
    its space are announced too: `meeting.started`, `meeting.ended`)."""
    return [t for t in types_for(stream, mid) if t not in LIVE]


def _space_id(space: str) -> str:
    return space.split("/", 1)[1]


def test_every_row_of_the_conference_table(env: Env) -> None:
    env.watch(ALICE)
    events = env.subscribe()
    env.emu("POST", "config", {"conference_delay_ms": 3000})
    created = env.create_meeting(ALICE, "Planning")
    assert created["status"] == "pending"
    mid = created["id"]

    # pending -> success, seen by the worker: ready, with the space resolved through Meet
    ready = env.wait_meeting(mid, lambda m: m.status == "ready", "meeting ready")
    assert ready.space.startswith("spaces/")
    assert ready.meeting_uri.startswith("https://meet.google.com/")
    cal = env.calendar_as(ALICE)
    stamped = wait_for(
        lambda: (
            e
            if (e := cal.events().get(calendarId="primary", eventId=mid).execute())
            .get("extendedProperties", {})
            .get("private", {})
            .get("meetsyncSpace")
            else None
        ),
        what="space stamped on the event",
    )
    assert stamped["extendedProperties"]["private"]["meetsyncSpace"] == ready.space
    env.emu("POST", f"spaces/{_space_id(ready.space)}/join", {})

    # the user moves it
    cal.events().patch(
        calendarId="primary",
        eventId=mid,
        body={
            "start": {"dateTime": "2026-12-02T15:00:00+00:00"},
            "end": {"dateTime": "2026-12-02T16:00:00+00:00"},
        },
    ).execute()
    moved = env.wait_meeting(
        mid, lambda m: m.start.get("dateTime", "").startswith("2026-12-02T15"), "moved"
    )
    assert moved.status == "ready"

    # the user renames it and adds an attendee
    cal.events().patch(
        calendarId="primary",
        eventId=mid,
        body={"summary": "Planning v2", "attendees": [{"email": "bob@example.com"}]},
    ).execute()
    renamed = env.wait_meeting(mid, lambda m: m.summary == "Planning v2", "renamed")
    assert renamed.attendees == ["bob@example.com"]

    # the user cancels it: the running conference is ended
    cal.events().delete(calendarId="primary", eventId=mid).execute()
    env.wait_meeting(mid, lambda m: m.status == "cancelled", "cancelled")
    space = env.emu("GET", f"spaces/{_space_id(ready.space)}")
    assert space["conferences"], space
    assert all(c["ended"] for c in space["conferences"]), space

    # the cancellation ended the conference we joined: Meet's `ended` event is announced
    # too, after the cancellation or racing it
    stream = env.events_until(
        events, lambda seen: {"meeting.cancelled", "meeting.ended"} <= set(types_for(seen, mid))
    )
    stream += env.pull(events)  # anything late would be a duplicate
    # announced at least once, always with the same content per id (two senders may race
    # to flush one outbox entry: Meet's `started` and the next sync's leftovers)
    by_id: dict[str, dict[str, Any]] = {}
    for announced in stream:
        assert by_id.setdefault(announced["id"], announced) == announced
    stream = list(by_id.values())
    assert calendar_types(stream, mid) == [
        "meeting.ready",
        "meeting.rescheduled",
        "meeting.updated",
        "meeting.cancelled",
    ]
    changes = [(e["type"], e["data"]["version"]) for e in stream]
    assert len(set(changes)) == len(changes)  # one id per change
    final = env.meeting(mid)
    last = max(stream, key=lambda e: e["data"]["version"])
    assert last["data"]["status"] == "cancelled"
    assert last["data"]["version"] == final.version


def test_conference_failure_marks_the_meeting_failed(env: Env) -> None:
    env.watch(ALICE)
    events = env.subscribe()
    env.emu("POST", "config", {"conference_delay_ms": 2500, "conference_outcome": "failure"})
    mid = env.create_meeting(ALICE, "Doomed")["id"]
    env.wait_meeting(mid, lambda m: m.status == "failed", "failed")
    stream = env.events_until(events, lambda seen: "meeting.failed" in types_for(seen, mid))
    assert calendar_types(stream, mid) == ["meeting.failed"]


def test_removed_conference_detaches_and_is_never_fought(env: Env) -> None:
    env.watch(ALICE)
    events = env.subscribe()
    env.emu("POST", "config", {"conference_delay_ms": 0})
    created = env.create_meeting(ALICE, "Mine")
    mid = created["id"]
    env.wait_meeting(mid, lambda m: m.status == "ready", "ready")
    cal = env.calendar_as(ALICE)
    cal.events().patch(
        calendarId="primary", eventId=mid, body={"conferenceData": None}, conferenceDataVersion=1
    ).execute()
    env.wait_meeting(mid, lambda m: m.status == "detached", "detached")
    after = cal.events().get(calendarId="primary", eventId=mid).execute()
    assert "conferenceData" not in after  # we did not put it back
    env.emu("DELETE", "requests")
    cal.events().delete(calendarId="primary", eventId=mid).execute()
    env.wait_meeting(mid, lambda m: m.status == "cancelled", "cancelled")
    meet_calls = [r for r in env.emu("GET", "requests") if r["api"] == "meet"]
    assert meet_calls == []  # a detached meeting's conference is not ours to end
    stream = env.events_until(events, lambda seen: "meeting.cancelled" in types_for(seen, mid))
    assert types_for(stream, mid)[-2:] == ["meeting.detached", "meeting.cancelled"]


def test_exceptions_of_a_recurring_meeting_leave_the_series_alone(env: Env) -> None:
    """Moving or cancelling one occurrence changes that occurrence, not the meeting: the
    record follows the series' own event, and the shared conference keeps running."""
    env.watch(ALICE)
    env.emu("POST", "config", {"conference_delay_ms": 0})
    mid = env.create_meeting(
        ALICE, "Weekly", recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"], timeZone="UTC"
    )["id"]
    ready = env.wait_meeting(mid, lambda m: m.status == "ready", "ready")
    env.emu("POST", f"spaces/{_space_id(ready.space)}/join", {})
    events = env.subscribe()
    cal = env.calendar_as(ALICE)
    instances = cal.events().instances(calendarId="primary", eventId=mid).execute()["items"]
    assert len(instances) == 4
    moved, cancelled = instances[1]["id"], instances[2]["id"]
    cal.events().patch(
        calendarId="primary",
        eventId=moved,
        body={
            "summary": "Weekly (moved once)",
            "start": {"dateTime": "2026-12-08T15:00:00+00:00"},
            "end": {"dateTime": "2026-12-08T16:00:00+00:00"},
        },
    ).execute()
    cal.events().delete(calendarId="primary", eventId=cancelled).execute()
    edited = dt.datetime.now(dt.UTC)

    def synced_since_edits() -> bool:
        state = env.calendar_state(ALICE)
        started = state.last_sync_started
        return bool(started and started > edited and not state.lease_owner and not state.dirty)

    wait_for(synced_since_edits, what="a finished sync that saw both exceptions")
    held = env.meeting(mid)
    assert (held.status, held.start, held.summary) == ("ready", ready.start, "Weekly")
    # a change to the series itself afterwards is followed as usual
    cal.events().patch(calendarId="primary", eventId=mid, body={"summary": "Weekly v2"}).execute()
    after = env.wait_meeting(mid, lambda m: m.summary == "Weekly v2", "series renamed")
    assert after.status == "ready"
    assert after.start == ready.start
    assert after.end == ready.end
    space = env.emu("GET", f"spaces/{_space_id(ready.space)}")
    assert not any(c["ended"] for c in space["conferences"]), space
    stream = env.events_until(events, lambda seen: "meeting.updated" in types_for(seen, mid))
    stream += env.pull(events)
    assert calendar_types(stream, mid) == ["meeting.updated"]
