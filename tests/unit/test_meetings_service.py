"""The create-meeting use case against hand-written fakes of Calendar, Meet, store and sink."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from shared.domain import meeting_request as mr
from shared.domain.models import Meeting, User
from shared.domain.errors import AuthRevokedError, DuplicateError, NotFoundError, RateLimitedError
from shared.services import meetings as svc
from shared.domain.errors import PublishError

Json = dict[str, Any]
T0 = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def now(self) -> dt.datetime:
        return T0 + dt.timedelta(seconds=self.t)


class FakeCalendar:
    """Conferences become ready after `ready_after` reads (or fail, or never)."""

    def __init__(self, ready_after: int | None = 1, outcome: str = "success") -> None:
        self.events: dict[str, Json] = {}
        self.reads: dict[str, int] = {}
        self.calls: list[str] = []
        self.ready_after = ready_after
        self.outcome = outcome
        self.error: Exception | None = None

    def insert_event(
        self, user: str, calendar_id: str, body: Json, *, send_updates: str = "none"
    ) -> Json:
        self.calls.append("insert")
        if self.error:
            raise self.error
        if body["id"] in self.events:
            raise DuplicateError("duplicate", status=409, reason="duplicate")
        event = copy.deepcopy(body)
        event.update(etag='"1"', htmlLink=f"https://cal/{body['id']}", status="confirmed")
        create = event["conferenceData"].get("createRequest")
        if create:
            create["status"] = {"statusCode": "pending"}
        self.events[body["id"]] = event
        return copy.deepcopy(event)

    def get_event(self, user: str, calendar_id: str, event_id: str) -> Json:
        self.calls.append("get")
        if self.error:
            raise self.error
        if event_id not in self.events:
            raise NotFoundError("nf", status=404)
        self.reads[event_id] = self.reads.get(event_id, 0) + 1
        event = self.events[event_id]
        create = event["conferenceData"].get("createRequest")
        pending = create and create["status"]["statusCode"] == "pending"
        if pending and self.ready_after is not None and self.reads[event_id] >= self.ready_after:
            create["status"]["statusCode"] = self.outcome
            event["etag"] = '"2"'
            if self.outcome == "success":
                event["conferenceData"].update(
                    conferenceId="abc-defg-hij",
                    entryPoints=[
                        {"entryPointType": "video", "uri": "https://meet.google.com/abc-defg-hij"}
                    ],
                )
        return copy.deepcopy(event)


class FakeMeet:
    def __init__(self) -> None:
        self.created: list[Json] = []
        self.gets: list[str] = []

    def create_space(self, user: str, config: Json) -> Json:
        n = len(self.created)
        code = f"spc-code-{n:03d}"
        space = {"name": f"spaces/S{n}", "meetingCode": code, "config": config}
        space["meetingUri"] = f"https://meet.google.com/{code}"
        self.created.append(space)
        return space

    def get_space(self, user: str, name: str) -> Json:
        self.gets.append(name)
        return {"name": "spaces/FromCode", "meetingCode": name.split("/")[1]}

    def end_active_conference(self, user: str, name: str) -> None:
        raise AssertionError("not used")


class FakeStore:
    def __init__(self) -> None:
        self.users = {"alice@example.com": User(email="alice@example.com")}
        self.meetings: dict[str, Meeting] = {}
        self.on_create: Callable[[], None] | None = None

    def get_user(self, email: str) -> User | None:
        return self.users.get(email.lower())

    def set_user_status(self, email: str, status: str) -> None:
        self.users[email].status = status

    def get_meeting(self, meeting_id: str) -> Meeting | None:
        m = self.meetings.get(meeting_id)
        return dataclasses.replace(m) if m else None

    def create_meeting(self, meeting: Meeting) -> tuple[Meeting, bool]:
        if meeting.id in self.meetings:
            return dataclasses.replace(self.meetings[meeting.id]), False
        self.meetings[meeting.id] = meeting
        return meeting, True

    def update_meeting(
        self, meeting_id: str, change: Callable[[Meeting], Meeting | None]
    ) -> Meeting | None:
        updated = change(dataclasses.replace(self.meetings[meeting_id]))
        if updated is not None:
            self.meetings[meeting_id] = updated
        return updated


class FakeSink:
    def __init__(self) -> None:
        self.events: list[Json] = []

    def emit(self, event: Json, *, ordering_key: str) -> None:
        assert ordering_key == event["subject"].split("/")[1]
        self.events.append(event)


@dataclasses.dataclass
class World:
    calendar: FakeCalendar
    meet: FakeMeet
    store: FakeStore
    sink: FakeSink
    clock: FakeClock
    service: svc.MeetingService


def world(calendar: FakeCalendar | None = None, wait: float = 8.0) -> World:
    cal, meet, store, sink, clock = (
        calendar or FakeCalendar(),
        FakeMeet(),
        FakeStore(),
        FakeSink(),
        FakeClock(),
    )
    service = svc.MeetingService(
        calendar=cal, meet=meet, store=store, events=sink, source="//test", wait_seconds=wait,
        clock=clock.now, monotonic=clock.monotonic, sleep=clock.sleep,
    )  # fmt: skip
    return World(cal, meet, store, sink, clock, service)


def request(**changes: Any) -> mr.MeetingRequest:
    body = {
        "organizer": "alice@example.com",
        "summary": "Planning",
        "start": "2026-12-01T10:00:00Z",
        "end": "2026-12-01T11:00:00Z",
        **changes,
    }
    return mr.parse(body, max_attendees=10)


def test_calendar_mode_waits_for_the_conference_and_resolves_the_space() -> None:
    w = world(FakeCalendar(ready_after=3))
    meeting = w.service.create(request(), "k1")
    assert meeting.status == "ready"
    assert meeting.meeting_code == "abc-defg-hij"
    assert meeting.space == "spaces/FromCode"
    assert w.meet.gets == ["spaces/abc-defg-hij"]
    assert w.calendar.calls == ["insert", "get", "get", "get"]
    assert [e["type"] for e in w.sink.events] == ["meeting.ready"]
    assert w.sink.events[0]["data"]["version"] == meeting.version == 1
    assert w.store.meetings[meeting.id].status == "ready"
    assert w.clock.t < 0.1  # polled fast


def test_replay_with_the_same_key_returns_the_same_meeting_without_google_calls() -> None:
    w = world()
    first = w.service.create(request(), "k1")
    calls = len(w.calendar.calls)
    again = w.service.create(request(), "k1")
    assert again.id == first.id and again.status == "ready"
    assert len(w.calendar.calls) == calls
    assert len(w.sink.events) == 1


def test_same_key_different_body_is_a_conflict() -> None:
    w = world()
    w.service.create(request(), "k1")
    with pytest.raises(svc.IdempotencyConflict):
        w.service.create(request(summary="Other"), "k1")


def test_pending_past_the_budget_then_ready_on_get() -> None:
    w = world(FakeCalendar(ready_after=None), wait=1.0)
    meeting = w.service.create(request(), "k1")
    assert meeting.status == "pending"
    assert 0.99 <= w.clock.t <= 1.01
    assert w.store.meetings[meeting.id].event_etag == '"1"'
    assert not w.sink.events
    w.calendar.ready_after = 1
    got = w.service.get(meeting.id)
    assert got.status == "ready" and got.space == "spaces/FromCode"
    assert [e["type"] for e in w.sink.events] == ["meeting.ready"]


def test_conference_failure_is_reported() -> None:
    w = world(FakeCalendar(ready_after=1, outcome="failure"))
    meeting = w.service.create(request(), None)
    assert meeting.status == "failed"
    assert [e["type"] for e in w.sink.events] == ["meeting.failed"]


def test_retry_of_a_pending_record_fetches_the_existing_event() -> None:
    w = world(FakeCalendar(ready_after=None), wait=0.5)
    first = w.service.create(request(), "k1")
    assert first.status == "pending"
    w.calendar.ready_after = 1
    w.calendar.calls.clear()
    again = w.service.create(request(), "k1")
    assert again.status == "ready"
    assert w.calendar.calls[0] == "get"
    assert "insert" not in w.calendar.calls


def test_insert_409_means_fetch_what_exists() -> None:
    w = world()
    req = request()
    mid = mr.meeting_id(req.organizer, "k1")
    w.calendar.insert_event("alice@example.com", "primary", mr.event_body(req, mid))
    meeting = w.service.create(req, "k1")  # record fresh, event already there
    assert meeting.status == "ready"
    assert len(w.calendar.events) == 1


def test_space_mode_creates_one_space_and_copies_it_onto_the_event() -> None:
    w = world()
    meeting = w.service.create(
        request(conference={"mode": "space", "accessType": "RESTRICTED"}), "k"
    )
    assert meeting.status == "ready"
    assert meeting.space == "spaces/S0" and meeting.meeting_code == "spc-code-000"
    assert w.meet.created[0]["config"] == {"accessType": "RESTRICTED"}
    event = w.calendar.events[meeting.id]
    assert event["conferenceData"]["conferenceId"] == "spc-code-000"
    assert w.meet.gets == []  # the space name is known already
    again = w.service.create(request(conference={"mode": "space", "accessType": "RESTRICTED"}), "k")
    assert again.id == meeting.id and len(w.meet.created) == 1


def test_instant_mode_is_a_space_alone() -> None:
    w = world()
    meeting = w.service.create(
        mr.parse(
            {"organizer": "alice@example.com", "conference": {"mode": "instant"}}, max_attendees=1
        ),
        None,
    )
    assert meeting.status == "ready" and meeting.space == "spaces/S0"
    assert meeting.event_id == "" and w.calendar.calls == []
    assert [e["type"] for e in w.sink.events] == ["meeting.ready"]


def test_a_second_request_waits_for_the_claim_holder_space() -> None:
    w = world(wait=0.3)
    req = request(conference={"mode": "space"})
    record = w.service._new_record(req, "k")
    w.store.create_meeting(record)  # someone else holds the claim, no space yet
    meeting = w.service.create(req, "k")
    assert meeting.status == "pending" and w.meet.created == []
    assert w.calendar.calls == []


def test_a_stale_claim_is_resumed() -> None:
    w = world()
    req = request(conference={"mode": "space"})
    record = w.service._new_record(req, "k")
    w.store.create_meeting(record)
    w.clock.t += 61
    meeting = w.service.create(req, "k")
    assert meeting.status == "ready" and len(w.meet.created) == 1


def test_unknown_and_revoked_organizers_are_refused_before_google() -> None:
    w = world()
    with pytest.raises(svc.UnknownOrganizer):
        w.service.create(request(organizer="mallory@example.com"), None)
    w.store.users["alice@example.com"].status = "auth_revoked"
    with pytest.raises(svc.ReauthorizationRequired):
        w.service.create(request(), None)
    assert w.calendar.calls == []


def test_revoked_authorization_marks_the_user() -> None:
    w = world()
    w.calendar.error = AuthRevokedError("gone", status=400, reason="invalid_grant")
    with pytest.raises(AuthRevokedError):
        w.service.create(request(), None)
    assert w.store.users["alice@example.com"].status == "auth_revoked"


def test_get_unknown_meeting() -> None:
    with pytest.raises(svc.MeetingNotFound):
        world().service.get("nope")


def test_poll_delays_start_fast_then_back_off() -> None:
    delays = svc.poll_delays()
    first = [next(delays) for _ in range(60)]
    assert first[0] == 0.005 and first[1] == 0.02
    assert max(first[:5]) <= 0.05
    elapsed, i = 0.0, 0
    while elapsed < 2.0:
        assert first[i] <= 0.05
        elapsed += first[i]
        i += 1
    later = [next(delays) for _ in range(20)]
    assert later[-1] == 1.0 and later[0] > 0.05


def test_a_racer_watches_the_record_while_the_holder_works() -> None:
    w = world()
    req = request()
    record = w.service._new_record(req, "k")
    w.store.create_meeting(record)  # the holder made the record and is still working
    real_get = w.store.get_meeting

    def holder_finishes(meeting_id: str) -> Meeting | None:
        w.store.meetings[meeting_id] = dataclasses.replace(
            w.store.meetings[meeting_id], status="ready", version=1
        )
        return real_get(meeting_id)

    w.store.get_meeting = holder_finishes  # type: ignore[method-assign]
    meeting = w.service.create(req, "k")
    assert meeting.status == "ready"
    assert w.calendar.calls == [] and w.sink.events == []


def test_a_failed_holder_releases_its_claim_so_a_retry_acts_at_once() -> None:
    w = world()
    w.calendar.error = RateLimitedError("slow down", status=429)
    with pytest.raises(RateLimitedError):
        w.service.create(request(), "k")
    stored = w.store.meetings[mr.meeting_id("alice@example.com", "k")]
    assert stored.status == "pending" and stored.claim_until is None
    w.calendar.error = None
    assert w.service.create(request(), "k").status == "ready"
    assert w.clock.t < 1


def test_a_change_is_stored_with_its_announcement_and_a_failed_publish_is_sent_later() -> None:
    """The transactional outbox: a publish that fails after the change was stored loses
    nothing (the announcement waits on the record) and the retry sends the same event
    (found by the fault suite: announcing before the write sent changes never stored)."""
    w = world()
    attempts: list[Json] = []

    def down(event: Json, *, ordering_key: str) -> None:
        attempts.append(event)
        raise PublishError("publish to meeting-events failed: ServiceUnavailable")

    w.sink.emit = down  # type: ignore[method-assign]
    with pytest.raises(PublishError):
        w.service.create(request(), "k")
    stored = w.store.meetings[mr.meeting_id("alice@example.com", "k")]
    assert stored.status == "ready" and stored.claim_until is None
    assert [e["type"] for e in stored.outbox] == ["meeting.ready"]
    assert stored.to_dict()["announce_pending"] is True
    sink = FakeSink()
    w.sink.emit = sink.emit  # type: ignore[method-assign]
    calls = len(w.calendar.calls)
    again = w.service.create(request(), "k")
    assert again.status == "ready" and len(w.calendar.calls) == calls
    assert sink.events == attempts  # the very event that failed: same id, same content
    assert w.store.meetings[again.id].outbox == []
    assert w.store.meetings[again.id].to_dict()["announce_pending"] is False


def test_a_change_that_loses_its_race_is_not_announced() -> None:
    """A racer (the sync worker, say) detaches the record just before our write: our
    `ready` is dropped, and so is its announcement; the racer's record is answered."""
    w = world()
    real_update = w.store.update_meeting

    def racing(meeting_id: str, change: Callable[[Meeting], Meeting | None]) -> Meeting | None:
        current = w.store.meetings[meeting_id]
        if current.status == "pending":
            w.store.meetings[meeting_id] = dataclasses.replace(
                current, status="detached", version=current.version + 1
            )
        return real_update(meeting_id, change)

    w.store.update_meeting = racing  # type: ignore[method-assign]
    answered = w.service.create(request(), "k")
    assert answered.status == "detached"
    assert w.sink.events == []
    assert w.store.meetings[answered.id].outbox == []
