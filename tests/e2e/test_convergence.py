"""Every meeting converges (issue 14, part B), end to end: reconciliation of a meeting whose
create is still in flight, the cancelled recurring series of fault-suite seed 6022, and
the audit that corrects a record no sync or sweep will ever correct."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from shared.domain.models import Meeting
from shared.store.firestore import MEETINGS
from tests.e2e.support import Env, types_for, wait_for

pytestmark = pytest.mark.e2e

ALICE = "alice@example.com"
ALICE_CAL = "alice%40example.com"
BODY = {
    "organizer": ALICE,
    "summary": "Converges",
    "start": "2026-12-03T10:00:00Z",
    "end": "2026-12-03T11:00:00Z",
}


def _post(env: Env, body: dict[str, Any], key: str) -> requests.Response:
    return env.call("create_meeting", "POST", "/meetings", body, headers={"Idempotency-Key": key})


def _idle(env: Env) -> bool:
    state = env.calendar_state(ALICE)
    return not state.lease_owner and not state.dirty


def _event(env: Env, event_id: str) -> dict[str, Any] | None:
    events: list[dict[str, Any]] = env.emu("GET", f"calendars/{ALICE}/events")
    return next((e for e in events if e["id"] == event_id), None)


@contextlib.contextmanager
def _frozen(env: Env, function: str) -> Iterator[None]:
    """SIGSTOP one function's processes (a request in it stops where it is), then thaw."""
    popen = env.stack.procs[function].popen
    assert popen is not None
    os.killpg(popen.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(popen.pid, signal.SIGCONT)


def _in_step(env: Env, meeting_id: str) -> bool:
    """The record holds the event's latest version, and the event carries its space."""
    meeting, event = env.meeting(meeting_id), _event(env, meeting_id) or {}
    private = (event.get("extendedProperties") or {}).get("private") or {}
    return meeting.event_etag == event.get("etag") and private.get("meetsyncSpace") == (
        meeting.space or None
    )


def _reads(env: Env, event_id: str) -> list[Any]:
    """The event's successful events.get calls (a 401 retried after a token refresh is not
    a second read)."""
    gets = env.calendar_requests(method="GET", contains=f"/events/{event_id}")
    return [r for r in gets if r["status"] == 200]


def _listings(env: Env) -> list[Any]:
    """The full syncs' answered listings (a window, `timeMin`; logged once answered)."""
    return [
        r
        for r in env.calendar_requests(method="GET", contains="/events")
        if "timeMin" in r["query"]
    ]


def _overwrite(env: Env, meeting: Meeting) -> None:
    """Write a record as some faulty writer would (the product's state, not the truth)."""
    env.store.client.collection(MEETINGS).document(meeting.id).set(meeting.to_dict())


def test_an_event_deleted_while_its_create_polls_is_cancelled_after_a_410(env: Env) -> None:
    """The user deletes the event while create_meeting still polls its conference (frozen
    there: the record holds no etag yet), every notification is lost, the sync token dies,
    and Calendar answers the deleted event's get with 410 deleted. The full sync's
    reconciliation cancels the meeting: a 410 says the event was inserted."""
    env.watch(ALICE)
    wait_for(lambda: _idle(env), what="initial sync done")
    env.emu("POST", "config", {"conference_delay_ms": 60_000})  # the create keeps polling
    answer: dict[str, requests.Response] = {}
    create = threading.Thread(target=lambda: answer.update(r=_post(env, BODY, "poll-del-1")))
    env.emu("POST", "push", {"drop_rate": 1.0})  # Google loses every notification
    create.start()
    try:
        mid = str(
            wait_for(
                lambda: next((e["id"] for e in env.emu("GET", f"calendars/{ALICE}/events")), None),
                what="the create's event",
                timeout=10,
            )
        )
        with _frozen(env, "create_meeting"):
            assert env.meeting(mid).event_etag == ""  # mid-poll: nothing seen on the record
            env.calendar_as(ALICE).events().delete(calendarId="primary", eventId=mid).execute()
            env.emu("POST", f"calendars/{ALICE_CAL}/invalidate_sync_tokens", {})
            gone = {"status": 410, "api": "calendar", "method": "GET", "path": f"/events/{mid}$"}
            env.emu("POST", "faults", gone)
            try:
                env.emu("POST", "push", {"drop_rate": 0.0})
                env.emu("POST", f"calendars/{ALICE_CAL}/notify", {})
                env.wait_meeting(mid, lambda m: m.status == "cancelled", "deletion reconciled")
            finally:
                env.emu("DELETE", "faults")
    finally:
        create.join(timeout=60)
    assert answer["r"].status_code in (201, 202), answer["r"].text
    wait_for(lambda: _idle(env), what="worker idle")
    assert env.meeting(mid).status == "cancelled"


def test_a_cancelled_series_with_a_moved_occurrence_is_seen_after_a_410(env: Env) -> None:
    """Seed 6022's story: a recurring meeting moved, one occurrence moved, the series
    renamed while notifications are dropped, the token invalidated and the series
    cancelled. The record follows: cancelled, announced once."""
    env.emu("POST", "config", {"conference_delay_ms": 0})
    env.watch(ALICE)
    body = {**BODY, "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"], "timeZone": "UTC"}
    mid = str(_post(env, body, "series-1").json()["id"])
    env.wait_meeting(mid, lambda m: m.status == "ready", "ready")
    events = env.subscribe()
    user = env.calendar_as(ALICE).events()
    moved = {
        "start": {"dateTime": "2026-12-10T12:00:00Z", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-10T13:00:00Z", "timeZone": "UTC"},
    }
    user.patch(calendarId="primary", eventId=mid, body=moved).execute()
    env.wait_meeting(mid, lambda m: m.start == moved["start"], "series moved")
    instances = user.instances(calendarId="primary", eventId=mid).execute()["items"]
    one_off = {
        "summary": "one-off",
        "start": {"dateTime": "2026-12-18T09:00:00Z", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-18T10:00:00Z", "timeZone": "UTC"},
    }
    user.patch(calendarId="primary", eventId=instances[1]["id"], body=one_off).execute()
    env.emu("POST", "push", {"drop_rate": 1.0})
    user.patch(calendarId="primary", eventId=mid, body={"summary": "renamed"}).execute()
    env.emu("POST", f"calendars/{ALICE_CAL}/invalidate_sync_tokens", {})
    env.emu("POST", "push", {"drop_rate": 0.0})
    user.delete(calendarId="primary", eventId=mid).execute()

    env.wait_meeting(mid, lambda m: m.status == "cancelled", "the series cancelled")
    stream = env.events_until(events, lambda s: "meeting.cancelled" in types_for(s, mid))
    assert types_for(stream, mid).count("meeting.cancelled") == 1


def test_the_audit_corrects_a_record_no_sync_or_sweep_will_correct(env: Env) -> None:
    """The end state of seed 6022 as filed: the series cancelled in Calendar, the record
    still `ready` (the cancellation missed for good: the sync token is past it). Sweeps do
    not help; the audit reads the event, cancels the record, ends its conference and
    announces it, and leaves the meeting out of later audits."""
    env.emu("POST", "config", {"conference_delay_ms": 0})
    env.watch(ALICE)
    body = {**BODY, "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"], "timeZone": "UTC"}
    mid = str(_post(env, body, "series-2").json()["id"])
    env.wait_meeting(mid, lambda m: m.status == "ready" and bool(m.space), "ready")
    wait_for(lambda: _idle(env), what="worker idle")
    ready = env.meeting(mid)
    env.calendar_as(ALICE).events().delete(calendarId="primary", eventId=mid).execute()
    env.wait_meeting(mid, lambda m: m.status == "cancelled", "cancelled by the sync")
    wait_for(lambda: _idle(env), what="worker idle")
    env.emu("POST", f"spaces/{ready.meeting_code}/join", {})  # a conference runs in the space
    _overwrite(env, ready)  # the record as 6022 left it: ready, every sync past the cancel
    events = env.subscribe()
    env.sweep()
    wait_for(lambda: _idle(env), what="worker idle after the sweep")
    assert env.meeting(mid).status == "ready"  # the sweep cannot see it

    report = env.audit(every=True)

    assert mid in report.get("corrected", []), report
    after = env.meeting(mid)
    assert after.status == "cancelled" and after.next_audit_at is None
    space = env.emu("GET", f"spaces/{ready.space.removeprefix('spaces/')}")
    assert all(c.get("ended") for c in space.get("conferences", [])), space
    stream = env.events_until(events, lambda s: "meeting.cancelled" in types_for(s, mid))
    assert types_for(stream, mid).count("meeting.cancelled") == 1
    again = env.audit(every=True)
    assert mid not in [i for ids in again.values() if isinstance(ids, list) for i in ids]


def test_a_meeting_in_step_is_audited_once_and_left_as_it_is(env: Env) -> None:
    env.emu("POST", "config", {"conference_delay_ms": 0})
    env.watch(ALICE)
    mid = str(_post(env, BODY, "steady-1").json()["id"])
    env.wait_meeting(mid, lambda m: m.status == "ready", "ready")
    wait_for(lambda: _in_step(env, mid), what="the sync's stamp")
    wait_for(lambda: _idle(env), what="worker idle")
    before = env.meeting(mid)
    assert before.next_audit_at is not None  # followed: its first audit is scheduled
    gets = len(_reads(env, mid))

    first = env.audit(every=True)
    assert first.get("in_step") == [mid], {k: v for k, v in first.items() if k != "due"}
    after = env.meeting(mid)
    assert (after.version, after.updated_at) == (before.version, before.updated_at)
    assert after.next_audit_at is not None and after.next_audit_at > before.updated_at
    assert len(_reads(env, mid)) == gets + 1  # one events.get
    second = env.audit()  # due ones only: it is not due again for a period
    assert mid not in second.get("in_step", []), second


def test_a_create_turning_ready_during_a_full_sync_is_stamped_by_that_sync(env: Env) -> None:
    """The stamp race: a full sync reads the meeting heads (the record still pending), then
    lists the calendar slowly; meanwhile the conference completes and the client's GET
    turns the record ready (create_meeting leaves the stamp to the sync). Every later
    notification is lost, so only that sync can stamp the event, and it does."""
    env.watch(ALICE)
    wait_for(lambda: _idle(env), what="initial sync done")
    env.emu("POST", "config", {"conference_delay_ms": 60_000})  # ready when the clock moves
    created = _post(env, BODY, "stamp-race-1")
    assert created.status_code == 202, created.text
    mid = str(created.json()["id"])
    wait_for(lambda: _idle(env), what="the insert's sync done")
    env.emu("POST", f"calendars/{ALICE_CAL}/invalidate_sync_tokens", {})
    slow = {"status": 0, "delay_ms": 4000, "api": "calendar", "method": "GET", "query": "timeMin"}
    env.emu("POST", "faults", slow)  # the full sync's listing answers 4 s late
    listed = len(_listings(env))
    try:
        env.emu("POST", f"calendars/{ALICE_CAL}/notify", {})
        wait_for(lambda: env.calendar_state(ALICE).lease_owner, what="the full sync under way")
        env.emu("POST", "push", {"drop_rate": 1.0})  # nothing but that sync sees what follows
        assert env.meeting(mid).status == "pending"  # as the sync's heads read it
        env.emu("POST", "clock", {"advance_seconds": 61})  # the conference completes
        ready = wait_for(
            lambda: (
                (m := env.call("create_meeting", "GET", f"/meetings/{mid}").json())["status"]
                == "ready"
                and m
            ),
            what="the client's GET turning the record ready",
        )
        assert len(_listings(env)) == listed  # the full sync's listing still unanswered
        wait_for(lambda: _in_step(env, mid), what="the full sync's stamp")
    finally:
        env.emu("DELETE", "faults")
    assert ready["space"] == env.meeting(mid).space
    wait_for(lambda: _idle(env), what="worker idle")
    assert _in_step(env, mid)
