"""The meetings' transactional outbox: a change and its announcements are one write, and
only what was stored is announced (`ConferenceActions.transition`, `Announcer.flush`)."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from shared.domain import conference
from shared.domain.errors import PublishError
from shared.domain.models import Meeting
from shared.memory import MemoryCalendar, MemoryMeet, MemorySink, MemoryStore
from shared.services.decisions import ConferenceActions
from shared.services.outbox import Announcer, queued
from tests.unit.support import ALICE, KEY, T0, Clock

MOVED = {"start": {"dateTime": "2026-12-02T10:00:00Z"}, "end": {"dateTime": "2026-12-02T11:00:00Z"}}


@dataclasses.dataclass
class Parts:
    store: MemoryStore
    sink: MemorySink
    actions: ConferenceActions
    meeting: Meeting


def parts() -> Parts:
    store, sink, clock = MemoryStore(), MemorySink(), Clock()
    meeting = Meeting(
        id="m1",
        organizer=ALICE,
        mode="calendar",
        status="ready",
        calendar_key=KEY,
        calendar_id="primary",
        event_id="m1",
        summary="Plan",
        start={"dateTime": "2026-12-01T10:00:00Z"},
        end={"dateTime": "2026-12-01T11:00:00Z"},
        version=1,
        created_at=T0,
        updated_at=T0,
    )
    store.put_meeting(meeting)
    actions = ConferenceActions(
        calendar=MemoryCalendar(),
        meet=MemoryMeet(),
        store=store,
        sink=sink,
        source="//t",
        now=clock,
    )
    return Parts(store, sink, actions, meeting)


def stored(p: Parts) -> Meeting:
    meeting = p.store.get_meeting("m1")
    assert meeting is not None
    return meeting


def test_a_change_and_its_announcement_are_stored_then_sent() -> None:
    p = parts()
    saved = p.actions.transition(p.meeting, dict(MOVED), [conference.RESCHEDULED])
    assert saved is not None and saved.version == 2 and saved.outbox == []
    assert p.sink.types() == ["meeting.rescheduled"]
    event = p.sink.events[0]
    assert event["data"]["version"] == 2 and event["data"]["start"] == MOVED["start"]
    assert stored(p) == saved


def test_a_failed_publish_loses_nothing_and_the_retry_sends_the_same_event() -> None:
    p = parts()
    p.sink.fail_next = 1
    with pytest.raises(PublishError):
        p.actions.transition(p.meeting, dict(MOVED), [conference.RESCHEDULED])
    record = stored(p)
    assert record.start == MOVED["start"] and record.version == 2  # the change is stored
    assert [e["type"] for e in record.outbox] == ["meeting.rescheduled"]
    assert record.to_dict()["announce_pending"] is True
    waiting = copy.deepcopy(record.outbox)
    assert p.sink.events == []

    after = Announcer(store=p.store, sink=p.sink).flush(record)  # the next visit

    assert p.sink.events == waiting  # same id, same content
    assert after.outbox == [] and stored(p).outbox == []
    assert stored(p).to_dict()["announce_pending"] is False
    assert Announcer(store=p.store, sink=p.sink).flush(stored(p)) == stored(p)
    assert len(p.sink.events) == 1  # nothing left to send


def test_a_change_that_loses_its_race_is_never_announced() -> None:
    p = parts()
    other = dataclasses.replace(p.meeting, status="detached", version=2, updated_at=T0)
    raced = False

    def another_writer_wins(path: str) -> None:
        nonlocal raced
        if not raced:
            raced = True
            p.store.put_meeting(other)

    p.store.before_write = another_writer_wins
    assert p.actions.transition(p.meeting, dict(MOVED), [conference.RESCHEDULED]) is None
    assert p.sink.events == []
    assert stored(p) == other  # theirs stands, with nothing of ours queued


def test_a_change_decided_again_after_a_lost_race_announces_only_the_winner() -> None:
    """`carry_out`: our write loses to a racer that already applied the same move; decided
    again on the fresh record, the move is nothing new, and it is announced once."""
    p = parts()
    event = {
        "id": "m1",
        "etag": '"7"',
        "status": "confirmed",
        "summary": "Plan",
        **MOVED,
        "conferenceData": None,
    }
    racer = ConferenceActions(
        calendar=MemoryCalendar(),
        meet=MemoryMeet(),
        store=p.store,
        sink=p.sink,
        source="//t",
        now=Clock(),
    )
    raced = False

    def racer_first(path: str) -> None:
        nonlocal raced
        if not raced:
            raced = True
            racer.carry_out(p.meeting, event)

    p.store.before_write = racer_first
    outcome = p.actions.carry_out(p.meeting, event)
    assert not outcome.emitted
    assert sorted(p.sink.types()) == ["meeting.detached", "meeting.rescheduled"]
    assert stored(p).version == 2 and stored(p).outbox == []


def test_flush_drops_only_what_it_sent() -> None:
    p = parts()
    first = conference.cloud_event(p.meeting, conference.UPDATED, T0, "//t")
    later = conference.cloud_event(
        dataclasses.replace(p.meeting, version=2), conference.RESCHEDULED, T0, "//t"
    )
    p.store.put_meeting(dataclasses.replace(p.meeting, outbox=[first]))
    queued_meanwhile = False

    def another_change_queues(path: str) -> None:
        nonlocal queued_meanwhile
        if not queued_meanwhile:  # between our publish and our drop
            queued_meanwhile = True
            current = stored(p)
            p.store.put_meeting(queued(dataclasses.replace(current, version=2), current, [later]))

    p.store.before_write = another_change_queues
    Announcer(store=p.store, sink=p.sink).flush(stored(p))
    assert p.sink.events == [first]
    assert stored(p).outbox == [later]  # not sent by us: kept for its own writer
    assert stored(p).to_dict()["announce_pending"] is True


def test_queued_keeps_what_the_stored_record_holds() -> None:
    p = parts()
    a = conference.cloud_event(p.meeting, conference.UPDATED, T0, "//t")
    b = conference.cloud_event(p.meeting, conference.RESCHEDULED, T0, "//t")
    current = dataclasses.replace(p.meeting, outbox=[a])
    stale = dataclasses.replace(p.meeting, summary="New")  # read before `a` was queued
    assert queued(stale, current, [b]).outbox == [a, b]
    assert queued(stale, current, [b]).summary == "New"
