"""Issue 14, part A: once a create has stored its record, the server finishes it.

On the in-memory ports: a request that cannot finish queues a completion job on the
maintenance topic before it answers (202); the job, delivered as Pub/Sub would (a raise
is a nack, redelivered), resumes the create under the same idempotency until the meeting
is ready, or fails it (with its reason) past the bound, leaving nothing behind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from shared.domain import conference
from shared.domain import meeting_request as mr
from shared.domain.errors import (
    AuthRevokedError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    TransientError,
)
from shared.domain.models import Meeting
from shared.domain.refusals import Kind, Refusal
from shared.memory import MemoryMeet, ready_conference
from shared.services import maintenance as mnt
from shared.services import meetings as svc
from tests.unit.support import ALICE, System, system

Json = dict[str, Any]
BODY: Json = {
    "organizer": ALICE,
    "summary": "Planning",
    "start": "2026-12-01T10:00:00Z",
    "end": "2026-12-01T11:00:00Z",
    "attendees": ["bob@example.com"],
    "sendUpdates": "all",
}
SPACE = {"conference": {"mode": "space"}}


class DownMeet(MemoryMeet):
    """`down` maps a method to the error every call raises until it is removed."""

    def __init__(self) -> None:
        super().__init__()
        self.down: dict[str, Exception] = {}

    def create_space(self, user: str, config: Json) -> Json:
        if "spaces.create" in self.down:
            self.calls["spaces.create"] += 1
            raise self.down["spaces.create"]
        return super().create_space(user, config)


@dataclasses.dataclass
class World:
    w: System
    meet: DownMeet
    service: svc.MeetingService
    maintenance: mnt.MaintenanceService
    down: dict[str, Exception]
    """Calendar methods (`events.insert`, ...) that fail on every call until removed."""
    nacks: int = 0

    @property
    def jobs(self) -> list[tuple[Json, str, dict[str, str]]]:
        return self.w.publisher.messages.setdefault(self.w.settings.maintenance_topic, [])

    def create(self, key: str = "k1", /, **changes: Any) -> Meeting:
        return self.service.submit({**BODY, **changes}, key, max_attendees=10)

    def deliver(self, *, rounds: int = 20, backoff: float = 10.0) -> None:
        """Deliver the queued jobs as Pub/Sub does: a job that raises is redelivered after
        `backoff` (doubling), until none is left or `rounds` have passed."""
        for _ in range(rounds):
            queue, self.jobs[:] = list(self.jobs), []
            if not queue:
                return
            for data, key, attributes in queue:
                try:
                    self.maintenance.handle(data)
                except Exception:
                    self.nacks += 1
                    self.jobs.append((data, key, attributes))
            self.w.clock.advance(backoff)
            backoff = min(backoff * 2, 600)

    def meeting(self, mid: str) -> Meeting:
        return self.w.meeting(mid)


def world(*, wait: float = 1.0, jobs: bool = True, **kw: Any) -> World:
    w = system()
    meet = DownMeet()
    down: dict[str, Exception] = {}

    def before(method: str) -> None:
        if method in down:
            raise down[method]

    w.calendar.before = before
    service = svc.MeetingService(
        calendar=w.calendar,
        meet=meet,
        store=w.store,
        events=w.sink,
        source="//test",
        wait_seconds=wait,
        clock=w.clock,
        monotonic=w.clock.monotonic,
        sleep=w.clock.sleep,
        jobs=w.publisher if jobs else None,
        jobs_topic=w.settings.maintenance_topic,
        **kw,
    )
    maintenance = mnt.MaintenanceService(
        publisher=w.publisher,
        topic=w.settings.maintenance_topic,
        channels=w.channels,
        sweeper=w.sweeper,
        runs=w.store,
        sweep_age_seconds=w.settings.sweep_age_seconds,
        now=w.clock,
        monotonic=w.clock.monotonic,
        completer=service,
    )
    return World(w, meet, service, maintenance, down)


def live_events(x: World) -> list[Json]:
    cal = x.w.calendar.events.get(x.w.calendar.key(ALICE, "primary"), {})
    return [e for e in cal.values() if e.get("status") != "cancelled"]


# -- the promise: 202 means a job was queued, and the job finishes it ---------------------------


def test_space_create_meeting_meet_and_calendar_faults_is_finished_by_the_job() -> None:
    """Seed 5013's shape: Meet 503s, then Calendar 429s; the client stops after the 202."""
    x = world()
    x.meet.down["spaces.create"] = TransientError("Meet unavailable", status=503)
    first = x.create(**SPACE)
    assert first.status == "pending" and not first.space
    assert [d for d, _, _ in x.jobs] == [{"kind": "complete", "meeting": first.id}]
    assert x.meeting(first.id).claim_until is None  # the job may act at once

    del x.meet.down["spaces.create"]
    x.down["events.insert"] = RateLimitedError("slow down", status=429)
    x.deliver(rounds=1)  # the job makes the space, then the insert fails: nack
    assert x.nacks == 1 and x.meeting(first.id).pending and x.meeting(first.id).space
    del x.down["events.insert"]
    x.deliver()

    meeting = x.meeting(first.id)
    assert meeting.status == "ready" and meeting.meeting_uri
    assert list(x.meet.spaces) == [meeting.space]  # one space, made once
    assert [e["id"] for e in live_events(x)] == [first.id]
    assert x.w.sink.types(first.id) == ["meeting.ready"]
    assert x.jobs == []
    # the client's retry with its key: the same meeting, no Google call
    calls = sum(x.w.calendar.calls.values())
    again = x.create(**SPACE)
    assert again.id == first.id and again.status == "ready"
    assert sum(x.w.calendar.calls.values()) == calls


def test_a_pending_conference_is_finished_by_the_job() -> None:
    x = world()
    x.w.calendar.conference_ready = False
    first = x.create()
    assert first.pending and len(x.jobs) == 1
    x.deliver(rounds=2)
    assert x.meeting(first.id).pending  # Calendar still working on it: nacked
    event = x.w.calendar.get_event(ALICE, "primary", first.id)
    ready_conference(event)  # Calendar made the conference (a new version of the event)
    x.w.calendar.edit(ALICE, "primary", first.id, conferenceData=event["conferenceData"])
    x.deliver()
    assert x.meeting(first.id).status == "ready"
    assert x.w.sink.types(first.id) == ["meeting.ready"]


def test_a_client_retry_during_the_job_still_makes_one_meeting() -> None:
    x = world()
    x.meet.down["spaces.create"] = TransientError("Meet unavailable", status=503)
    first = x.create(**SPACE)
    del x.meet.down["spaces.create"]
    retried = x.create(**SPACE)  # the client did not stop: it resumes the same meeting
    assert retried.id == first.id and retried.status == "ready"
    x.deliver()  # the job finds it settled and acknowledges
    assert x.nacks == 0
    assert len(x.meet.spaces) == 1 and len(live_events(x)) == 1
    assert x.w.sink.types(first.id) == ["meeting.ready"]


def test_a_job_waits_while_a_request_holds_the_claim() -> None:
    x = world()
    x.meet.down["spaces.create"] = TransientError("Meet unavailable", status=503)
    first = x.create(**SPACE)
    held = dataclasses.replace(
        x.meeting(first.id), claim_until=x.w.clock() + dt.timedelta(seconds=30)
    )
    x.w.store.put_meeting(held)
    with pytest.raises(svc.Unfinished):
        x.service.complete(first.id)
    assert x.meeting(first.id).completion_attempts == 0  # not a try


def test_without_a_queued_job_the_answer_is_5xx_and_the_retry_resumes() -> None:
    x = world()
    x.meet.down["spaces.create"] = TransientError("Meet unavailable", status=503)
    x.w.publisher.fail_next = 1  # Pub/Sub refuses the completion job
    with pytest.raises(Refusal) as info:
        x.create(**SPACE)
    assert info.value.kind is Kind.UNAVAILABLE
    assert x.jobs == []
    del x.meet.down["spaces.create"]
    assert x.create(**SPACE).status == "ready"


def test_a_failed_announcement_is_sent_by_the_job() -> None:
    x = world()
    x.w.sink.fail_next = 1
    meeting = x.create()
    assert meeting.status == "ready" and len(x.jobs) == 1  # ready, announcement owed
    x.deliver()
    assert x.w.sink.types(meeting.id) == ["meeting.ready"]
    assert x.meeting(meeting.id).outbox == []


def test_a_job_leaves_fresh_announcements_to_their_writer() -> None:
    """The sync stored `ready` with its announcement and is sending it: a job that reads
    the record now must not send it a second time; it comes back, and sends only what a
    failed publish left behind."""
    x = world()
    x.w.sink.fail_next = 1
    meeting = x.create()
    with pytest.raises(svc.Unfinished):
        x.service.complete(meeting.id)
    assert x.w.sink.events == []
    x.w.clock.advance(svc.OUTBOX_SETTLE.total_seconds())
    assert x.service.complete(meeting.id) is not None
    assert x.w.sink.types(meeting.id) == ["meeting.ready"]


# -- the bound: failed, with why, nothing left behind ----------------------------------------


def test_google_failing_past_the_bound_fails_the_meeting_and_removes_what_it_made() -> None:
    x = world()
    x.down["events.insert"] = TransientError("backend error", status=503)
    first = x.create(**SPACE)
    space = x.meeting(first.id).space
    assert first.pending and space
    x.meet.start(space)  # someone joined the space meanwhile
    x.deliver(rounds=30)

    meeting = x.meeting(first.id)
    assert (meeting.status, meeting.failure_reason) == ("failed", "timeout")
    assert meeting.space == space  # Meet cannot delete a space: it is named on the record
    assert space in x.meet.ended and space not in x.meet.active
    assert live_events(x) == [] and x.jobs == []
    assert meeting.completion_attempts == svc.COMPLETION_TRIES + 1
    assert x.nacks == svc.COMPLETION_TRIES  # each try before the bound was retried
    assert x.w.sink.types(first.id) == ["meeting.failed"]
    assert meeting.public()["failureReason"] == "timeout"
    # a retry with its key answers the failed record, never a new meeting, no Google call
    del x.down["events.insert"]
    calls = sum(x.w.calendar.calls.values()), sum(x.meet.calls.values())
    again = x.create(**SPACE)
    assert (again.id, again.status) == (first.id, "failed")
    assert (sum(x.w.calendar.calls.values()), sum(x.meet.calls.values())) == calls


def test_an_event_left_pending_past_the_bound_is_deleted_with_the_creates_send_updates() -> None:
    x = world()
    x.w.calendar.conference_ready = False
    first = x.create()
    x.deliver(rounds=30)
    meeting = x.meeting(first.id)
    assert (meeting.status, meeting.failure_reason) == ("failed", "timeout")
    assert x.w.calendar.deleted == [(first.id, "all")]
    assert live_events(x) == []


def test_a_give_up_whose_cleanup_fails_is_retried_by_the_next_delivery() -> None:
    x = world()
    x.w.calendar.conference_ready = False
    first = x.create()
    x.down["events.delete"] = TransientError("backend error", status=503)
    x.deliver(rounds=svc.COMPLETION_TRIES + 1)  # the last try gives up; the delete fails
    stuck = x.meeting(first.id)
    assert stuck.pending and stuck.claim_until is None  # released: the next one acts
    del x.down["events.delete"]
    x.deliver()
    assert x.meeting(first.id).failure_reason == "timeout"
    assert x.w.calendar.deleted == [(first.id, "all")]


def test_the_time_bound_holds_however_few_tries() -> None:
    x = world(completion_deadline=dt.timedelta(minutes=30))
    x.down["events.insert"] = TransientError("backend error", status=503)
    first = x.create()
    x.jobs[:] = []
    x.w.clock.advance(31 * 60)
    x.jobs.append(({"kind": "complete", "meeting": first.id}, "", {}))
    x.deliver()
    assert x.meeting(first.id).failure_reason == "timeout"
    assert x.nacks == 0


def test_a_refused_calendar_fails_the_meeting_at_once() -> None:
    x = world()
    x.down["events.insert"] = NotFoundError("no calendar", status=404, reason="notFound")
    meeting = x.create()
    assert (meeting.status, meeting.failure_reason) == ("failed", "calendar_refused")
    assert x.jobs == [] and x.w.sink.types(meeting.id) == ["meeting.failed"]


def test_space_mode_checks_the_calendar_is_writable_before_making_a_space() -> None:
    x = world()
    x.w.calendar.access_roles[x.w.calendar.key(ALICE, "primary")] = "reader"
    meeting = x.create(**SPACE)
    assert (meeting.status, meeting.failure_reason) == ("failed", "calendar_refused")
    assert x.meet.calls["spaces.create"] == 0 and not x.meet.spaces
    assert x.w.calendar.calls["events.insert"] == 0 and x.jobs == []


def test_space_mode_on_a_missing_calendar_makes_no_space() -> None:
    x = world()
    x.down["events.list"] = NotFoundError("no calendar", status=404, reason="notFound")
    meeting = x.create(**SPACE)
    assert meeting.failure_reason == "calendar_refused" and not x.meet.spaces


def test_an_event_refused_after_the_space_was_made_keeps_the_space_named_and_ended() -> None:
    x = world()
    x.down["events.insert"] = ForbiddenError("forbidden", status=403, reason="forbidden")
    meeting = x.create(**SPACE)
    assert (meeting.status, meeting.failure_reason) == ("failed", "calendar_refused")
    assert meeting.space and list(x.meet.spaces) == [meeting.space]
    assert x.meet.calls["spaces.endActiveConference"] == 1  # none running: done


def test_meet_refusing_the_space_fails_the_meeting() -> None:
    x = world()
    x.meet.down["spaces.create"] = ForbiddenError("no", status=403, reason="PERMISSION_DENIED")
    body = {"organizer": ALICE, "summary": "Now", "conference": {"mode": "instant"}}
    meeting = x.service.submit(body, "k1", max_attendees=10)
    assert (meeting.status, meeting.failure_reason) == ("failed", "meet_refused")
    assert x.w.sink.types(meeting.id) == ["meeting.failed"] and x.jobs == []


def test_an_organizer_revoked_before_the_job_fails_it_without_calling_google() -> None:
    x = world()
    x.meet.down["spaces.create"] = TransientError("Meet unavailable", status=503)
    first = x.create(**SPACE)
    x.w.store.set_user_status(ALICE, "auth_revoked")
    calls = sum(x.w.calendar.calls.values()), sum(x.meet.calls.values())
    x.deliver()
    assert x.meeting(first.id).failure_reason == "auth_revoked"
    assert (sum(x.w.calendar.calls.values()), sum(x.meet.calls.values())) == calls
    again = x.create(**SPACE)  # the organizer is revoked, yet the retry gets its record
    assert (again.id, again.status) == (first.id, "failed")
    with pytest.raises(Refusal) as info:  # a new key is refused: nothing stored
        x.create("k2", **SPACE)
    assert info.value.kind is Kind.CONFLICT


def test_google_revoking_during_the_job_fails_it_and_marks_the_user() -> None:
    x = world()
    x.meet.down["spaces.create"] = TransientError("Meet unavailable", status=503)
    first = x.create(**SPACE)
    x.meet.down["spaces.create"] = AuthRevokedError("gone", status=400, reason="invalid_grant")
    x.deliver()
    assert x.meeting(first.id).failure_reason == "auth_revoked"
    assert x.w.store.users[ALICE].status == "auth_revoked"


def test_the_sync_leaves_a_given_up_meeting_failed() -> None:
    """Its event was deleted by us: the cancellation's echo must not turn it cancelled."""
    x = world()
    x.w.calendar.conference_ready = False
    first = x.create()
    x.deliver(rounds=30)
    meeting = x.meeting(first.id)
    event = x.w.calendar.get_event(ALICE, "primary", first.id)
    assert event["status"] == "cancelled" and meeting.gave_up
    assert conference.decide(meeting, event).noop


# -- the message and the stored request ------------------------------------------------------


def test_completion_messages_are_parsed_and_checked() -> None:
    assert mnt.parse({"kind": "complete", "meeting": "m1"}) == mnt.Completion("m1")
    for bad in ({"kind": "complete"}, {"kind": "complete", "meeting": 3}):
        with pytest.raises(Refusal) as info:
            mnt.parse(bad)
        assert info.value.field == "meeting"


def test_a_job_for_an_unknown_meeting_is_acknowledged() -> None:
    x = world()
    answer = x.maintenance.handle({"kind": "complete", "meeting": "nope"})
    assert answer == {"kind": "complete", "meeting": "nope", "status": None}


def test_the_stored_request_is_the_request() -> None:
    request = mr.parse(
        {
            **BODY,
            "attendees": [{"email": "b@x.io", "optional": True, "displayName": "B"}],
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3"],
            "timeZone": "Europe/Paris",
            "reminders": {"overrides": [{"method": "popup", "minutes": 5}]},
            "conference": {"mode": "space", "accessType": "OPEN"},
        },
        max_attendees=10,
    )
    again = mr.from_canonical(request.canonical())
    assert again == request and again.body_hash() == request.body_hash()


def test_a_record_made_before_issue_14_is_failed_by_its_job() -> None:
    x = world()
    x.meet.down["spaces.create"] = TransientError("Meet unavailable", status=503)
    first = x.create(**SPACE)
    x.w.store.put_meeting(dataclasses.replace(x.meeting(first.id), create_request=""))
    x.deliver()
    assert x.meeting(first.id).failure_reason == "timeout"


def test_jobs_are_not_queued_for_a_meeting_ready_at_once() -> None:
    x = world()
    assert x.create().status == "ready" and x.jobs == []


def test_an_announcement_the_job_could_not_publish_is_sent_by_its_redelivery() -> None:
    x = world()
    x.meet.down["spaces.create"] = TransientError("Meet unavailable", status=503)
    first = x.create(**SPACE)
    del x.meet.down["spaces.create"]
    x.w.sink.fail_next = 1
    x.deliver()
    assert x.meeting(first.id).status == "ready"
    assert x.w.sink.types(first.id) == ["meeting.ready"]
    assert x.nacks >= 1


def test_the_sweep_requeues_a_pending_meeting_whose_job_was_lost() -> None:
    x = world()
    x.meet.down["spaces.create"] = TransientError("Meet unavailable", status=503)
    first = x.create(**SPACE)
    x.jobs.clear()  # the job was lost (dead-lettered, or never queued)
    assert x.service.requeue_stale() == []  # too young: its own job may still be coming
    x.w.clock.advance(svc.REQUEUE_AFTER.total_seconds())
    del x.meet.down["spaces.create"]
    assert x.service.requeue_stale() == [first.id]
    x.deliver()
    assert x.meeting(first.id).status == "ready"
    assert x.service.requeue_stale() == []
