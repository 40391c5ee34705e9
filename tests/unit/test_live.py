"""Meetings as they happen, on the in-memory adapters: subscribing when a meeting gets its
space, Workspace Events onto the record (duplicated, reordered, dropped), announcements
once per fact, the subscription's lifecycle."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from shared.domain import live
from shared.domain import meeting_request as mr
from shared.domain.models import Meeting, MeetingStatus, User, UserStatus
from shared.memory import (
    MemoryCalendar,
    MemoryDirectory,
    MemoryMeet,
    MemorySink,
    MemoryStore,
    MemoryWorkspaceEvents,
)
from shared.services.live import MeetEvents, PoisonEventError, SpaceHooks, Subscriptions
from shared.services.meetings import MeetingService

Json = dict[str, Any]
T0 = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
TOPIC = "projects/unit/topics/workspace-events"


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> dt.datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += dt.timedelta(seconds=seconds)


@dataclasses.dataclass
class World:
    clock: Clock
    store: MemoryStore
    meet: MemoryMeet
    events: MemoryWorkspaceEvents
    sink: MemorySink
    meetings: MeetingService
    handler: MeetEvents

    def create(self, mode: str = "space", **body: Any) -> Meeting:
        request = {
            "organizer": ALICE,
            "summary": "Planning",
            "start": "2026-12-01T10:00:00Z",
            "end": "2026-12-01T11:00:00Z",
            "attendees": [{"email": BOB}, {"email": CAROL}],
            "conference": {"mode": mode},
            **body,
        }
        if mode == "instant":
            request = {"organizer": ALICE, "conference": {"mode": "instant"}}
        return self.meetings.create(mr.parse(request, max_attendees=10), f"key-{mode}")

    def deliver(self, kind: str, space: str, data: Json) -> str:
        return self.handler.handle(push(kind, live.space_target(space), data), "m-1")

    def send(self, space: str, event: tuple[str, Json]) -> str:
        return self.deliver(event[0], space, event[1])

    def record(self, meeting_id: str) -> Meeting:
        found = self.store.get_meeting(meeting_id)
        assert found is not None
        return found


def push(kind: str, source: str, data: Json, subject: str = "") -> Json:
    attributes = {"ce-type": kind, "ce-source": source, "ce-id": "x", "ce-subject": subject}
    raw = base64.b64encode(json.dumps(data).encode()).decode()
    return {"message": {"data": raw, "attributes": attributes, "messageId": "1"}}


def world() -> World:
    clock = Clock()
    store, meet, sink = MemoryStore(), MemoryMeet(), MemorySink()
    meet.clock = clock
    events = MemoryWorkspaceEvents(clock)
    store.put_user(User(email=ALICE))
    subscriptions = Subscriptions(events=events, store=store, topic=TOPIC, now=clock)
    meetings = MeetingService(
        calendar=MemoryCalendar(),
        meet=meet,
        store=store,
        events=sink,
        source="//test",
        wait_seconds=1.0,
        clock=clock,
        spaces=SpaceHooks(subscriptions),
    )
    handler = MeetEvents(
        store=store,
        meet=meet,
        directory=MemoryDirectory(meet),
        subscriptions=subscriptions,
        sink=sink,
        source="//test",
        now=clock,
    )
    return World(clock, store, meet, events, sink, meetings, handler)


def started(record: str) -> tuple[str, Json]:
    return live.CONFERENCE_STARTED, {"conferenceRecord": {"name": record}}


def ended(record: str) -> tuple[str, Json]:
    return live.CONFERENCE_ENDED, {"conferenceRecord": {"name": record}}


def test_a_meeting_with_a_space_is_subscribed_once() -> None:
    w = world()
    meeting = w.create()
    assert meeting.status == MeetingStatus.READY
    assert meeting.subscription and meeting.subscription_state == "active"
    sub = w.events.subscriptions[meeting.subscription]
    assert sub["targetResource"] == f"//meet.googleapis.com/{meeting.space}"
    assert sub["eventTypes"] == list(live.EVENT_TYPES)
    assert sub["notificationEndpoint"] == {"pubsubTopic": TOPIC}
    again = w.create()  # the same Idempotency-Key: the same meeting, no second subscription
    assert again.subscription == meeting.subscription
    assert w.events.calls["create"] == 1
    assert len(w.events.subscriptions) == 1


def test_an_instant_meeting_is_subscribed_and_shows_not_started() -> None:
    w = world()
    meeting = w.create("instant")
    assert meeting.subscription
    view = meeting.public()
    assert view["conference"]["state"] == "not_started"
    assert view["conferences"] == [] and view["artifacts"] == {"recordings": [], "transcripts": []}


def test_a_full_meeting_attendance_artifacts_and_announcements() -> None:
    w = world()
    meeting = w.create()
    space = meeting.space
    w.meet.join(space, email=ALICE)
    record = w.meet.start(space)
    assert w.send(space, started(record)) == "updated"
    w.clock.advance(60)
    w.meet.join(space, email=BOB)
    w.meet.join(space, guest="Visitor")
    w.deliver(live.PARTICIPANT_JOINED, space, {"participantSession": {"name": f"{record}/x"}})
    w.clock.advance(600)
    w.meet.leave(space, email=BOB)
    w.clock.advance(300)
    w.meet.end(space)
    w.send(space, ended(record))
    w.meet.artifact(space, "recording")
    recording = f"{record}/recordings/x"
    assert w.deliver(live.RECORDING_GENERATED, space, {"recording": {"name": recording}})
    w.meet.artifact(space, "transcript")
    w.deliver(live.TRANSCRIPT_GENERATED, space, {"transcript": {"name": f"{record}/transcripts/t"}})

    view = w.record(meeting.id).public()
    assert view["conference"]["state"] == "ended"
    assert view["conference"]["durationSeconds"] == 960
    assert view["conference"]["participants"] == {"signedIn": 2, "guests": 1, "phone": 0}
    attendance = {a["email"]: a for a in view["attendance"]["attendees"]}
    assert attendance[ALICE] == {"email": ALICE, "joined": True, "totalSeconds": 960}
    assert attendance[BOB] == {"email": BOB, "joined": True, "totalSeconds": 600}
    assert attendance[CAROL] == {"email": CAROL, "joined": False, "totalSeconds": 0}
    assert view["attendance"]["unmatched"] == [
        {"kind": "guest", "displayName": "Visitor", "email": None, "totalSeconds": 900}
    ]
    assert [r["fileId"] for r in view["artifacts"]["recordings"]] != [None]
    assert len(view["artifacts"]["recordings"]) == len(view["artifacts"]["transcripts"]) == 1
    types = w.sink.types(meeting.id)
    assert types[-4:] == [
        live.STARTED,
        live.ENDED,
        live.RECORDING_READY,
        live.TRANSCRIPT_READY,
    ]
    ended_event = next(e for e in w.sink.events if e["type"] == live.ENDED)
    assert ended_event["data"]["attendance"]["attendees"][0]["email"] == ALICE


def test_duplicated_reordered_and_dropped_events_converge() -> None:
    w = world()
    meeting = w.create()
    space = meeting.space
    record = w.meet.start(space)
    w.meet.join(space, email=BOB)
    w.clock.advance(120)
    w.meet.end(space)
    # ended arrives first, then started, each twice; joined/left were dropped
    for event in (ended(record), ended(record), started(record), started(record)):
        w.send(space, event)
    types = [t for t in w.sink.types(meeting.id) if t.startswith("meeting.") and "ed" in t]
    assert types.count(live.STARTED) == 1 and types.count(live.ENDED) == 1
    assert types.index(live.STARTED) < types.index(live.ENDED)
    ids = [e["id"] for e in w.sink.events]
    assert len(ids) == len(set(ids))
    view = w.record(meeting.id).public()
    assert view["conference"]["state"] == "ended"
    assert {a["email"]: a["totalSeconds"] for a in view["attendance"]["attendees"]}[BOB] == 120


def test_two_files_ready_in_one_handling_are_announced_once_each() -> None:
    w = world()
    meeting = w.create()
    record = w.meet.start(meeting.space)
    w.meet.end(meeting.space)
    w.send(meeting.space, ended(record))
    first = w.meet.artifact(meeting.space, "recording")
    second = w.meet.artifact(meeting.space, "recording")  # both ready before one delivery
    w.deliver(live.RECORDING_GENERATED, meeting.space, {"recording": {"name": second}})
    w.deliver(live.RECORDING_GENERATED, meeting.space, {"recording": {"name": first}})
    ready = [e for e in w.sink.events if e["type"] == live.RECORDING_READY]
    assert sorted(e["data"]["artifact"]["name"] for e in ready) == [first, second]
    assert len({e["id"] for e in ready}) == 2
    assert all(e["data"]["artifact"]["conference"] == record for e in ready)


def test_an_older_read_of_a_live_conference_does_not_replace_a_newer_one() -> None:
    w = world()
    meeting = w.create()
    w.meet.join(meeting.space, email=ALICE)
    record = w.meet.start(meeting.space)
    older = w.handler._read(ALICE, record)  # a slow handler read here ...
    w.meet.join(meeting.space, email=BOB)
    w.send(meeting.space, started(record))  # ... a quicker one read Bob too, and wrote
    merged, facts = live.merge(w.record(meeting.id).conferences, older)
    assert facts == [] and merged == w.record(meeting.id).conferences
    assert merged[0]["participants"]["signedIn"] == 2
    w.meet.leave(meeting.space, email=BOB)  # a later read moves on again
    newer = w.handler._read(ALICE, record)
    merged, _ = live.merge(merged, newer)
    assert [p["inCall"] for p in merged[0]["people"]] == [True, False]


def test_many_conferences_in_one_space() -> None:
    w = world()
    meeting = w.create()
    first = w.meet.start(meeting.space)
    w.meet.end(meeting.space)
    second = w.meet.start(meeting.space)
    w.send(meeting.space, started(second))
    w.send(meeting.space, ended(first))
    view = w.record(meeting.id).public()
    assert [c["name"] for c in view["conferences"]] == [first, second]
    assert view["conference"]["state"] == "live"
    assert w.sink.types(meeting.id).count(live.STARTED) == 2


def test_reconcile_reads_every_conference_of_the_space() -> None:
    w = world()
    meeting = w.create()
    w.meet.start(meeting.space)
    w.meet.end(meeting.space)
    after, outcome = w.handler.reconcile(w.record(meeting.id))
    assert outcome == "updated" and after.conferences[0]["state"] == "ended"
    assert w.handler.reconcile(after)[1] == "unchanged"


def test_unknown_space_is_acknowledged_and_poison_raises() -> None:
    w = world()
    assert w.send("spaces/nobody", started("conferenceRecords/Z")) == "unknown_space"
    with pytest.raises(PoisonEventError):
        w.handler.handle({"message": {"data": "not base64!"}}, "m")
    with pytest.raises(PoisonEventError):
        w.handler.handle(push(live.CONFERENCE_STARTED, "//elsewhere/x", {}), "m")


def lifecycle(w: World, kind: str, meeting: Meeting) -> str:
    sub = {"name": meeting.subscription, "targetResource": live.space_target(meeting.space)}
    source = f"//workspaceevents.googleapis.com/{meeting.subscription}"
    return w.handler.handle(push(kind, source, {"subscription": sub}), "m")


def test_lifecycle_renew_recreate_reactivate() -> None:
    w = world()
    meeting = w.create()
    w.clock.advance(3600)
    assert lifecycle(w, live.EXPIRATION_REMINDER, meeting) == "renewed"
    assert w.record(meeting.id).subscription_expires == T0 + dt.timedelta(days=7, hours=1)
    w.events.subscriptions.clear()  # it expired at Google
    assert lifecycle(w, live.EXPIRED, meeting) == "recreated"
    fresh = w.record(meeting.id)
    assert fresh.subscription != meeting.subscription and fresh.subscription_state == "active"
    w.events.subscriptions[fresh.subscription]["state"] = "SUSPENDED"
    w.store.set_user_status(ALICE, UserStatus.AUTH_REVOKED)
    assert lifecycle(w, live.SUSPENDED, fresh) == "suspended"
    w.store.set_user_status(ALICE, UserStatus.ACTIVE)
    assert lifecycle(w, live.SUSPENDED, fresh) == "reactivated"
    assert w.record(meeting.id).subscription_state == "active"


def test_a_meeting_long_over_is_not_followed_again() -> None:
    w = world()
    meeting = w.create()
    w.clock.t = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    assert lifecycle(w, live.EXPIRATION_REMINDER, meeting) == "released"
    assert w.events.subscriptions == {}
    assert w.record(meeting.id).subscription_state == "deleted"


def test_cancelling_deletes_the_subscription() -> None:
    w = world()
    meeting = w.create()
    hooks = SpaceHooks(Subscriptions(events=w.events, store=w.store, topic=TOPIC, now=w.clock))
    w.store.update_meeting(
        meeting.id, lambda m: dataclasses.replace(m, status=MeetingStatus.CANCELLED)
    )
    after = hooks.after_change(w.record(meeting.id))
    assert after.subscription_state == "deleted"
    assert w.events.subscriptions == {} and w.events.calls["delete"] == 1
    assert hooks.after_change(after).subscription_state == "deleted"
    assert w.events.calls["delete"] == 1


def test_parse_time_and_names() -> None:
    assert live.parse_time("2026-01-01T00:00:00.123456789Z") == dt.datetime(
        2026, 1, 1, 0, 0, 0, 123456, tzinfo=dt.UTC
    )
    assert live.parse_time("2026-01-01T01:30:00.5+01:00") == dt.datetime(
        2026, 1, 1, 0, 30, 0, 500000, tzinfo=dt.UTC
    )
    assert live.parse_time("nope") is None
    assert live.space_of("//meet.googleapis.com/spaces/abc") == "spaces/abc"
    assert live.space_of("//meet.googleapis.com/conferenceRecords/abc") is None
    assert live.record_of("conferenceRecords/r/participants/p/participantSessions/s") == (
        "conferenceRecords/r"
    )


def test_the_record_as_get_answers_it_matches_the_openapi_contract() -> None:
    from tests.e2e import contract

    w = world()
    meeting = w.create()
    contract.check("/meetings/{id}", "GET", 200, meeting.public())
    record = w.meet.start(meeting.space)
    w.meet.join(meeting.space, email=BOB)
    w.meet.join(meeting.space, phone="+1 ***-***-0100")
    w.clock.advance(30)
    w.meet.end(meeting.space)
    w.meet.artifact(meeting.space, "recording")
    w.send(meeting.space, ended(record))
    contract.check("/meetings/{id}", "GET", 200, w.record(meeting.id).public())


def test_patch_changes_exactly_the_given_settings_once() -> None:
    from shared.domain.refusals import Kind, Refusal

    w = world()
    meeting = w.create("space", conference={"mode": "space", "accessType": "OPEN"})
    before = len(w.sink.events)
    body = {"conference": {"moderation": "ON", "autoRecording": "ON"}}
    patched = w.meetings.update_settings(meeting.id, body)
    config = w.meet.spaces[meeting.space]["config"]
    assert config["accessType"] == "OPEN"  # untouched: not in the mask
    assert config["moderation"] == "ON"
    assert config["artifactConfig"]["recordingConfig"]["autoRecordingGeneration"] == "ON"
    assert patched.public()["conferenceSettings"]["autoRecording"] == "ON"
    assert w.sink.types(meeting.id)[before:] == ["meeting.updated"]
    w.meetings.update_settings(meeting.id, body)  # the same change again: nothing to say
    assert w.sink.types(meeting.id)[before:] == ["meeting.updated"]
    for bad, field in (
        ({"conference": {"accessType": "WIDE"}}, "conference.accessType"),
        ({"conference": {"mode": "space"}}, "conference.mode"),
        ({"conference": {}}, "conference"),
        ({"other": 1}, "other"),
    ):
        with pytest.raises(Refusal) as info:
            w.meetings.update_settings(meeting.id, bad)
        assert (info.value.kind, info.value.field) == (Kind.INVALID, field)
    with pytest.raises(Refusal) as missing:
        w.meetings.update_settings("nope", body)
    assert missing.value.kind == Kind.NOT_FOUND


def sweep(w: World, shard: int) -> dict[str, list[str]]:
    """The sweep job's outcome stage for one shard, due now."""
    done, resume = w.handler.reconcile_shard(shard, due=w.clock.t)
    assert resume is None
    return done


def test_the_sweep_learns_outcomes_whose_events_were_dropped() -> None:
    w = world()
    meeting = w.create()
    assert meeting.outcome_check_at == T0  # caught up at the next sweep: nothing yet
    assert sweep(w, meeting.shard) == {
        "reconciled": [meeting.id], "updated": [], "released": [], "failed": []
    }  # fmt: skip
    after_end = dt.datetime(2026, 12, 1, 11, 30, tzinfo=dt.UTC)
    assert w.record(meeting.id).outcome_check_at == after_end
    w.meet.join(meeting.space, email=BOB)
    w.meet.end(meeting.space)  # every event of it dropped
    assert sweep(w, meeting.shard)["reconciled"] == []  # not due before the end
    w.clock.t = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    done = sweep(w, meeting.shard)
    assert done["updated"] == [meeting.id] and done["released"] == []
    after = w.record(meeting.id)
    assert after.conferences[0]["state"] == "ended" and after.outcome_check_at is None
    assert live.ENDED in w.sink.types(meeting.id)
    assert sweep(w, meeting.shard)["reconciled"] == []


def test_the_sweep_gives_up_on_a_meeting_that_never_happened() -> None:
    w = world()
    meeting = w.create()
    w.clock.t = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    assert sweep(w, meeting.shard)["reconciled"] == [meeting.id]
    assert w.record(meeting.id).outcome_check_at == w.clock.t + dt.timedelta(hours=1)
    w.clock.t = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
    assert sweep(w, meeting.shard)["released"] == [meeting.id]
    assert w.events.subscriptions == {}
    assert w.record(meeting.id).public()["conference"]["state"] == "not_started"


def test_what_happened_before_the_subscription_is_read_and_google_is_asked_again() -> None:
    w = world()
    w.events.fail_next = 1  # Workspace Events refuses the subscription
    meeting = w.create()
    assert not meeting.subscription and meeting.outcome_check_at == T0
    w.meet.join(meeting.space, email=BOB)  # no subscription: Google sends no event
    w.clock.advance(60)
    done = sweep(w, meeting.shard)
    assert done["updated"] == [meeting.id]
    after = w.record(meeting.id)
    assert after.subscription_state == "active" and after.conferences[0]["state"] == "live"
    assert w.sink.types(meeting.id)[-1] == live.STARTED
    # caught up and subscribed: the next read is the one after the scheduled end
    assert after.outcome_check_at == dt.datetime(2026, 12, 1, 11, 30, tzinfo=dt.UTC)


def test_a_subscription_refused_again_is_asked_for_hourly() -> None:
    w = world()
    w.events.fail_next = 2
    meeting = w.create()
    assert sweep(w, meeting.shard)["reconciled"] == [meeting.id]
    after = w.record(meeting.id)
    assert not after.subscription and after.outcome_check_at == T0 + dt.timedelta(hours=1)


def test_a_meeting_meet_fails_on_is_checked_again_later_and_the_shard_goes_on() -> None:
    w = world()
    meeting = w.create()
    w.meet.fail_next = 1
    done = sweep(w, meeting.shard)
    assert done["failed"] == [meeting.id] and done["reconciled"] == []
    assert w.record(meeting.id).outcome_check_at == T0 + dt.timedelta(hours=1)


def test_the_sweep_stops_when_out_of_time_and_its_continuation_goes_on() -> None:
    w = world()
    meeting = w.create()
    done, resume = w.handler.reconcile_shard(meeting.shard, due=T0, out_of_time=lambda: True)
    assert done["reconciled"] == [] and resume is not None and resume.stage == "outcomes"
    assert sweep(w, meeting.shard)["reconciled"] == [meeting.id]


def test_disconnect_releases_and_reauthorisation_resumes() -> None:
    w = world()
    first = w.create()
    subs = Subscriptions(events=w.events, store=w.store, topic=TOPIC, now=w.clock)
    sub = w.events.subscriptions[first.subscription]
    sub["state"] = "SUSPENDED"
    w.store.update_meeting(
        first.id, lambda m: dataclasses.replace(m, subscription_state="suspended")
    )
    assert subs.resume(ALICE) == [first.id]
    assert w.record(first.id).subscription_state == "active"
    assert subs.release_all(ALICE) == [first.id]
    assert w.events.subscriptions == {}
    assert subs.release_all(ALICE) == []


def test_a_suspension_by_a_revoked_grant_marks_the_user_and_reconnecting_resumes() -> None:
    w = world()
    meeting = w.create()
    w.events.subscriptions[meeting.subscription]["state"] = "SUSPENDED"
    w.events.revoked.add(ALICE)
    assert lifecycle(w, live.SUSPENDED, meeting) == "suspended"
    user = w.store.get_user(ALICE)
    assert user is not None and user.status == UserStatus.AUTH_REVOKED
    assert w.record(meeting.id).subscription_state == "suspended"
    subs = Subscriptions(events=w.events, store=w.store, topic=TOPIC, now=w.clock)
    assert subs.resume(ALICE) == []  # still revoked at Google
    w.events.revoked.clear()
    assert subs.resume(ALICE) == [meeting.id]
    assert w.events.subscriptions[meeting.subscription]["state"] == "ACTIVE"


def test_a_failed_subscribe_never_fails_the_meeting_and_is_retried() -> None:
    w = world()
    w.events.fail_next = 1
    meeting = w.create()
    assert meeting.status == MeetingStatus.READY and not meeting.subscription
    assert meeting.outcome_check_at is not None  # the sweep reads its outcome all the same
    after = w.meetings.update_settings(meeting.id, {"conference": {"moderation": "ON"}})
    assert after.subscription and after.subscription_state == "active"


# -- how long a space is followed ---------------------------------------------------------------

FIRST_START = dt.datetime(2026, 12, 7, 10, tzinfo=dt.UTC)
FIRST_END = FIRST_START + dt.timedelta(hours=1)


def _followed(recurrence: list[str], now: dt.datetime) -> bool:
    from shared.services.live import needs_subscription

    meeting = Meeting(
        id="m", organizer="a@x.com", mode="calendar", calendar_key="a:a",
        status=MeetingStatus.READY, space="spaces/s",
        start={"dateTime": FIRST_START.isoformat()}, end={"dateTime": FIRST_END.isoformat()},
        recurrence=recurrence,
    )  # fmt: skip
    return needs_subscription(meeting, now)


def test_a_series_is_followed_until_two_days_after_its_last_occurrence() -> None:
    weekly = ["RRULE:FREQ=WEEKLY;COUNT=4"]  # the last occurrence ends 3 weeks after the first
    assert _followed(weekly, FIRST_END + dt.timedelta(days=20))
    assert not _followed(weekly, FIRST_END + dt.timedelta(days=4 * 7 + 3))
    assert not _followed([], FIRST_END + dt.timedelta(days=3))  # a single meeting: 2 days
    until = ["RRULE:FREQ=DAILY;UNTIL=20261231T235959Z"]
    assert _followed(until, dt.datetime(2027, 1, 2, tzinfo=dt.UTC))
    assert not _followed(until, dt.datetime(2027, 1, 4, tzinfo=dt.UTC))
    assert _followed(["RRULE:FREQ=WEEKLY;BYDAY=MO"], FIRST_END + dt.timedelta(days=900))
    assert _followed(["RRULE:FREQ=WEEKLY;UNTIL=garbage"], FIRST_END + dt.timedelta(days=900))


def test_series_end_reads_until_count_interval_and_rdate() -> None:
    from shared.domain.event import series_end

    assert series_end(["RRULE:FREQ=DAILY;COUNT=3;INTERVAL=2"], FIRST_END) == (
        FIRST_END + dt.timedelta(days=6)
    )
    assert series_end(["RRULE:FREQ=MONTHLY;UNTIL=20270301"], FIRST_END) == dt.datetime(
        2027, 3, 2, tzinfo=dt.UTC
    )
    lines = ["RRULE:FREQ=WEEKLY;COUNT=1", "RDATE;VALUE=DATE:20270105,20270110", "EXDATE:20261214"]
    assert series_end(lines, FIRST_END) == dt.datetime(2027, 1, 11, tzinfo=dt.UTC)
    assert series_end(["RRULE:FREQ=YEARLY"], FIRST_END) is None
    assert series_end(["RRULE:FREQ=DAILY;COUNT=many"], FIRST_END) is None
