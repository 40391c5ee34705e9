"""The sync service on the in-memory adapters: what a calendar change does to our records,
our outbound events, Meet and the calendar's sync state."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from shared.domain.errors import PublishError
from shared.domain.event import OWNED_PROPERTY, SPACE_PROPERTY, private_property
from shared.domain.models import ChangeSignal, Meeting, MeetingStatus, calendar_key
from shared.services.worker import PoisonMessageError
from tests.unit.support import ALICE, BOB, KEY, DeferredExecutor, System, system

MOVED = {
    "start": {"dateTime": "2026-12-02T10:00:00Z"},
    "end": {"dateTime": "2026-12-02T11:00:00Z"},
}


def baseline(w: System, *keys: str) -> list[Meeting]:
    """Alice's calendar watched and synced once, holding one ready meeting per key."""
    w.watched()
    made = [w.create(key) for key in keys or ("k1",)]
    assert w.sync_now().outcome == "synced"
    return [w.meeting(m.id) for m in made]


def event_of(w: System, meeting: Meeting) -> dict[str, object]:
    return w.calendar.events[KEY][meeting.event_id]


# -- incremental sync ------------------------------------------------------------------------


def test_the_first_sync_stamps_the_space_once_and_saves_a_token() -> None:
    w = system()
    (m,) = baseline(w)
    assert private_property(event_of(w, m), SPACE_PROPERTY) == m.space
    assert m.event_etag == event_of(w, m)["etag"]  # the stamp's own etag is held
    assert w.calendar.calls["events.patch"] == 1
    state = w.state()
    assert state.sync_token and state.token_version == 1
    assert state.lease_owner == "" and state.syncs == 1
    w.calendar.edit(ALICE, "primary", m.event_id, summary="Renamed")
    w.sync_now()
    assert w.calendar.calls["events.patch"] == 1  # stamped already: never again


def test_a_moved_event_reschedules_the_meeting() -> None:
    w = system()
    (m,) = baseline(w)
    w.calendar.edit(ALICE, "primary", m.event_id, **MOVED)
    report = w.sync_now()
    assert report.outcome == "synced" and report.emitted == ["meeting.rescheduled"]
    after = w.meeting(m.id)
    assert (after.start, after.end) == (MOVED["start"], MOVED["end"])
    assert after.event_etag == event_of(w, m)["etag"]
    assert after.version == m.version + 1
    assert w.sink.types(m.id) == ["meeting.ready", "meeting.rescheduled"]
    assert w.sink.events[-1]["data"]["start"] == MOVED["start"]
    assert after.outbox == []


def test_a_renamed_event_updates_the_meeting() -> None:
    w = system()
    (m,) = baseline(w)
    w.calendar.edit(
        ALICE, "primary", m.event_id, summary="Retro", attendees=[{"email": "Bob@Example.com"}]
    )
    report = w.sync_now()
    assert report.emitted == ["meeting.updated"]
    after = w.meeting(m.id)
    assert (after.summary, after.attendees) == ("Retro", ["bob@example.com"])
    assert w.sink.types(m.id)[-1] == "meeting.updated"


def test_a_cancelled_event_cancels_the_meeting_and_ends_its_conference() -> None:
    w = system()
    (m,) = baseline(w)
    w.meet.active.add(m.space)  # someone is in the call
    w.calendar.delete(ALICE, "primary", m.event_id)
    report = w.sync_now()
    assert report.emitted == ["meeting.cancelled"]
    assert w.meeting(m.id).status == MeetingStatus.CANCELLED
    assert w.meet.ended == [m.space] and m.space not in w.meet.active
    assert w.sink.types(m.id)[-1] == "meeting.cancelled"
    # terminal: a later change to the cancelled event is ignored
    w.calendar.edit(ALICE, "primary", m.event_id, summary="Zombie")
    assert w.sync_now().emitted == []


def test_the_echo_of_our_own_write_is_a_noop() -> None:
    w = system()
    (m,) = baseline(w)
    writes = w.store.writes_by_doc[f"meetings/{m.id}"]
    report = w.sync_now()  # lists the stamp we wrote after the first listing
    assert report.events_seen == 1 and report.meetings_changed == 0 and report.emitted == []
    assert w.meeting(m.id) == m
    assert w.store.writes_by_doc[f"meetings/{m.id}"] == writes
    assert w.calendar.calls["events.patch"] == 1


def test_a_412_on_the_stamp_reads_the_event_again_and_decides_again() -> None:
    """The user renames the event between our listing and our stamp: the stamp (If-Match on
    the etag we listed) fails, the fresh event is read and decided again: the rename is
    taken and the stamp is written on top of it."""
    w = system()
    w.watched()
    m = w.create()
    renamed = False

    def user_renames(method: str) -> None:
        nonlocal renamed
        if method == "events.patch" and not renamed:
            renamed = True
            w.calendar.edit(ALICE, "primary", m.event_id, summary="Renamed meanwhile")

    w.calendar.before = user_renames
    report = w.sync_now()
    assert report.emitted == ["meeting.updated"]
    assert w.calendar.calls["events.patch"] == 2 and w.calendar.calls["events.get"] == 1
    after = w.meeting(m.id)
    event = event_of(w, m)
    assert after.summary == event["summary"] == "Renamed meanwhile"
    assert private_property(event, SPACE_PROPERTY) == after.space
    assert after.event_etag == event["etag"]


def test_a_burst_of_changes_across_pages_is_applied_and_the_token_saved_at_the_end() -> None:
    w = system(page_size=1)
    a, b = baseline(w, "a", "b")
    w.calendar.edit(ALICE, "primary", a.event_id, summary="A2")
    w.calendar.edit(ALICE, "primary", b.event_id, **MOVED)
    report = w.sync_now()
    assert report.pages == 2
    assert sorted(report.emitted) == ["meeting.rescheduled", "meeting.updated"]
    assert w.sync_now().events_seen == 0  # the token covers both pages


def test_an_attendee_removing_their_copy_does_not_cancel_the_meeting() -> None:
    """Bob's copy of Alice's event has the same id (our meeting id); Bob deleting it shows
    up as a cancelled event in Bob's calendar, which is not the meeting's calendar."""
    w = system()
    (m,) = baseline(w)
    bob = w.watched(BOB)
    copy = {k: v for k, v in event_of(w, m).items() if k != "extendedProperties"}
    w.calendar.put(BOB, "primary", copy)
    w.sync.sync(bob.key, owner="bob-1")
    w.calendar.delete(BOB, "primary", m.event_id)
    report = w.sync.sync(bob.key, owner="bob-2")
    assert report.outcome == "synced" and report.events_seen == 1 and report.emitted == []
    assert w.meeting(m.id) == m
    assert bob.key == calendar_key(BOB, "primary") != m.calendar_key


def test_moving_one_occurrence_changes_neither_the_series_nor_its_conference() -> None:
    w = system()
    (m,) = baseline(w)
    series = event_of(w, m)
    moved, cancelled = (
        {**series, "id": f"{m.event_id}_{day}", "recurringEventId": m.event_id, **MOVED}
        for day in ("20261208T100000Z", "20261215T100000Z")
    )
    assert private_property(moved, OWNED_PROPERTY) == m.id  # instances carry the marker
    w.calendar.put(ALICE, "primary", moved)
    w.calendar.put(ALICE, "primary", {**cancelled, "status": "cancelled"})
    report = w.sync_now()
    assert report.outcome == "synced" and report.emitted == []
    assert w.meeting(m.id) == m and w.meet.ended == []


# -- 410: full sync and reconciliation --------------------------------------------------------


def test_a_dead_token_runs_a_full_sync_with_a_new_version_and_reconciles() -> None:
    w = system()
    kept, removed, deleted = baseline(w, "kept", "removed", "deleted")
    never = Meeting(
        id="neverseen",
        organizer=ALICE,
        mode="calendar",
        calendar_key=KEY,
        calendar_id="primary",
        event_id="neverseen",
        request_id="neverseen",
    )  # its create request has not inserted the event yet
    w.store.create_meeting(never)
    never = w.meeting("neverseen")
    before = w.state()
    # in the gap: one event removed outright, one cancelled, one renamed; the token dies
    del w.calendar.events[KEY][removed.event_id]
    w.calendar.delete(ALICE, "primary", deleted.event_id)
    w.calendar.edit(ALICE, "primary", kept.event_id, summary="Kept, renamed")
    w.calendar.invalidate_sync_tokens(ALICE, "primary")

    report = w.sync_now()

    assert report.outcome == "synced" and report.full_syncs == 1
    state = w.state()
    assert state.token_version == before.token_version + 1
    assert state.sync_token.startswith("1:") and state.sync_token != before.sync_token
    assert w.meeting(removed.id).status == MeetingStatus.CANCELLED
    assert w.meeting(deleted.id).status == MeetingStatus.CANCELLED
    assert w.meeting(kept.id).summary == "Kept, renamed"
    assert w.meeting("neverseen") == never  # missing is not deleted: left alone
    assert sorted(report.emitted) == ["meeting.cancelled", "meeting.cancelled", "meeting.updated"]
    assert w.sink.types("neverseen") == []
    # and the new token works: nothing more to do
    again = w.sync_now()
    assert again.full_syncs == 0 and again.emitted == []


def test_a_full_sync_of_a_calendar_without_meetings_of_ours() -> None:
    """No event of ours in the window, so no page needs the meeting heads; their read,
    submitted in the background, has not started when the listing ends (a warm instance's
    idle pool: 196 of 200 such syncs failed in a loop with the real thread pool)."""
    w = system()
    w.sync._background = DeferredExecutor()
    w.watched()
    w.calendar.put(ALICE, "primary", {"id": "lunch", "status": "confirmed", "summary": "Lunch"})
    report = w.sync_now()
    assert report.outcome == "synced" and report.full_syncs == 1
    assert w.state().sync_token


# -- the lease --------------------------------------------------------------------------------


def _lease_taken_between_pages(w: System) -> tuple[str, str]:
    """Two changes on two pages; while we list the second, our lease expires and another
    worker takes it. Returns (token before, owner that took the lease)."""
    a, b = baseline(w, "a", "b")
    w.calendar.edit(ALICE, "primary", a.event_id, summary="A2")
    w.calendar.edit(ALICE, "primary", b.event_id, summary="B2")
    token = w.state().sync_token
    pages = 0

    def lease_taken(method: str) -> None:
        nonlocal pages
        pages += method == "events.list"
        if pages == 2:
            expires = w.clock() + dt.timedelta(seconds=100)
            w.store.update_calendar(KEY, {"lease_owner": "other", "lease_expires": expires})

    w.calendar.before = lease_taken
    return token, "other"


def test_a_lease_lost_mid_pass_saves_no_token_and_releases_nothing() -> None:
    w = system(page_size=1)
    token, other = _lease_taken_between_pages(w)
    w.sync_now()
    state = w.state()
    assert state.sync_token == token  # the new holder redoes the listing
    assert state.lease_owner == other  # and keeps its lease
    assert state.syncs == 1  # our pass did not count as a finished sync


def test_a_lease_lost_mid_pass_says_so() -> None:
    w = system(page_size=1)
    _lease_taken_between_pages(w)
    assert w.sync_now().outcome == "lease_lost"


def test_a_signal_during_a_sync_marks_dirty_and_the_holder_syncs_again() -> None:
    """While the holder saves its token, a second signal (the user's next change) arrives:
    it only marks the calendar dirty; the holder then runs a second pass that sees it."""
    w = system()
    (m,) = baseline(w)
    writes, fired = 0, False
    nested = []

    def second_signal(path: str) -> None:
        # the holder's writes: the lease (its first listing may already run), then the
        # token with the release; the signal arrives just before the latter commits
        nonlocal writes, fired
        writes += path == f"calendars/{KEY}"
        if writes == 2 and not fired:
            fired = True
            w.calendar.edit(ALICE, "primary", m.event_id, summary="After the listing")
            nested.append(w.sync.sync(KEY, owner="msg-second"))

    w.store.before_write = second_signal
    syncs = w.state().syncs
    report = w.sync.sync(KEY, owner="msg-first")
    assert [r.outcome for r in nested] == ["marked_dirty"] and nested[0].passes == 0
    assert report.outcome == "synced" and report.passes == 2
    assert report.emitted == ["meeting.updated"]
    assert w.meeting(m.id).summary == "After the listing"
    state = w.state()
    assert state.syncs == syncs + 2 and not state.dirty and state.lease_owner == ""


def test_a_signal_older_than_the_last_sync_start_is_covered() -> None:
    w = system()
    baseline(w)
    started = w.state().last_sync_started
    assert started is not None
    w.clock.advance(10)
    lists = w.calendar.calls["events.list"]
    report = w.sync.sync(KEY, owner="late", signal_time=started - dt.timedelta(seconds=1))
    assert report.outcome == "covered" and report.passes == 0
    assert w.calendar.calls["events.list"] == lists


def test_a_fresh_signal_waits_out_the_settle_time_first() -> None:
    w = system()
    baseline(w)
    w.clock.advance(10)
    signal_time = w.clock()
    report = w.sync.sync(KEY, owner="fresh", signal_time=signal_time)
    assert report.outcome == "synced"
    waited = (w.clock() - signal_time).total_seconds()
    assert waited == pytest.approx(w.settings.sync_settle_seconds)


def test_a_calendar_not_watched_is_not_synced() -> None:
    w = system()
    assert w.sync.sync("nobody@example.com:nobody@example.com", owner="m").outcome == (
        "not_watched"
    )
    baseline(w)
    w.store.update_calendar(KEY, {"status": "stopped"})
    assert w.sync_now().outcome == "not_watched"
    assert w.calendar.calls["events.list"] == 1  # the baseline's only


def test_announcements_left_by_a_failed_publish_are_sent_by_the_next_sync() -> None:
    w = system()
    (m,) = baseline(w)
    w.calendar.edit(ALICE, "primary", m.event_id, **MOVED)
    w.sink.fail_next = 1
    with pytest.raises(PublishError):
        w.sync.sync(KEY, owner="msg-1")
    stored = w.meeting(m.id)
    assert stored.start == MOVED["start"]  # the change is stored ...
    assert [e["type"] for e in stored.outbox] == ["meeting.rescheduled"]  # ... and queued
    pending = stored.outbox[0]
    assert w.sink.types(m.id) == ["meeting.ready"]

    report = w.sync.sync(KEY, owner="msg-1")  # Pub/Sub redelivers the signal

    assert report.outcome == "synced" and report.emitted == []  # nothing decided twice
    assert w.sink.types(m.id) == ["meeting.ready", "meeting.rescheduled"]
    assert w.sink.events[-1] == pending  # the very announcement that was stored
    assert w.meeting(m.id).outbox == []
    assert w.state().lease_owner == ""


# -- the worker in front of it ----------------------------------------------------------------


def push(signal: ChangeSignal) -> dict[str, object]:
    data = base64.b64encode(json.dumps(signal.to_dict()).encode()).decode()
    return {"message": {"data": data, "messageId": "1"}}


def test_the_worker_syncs_the_calendar_of_a_signal() -> None:
    w = system()
    (m,) = baseline(w)
    w.calendar.edit(ALICE, "primary", m.event_id, **MOVED)
    w.clock.advance(5)
    report = w.worker.handle(push(ChangeSignal(KEY, "ch", 7, "exists", w.clock())), "msg-7")
    assert report is not None and report.emitted == ["meeting.rescheduled"]


def test_the_worker_drops_stale_signals_and_refuses_poison() -> None:
    w = system()
    baseline(w)
    lists = w.calendar.calls["events.list"]
    old = w.clock() - dt.timedelta(seconds=w.settings.max_message_age_seconds + 1)
    assert w.worker.handle(push(ChangeSignal(KEY, "ch", 1, "exists", old)), "m") is None
    for bad in ({}, {"message": {"data": "%%%"}}, {"message": {"data": "WzFd"}}):  # [1]
        with pytest.raises(PoisonMessageError):
            w.worker.handle(bad, "m")
    assert w.calendar.calls["events.list"] == lists


def test_the_first_page_is_requested_while_the_lease_write_is_in_flight() -> None:
    """The lease write is conditional: the listing it was decided for starts before it
    commits, and a decision made again on a changed state lists again for that state."""
    w = system()
    (m,) = baseline(w)
    w.calendar.edit(ALICE, "primary", m.event_id, summary="Renamed")
    lists_at_write: list[int] = []
    raced = False

    def lease_write(path: str) -> None:
        nonlocal raced
        if path == f"calendars/{KEY}" and not lists_at_write:
            lists_at_write.append(w.calendar.calls["events.list"])
            if not raced:  # another sync saves a newer token first: decide again
                raced = True
                w.store.update_calendar(KEY, {"token_version": w.state().token_version + 1})

    before = w.calendar.calls["events.list"]
    w.store.before_write = lease_write
    report = w.sync.sync(KEY, owner="msg")
    assert lists_at_write == [before + 1]
    assert report.outcome == "synced" and report.emitted == ["meeting.updated"]
    assert w.calendar.calls["events.list"] == before + 2  # the first read was for a stale state
