"""The fault suite's judge can fail: a consistent world passes, and each kind of
corruption of it is named."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
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
NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)


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
        now=NOW,
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
    w.spaces[0]["conferences"] = [{"name": "conferenceRecords/r", "ended": False}]


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


# -- what happened in Meet ----------------------------------------------------------------------

RECORD = "conferenceRecords/c1"
RECORDING = f"{RECORD}/recordings/r1"


def _truth() -> dict[str, Any]:
    """The emulator's view of one ended conference: Carol for 30 min, one recording."""
    return {
        "name": RECORD,
        "start_time": dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC).timestamp(),
        "end_time": dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC).timestamp(),
        "ended": True,
        "participants": [
            {
                "name": f"{RECORD}/participants/p1",
                "signedinUser": {"user": "users/1", "displayName": "Carol"},
                "email": "carol@example.com",
                "in_call": False,
                "sessions": [
                    {"startTime": "2026-12-01T10:00:00Z", "endTime": "2026-12-01T10:30:00.000Z"}
                ],
            },
            {
                "name": f"{RECORD}/participants/p2",
                "phoneUser": {"displayName": "+1 555 0100"},
                "email": None,
                "in_call": False,
                "sessions": [
                    {"startTime": "2026-12-01T10:10:00Z", "endTime": "2026-12-01T10:20:00Z"}
                ],
            },
        ],
        "artifacts": [{"name": RECORDING, "kind": "recording", "driveDestination": {"file": "f1"}}],
    }


def _held() -> dict[str, Any]:
    """The same conference as the record keeps it."""
    return {
        "name": RECORD,
        "state": "ended",
        "startedAt": "2026-12-01T10:00:00Z",
        "endedAt": "2026-12-01T10:30:00Z",
        "durationSeconds": 1800,
        "participants": {"signedIn": 1, "guests": 0, "phone": 1},
        "people": [
            {
                "kind": "phone",
                "displayName": "+1 555 0100",
                "email": None,
                "totalSeconds": 600,
                "sessions": 1,
                "inCall": False,
            },
            {
                "kind": "signedIn",
                "displayName": "Carol",
                "email": "carol@example.com",
                "totalSeconds": 1800,
                "sessions": 1,
                "inCall": False,
                "user": "users/1",
            },
        ],
        "recordings": [{"name": RECORDING, "state": "FILE_GENERATED", "fileId": "f1"}],
        "transcripts": [],
    }


def _met_world() -> World:
    world = _world()
    world.spaces[0]["conferences"] = [_truth()]
    met = dataclasses.replace(world.meetings[0], conferences=[_held()], version=6)
    world.meetings[0] = met
    artifact = {"artifact": {"name": RECORDING, "fileId": "f1", "conference": RECORD}}
    world.stream += [
        _announce(dataclasses.replace(met, version=4), "meeting.started"),
        _announce(dataclasses.replace(met, version=5), "meeting.ended"),
        _announce(met, "meeting.recording_ready", **artifact),
    ]
    return world


def test_a_meeting_that_took_place_as_meet_says_has_no_discrepancy() -> None:
    assert judge(_met_world()) == []


def _conference_unrecorded(w: World) -> None:
    w.meetings[0] = dataclasses.replace(w.meetings[0], conferences=[])


def _still_live(w: World) -> None:
    held = {**_held(), "state": "live", "endedAt": None, "durationSeconds": None}
    w.meetings[0] = dataclasses.replace(w.meetings[0], conferences=[held])


def _ended_too_soon(w: World) -> None:
    w.spaces[0]["conferences"][0].update(end_time=None, ended=False)


def _time_miscounted(w: World) -> None:
    held = _held()
    held["people"][1]["totalSeconds"] = 1799
    w.meetings[0] = dataclasses.replace(w.meetings[0], conferences=[held])


def _invented_conference(w: World) -> None:
    other = {**_held(), "name": "conferenceRecords/never"}
    w.meetings[0] = dataclasses.replace(w.meetings[0], conferences=[_held(), other])


def _recording_missed(w: World) -> None:
    w.meetings[0] = dataclasses.replace(w.meetings[0], conferences=[{**_held(), "recordings": []}])


def _recording_announced_twice(w: World) -> None:
    w.stream.append({**w.stream[-1], "id": "another"})


def _end_unannounced(w: World) -> None:
    w.stream = [m for m in w.stream if m["type"] != "meeting.ended"]


def _attendance_wrong(w: World) -> None:
    w.spaces[0]["conferences"][0]["participants"][0]["email"] = "dave@example.com"


@pytest.mark.parametrize(
    ("corrupt", "named"),
    [
        (_conference_unrecorded, "was never recorded"),
        (_still_live, "is held live"),
        (_ended_too_soon, "it still runs"),
        (_time_miscounted, "people"),
        (_invented_conference, "which Meet never had"),
        (_recording_missed, "recordings []"),
        (_recording_announced_twice, "meeting.recording_ready announced"),
        (_end_unannounced, "0 meeting.ended announcements"),
        (_attendance_wrong, "people"),
    ],
)
def test_each_meet_corruption_is_named(corrupt: Callable[[World], None], named: str) -> None:
    world = _met_world()
    corrupt(world)
    problems = judge(world)
    assert any(named in p for p in problems), problems


def test_lost_meet_events_excuse_an_incomplete_record_but_not_a_wrong_one() -> None:
    world = _met_world()
    world.lossy = {SPACE}
    _conference_unrecorded(world)
    world.stream = world.stream[:3]  # no Meet announcement for what was never recorded
    assert judge(world) == []
    world = _met_world()
    world.deliveries = [
        {
            "ce_id": "e1",
            "status": "dropped",
            "attributes": {"ce-source": f"//meet.googleapis.com/{SPACE}"},
        }
    ]
    _still_live(world)
    world.stream = [m for m in world.stream if m["type"] != "meeting.ended"]
    assert judge(world) == []  # the end's event was dropped: live is a true, older view
    _invented_conference(world)
    assert any("which Meet never had" in p for p in judge(world))


def test_a_meeting_heard_of_only_through_meet_so_far_is_judged_not_crashed_on() -> None:
    world = _met_world()
    world.stream = [m for m in world.stream if m["type"].startswith("meeting.") and m["type"] in {
        "meeting.started", "meeting.ended", "meeting.recording_ready"}]  # fmt: skip
    problems = judge(world)
    assert any("was never announced (meeting.ready)" in p for p in problems), problems
