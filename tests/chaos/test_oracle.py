"""The fault suite's judge can fail: a consistent world passes, and each kind of
corruption of it is named."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from shared.domain.models import Meeting
from tests.chaos.oracle import World, judge

MID = "m0000001"
SPACE = "spaces/abc"
CODE = "aaa-bbbb-ccc"
START = {"dateTime": "2026-12-01T10:00:00Z"}
END = {"dateTime": "2026-12-01T11:00:00Z"}


def _event(**over: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": MID,
        "status": "confirmed",
        "etag": '"2"',
        "summary": "Planning v2",
        "start": START,
        "end": END,
        "attendees": [{"email": "Carol@example.com"}],
        "extendedProperties": {"private": {"meetsyncMeeting": MID, "meetsyncSpace": SPACE}},
        "conferenceData": {
            "conferenceId": CODE,
            "createRequest": {"requestId": MID, "status": {"statusCode": "success"}},
        },
    }
    event.update(over)
    return event


def _meeting(**over: Any) -> Meeting:
    meeting = Meeting(
        id=MID,
        organizer="alice@example.com",
        mode="calendar",
        status="ready",
        event_id=MID,
        request_id=MID,
        space=SPACE,
        meeting_code=CODE,
        meeting_uri=f"https://meet.google.com/{CODE}",
        summary="Planning v2",
        start=START,
        end=END,
        attendees=["carol@example.com"],
        event_etag='"2"',
        version=3,
    )
    return dataclasses.replace(meeting, **over)


def _announce(meeting: Meeting, kind: str, **data: Any) -> dict[str, Any]:
    return {
        "id": f"{kind}-{meeting.version}",
        "type": kind,
        "subject": f"meetings/{meeting.id}",
        "data": {**meeting.public(), **data},
    }


def _world() -> World:
    meeting = _meeting()
    ready = dataclasses.replace(meeting, version=2, summary="Planning")
    return World(
        events={MID: _event()},
        spaces=[{"name": SPACE, "meetingCode": CODE, "conferences": []}],
        meetings=[meeting],
        stream=[
            _announce(ready, "meeting.ready"),
            _announce(meeting, "meeting.updated"),
            _announce(meeting, "meeting.updated"),  # a redelivery: same id, same content
        ],
    )


def test_a_consistent_world_has_no_discrepancy() -> None:
    assert judge(_world()) == []


def _stale_summary(w: World) -> None:
    w.meetings[0] = dataclasses.replace(w.meetings[0], summary="Planning")


def _lost_cancellation(w: World) -> None:
    w.events[MID]["status"] = "cancelled"


def _missing_record(w: World) -> None:
    w.events["other"] = _event(id="other", extendedProperties={"private": {"meetsyncMeeting": "x"}})


def _lost_announcement(w: World) -> None:
    w.stream = w.stream[:1]


def _double_ready(w: World) -> None:
    w.stream.append({**w.stream[0], "id": "another-ready"})


def _two_contents(w: World) -> None:
    w.stream[2] = copy.deepcopy(w.stream[2])
    w.stream[2]["data"]["summary"] = "something else"


def _conference_left_running(w: World) -> None:
    w.events[MID]["status"] = "cancelled"
    w.meetings[0] = dataclasses.replace(w.meetings[0], status="cancelled", version=4)
    w.stream.append(_announce(w.meetings[0], "meeting.cancelled"))
    w.spaces[0]["conferences"] = [{"ended": False}]


def _unstamped(w: World) -> None:
    w.events[MID]["extendedProperties"]["private"].pop("meetsyncSpace")


def _fought_the_user(w: World) -> None:
    w.events[MID].pop("conferenceData")
    w.meetings[0] = dataclasses.replace(w.meetings[0], status="detached", version=4)
    w.stream.append(_announce(w.meetings[0], "meeting.detached"))
    w.spaces[0]["conferences"] = [{"ended": True, "ended_by": "endActiveConference"}]


def _detach_missed(w: World) -> None:
    w.events[MID].pop("conferenceData")


def _never_converged(w: World) -> None:
    w.events[MID]["conferenceData"]["createRequest"]["status"]["statusCode"] = "pending"
    w.meetings[0] = dataclasses.replace(w.meetings[0], status="pending")


def _gave_up(w: World) -> None:
    """The create gave up: the record failed, its announcement out, nothing behind."""
    del w.events[MID]
    w.meetings[0] = dataclasses.replace(
        w.meetings[0], status="failed", failure_reason="timeout", version=4
    )
    w.stream.append(_announce(w.meetings[0], "meeting.failed"))


def _gave_up_leaving_its_event(w: World) -> None:
    _gave_up(w)
    w.events[MID] = _event()


def _gave_up_leaving_a_conference(w: World) -> None:
    _gave_up(w)
    w.spaces[0]["conferences"] = [{"ended": False}]


def _orphaned_space(w: World) -> None:
    w.spaces.append({"name": "spaces/lost", "meetingCode": "lll", "created_by_app": True})


def test_a_create_that_gave_up_and_left_nothing_behind_has_converged() -> None:
    world = _world()
    _gave_up(world)
    assert judge(world) == []


@pytest.mark.parametrize(
    ("corrupt", "named"),
    [
        (_never_converged, "still pending: it never converged"),
        (_gave_up_leaving_its_event, "yet its event is still live"),
        (_gave_up_leaving_a_conference, "still runs"),
        (_orphaned_space, "belongs to no meeting"),
        (_stale_summary, "summary is 'Planning'"),
        (_lost_cancellation, "the calendar says cancelled"),
        (_missing_record, "which has no record"),
        (_lost_announcement, "the last announcement disagrees"),
        (_double_ready, "2 different meeting.ready"),
        (_two_contents, "sent with two contents"),
        (_conference_left_running, "still runs"),
        (_unstamped, "the event is stamped None"),
        (_fought_the_user, "ended by us"),
        (_detach_missed, "the calendar says detached"),
    ],
)
def test_each_corruption_is_named(corrupt: Callable[[World], None], named: str) -> None:
    world = _world()
    corrupt(world)
    problems = judge(world)
    assert any(named in p for p in problems), problems
