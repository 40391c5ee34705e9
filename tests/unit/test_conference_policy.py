"""The conference-update table, row by row, as a pure function."""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.domain import conference as c
from shared.domain import event as event_
from shared.domain.event import OWNED_PROPERTY, SPACE_PROPERTY
from shared.domain.models import Meeting, MeetingHead

NOW = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
START = {"dateTime": "2026-11-22T10:00:00Z"}
END = {"dateTime": "2026-11-22T11:00:00Z"}


def meeting(**kw: Any) -> Meeting:
    base: dict[str, Any] = {
        "id": "m1",
        "organizer": "alice@example.com",
        "mode": "calendar",
        "calendar_key": "k",
        "event_id": "m1",
        "request_id": "m1",
        "summary": "Plan",
        "start": START,
        "end": END,
        "event_etag": '"1"',
    }
    base.update(kw)
    return Meeting(**base)


def event(status: str = "pending", **kw: Any) -> dict[str, Any]:
    conference: dict[str, Any] = {
        "createRequest": {
            "requestId": "m1",
            "conferenceSolutionKey": {"type": "hangoutsMeet"},
            "status": {"statusCode": status},
        }
    }
    if status == "success":
        conference.update(
            conferenceId="abc-defg-hij",
            conferenceSolution={"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
            entryPoints=[
                {"entryPointType": "video", "uri": "https://meet.google.com/abc-defg-hij"}
            ],
        )
    body: dict[str, Any] = {
        "id": "m1",
        "etag": '"2"',
        "status": "confirmed",
        "summary": "Plan",
        "start": START,
        "end": END,
        "conferenceData": conference,
        "extendedProperties": {"private": {OWNED_PROPERTY: "m1"}},
    }
    body.update(kw)
    return body


def test_pending_to_success_is_ready_and_needs_space_and_stamp() -> None:
    d = c.decide(meeting(), event("success"))
    assert d.emits == [c.READY]
    assert d.fields["status"] == "ready"
    assert d.fields["meeting_code"] == "abc-defg-hij"
    assert d.fields["meeting_uri"] == "https://meet.google.com/abc-defg-hij"
    assert d.resolve_space_code == "abc-defg-hij"
    assert d.stamp_space


def test_failure_marks_failed() -> None:
    d = c.decide(meeting(), event("failure"))
    assert d.emits == [c.FAILED]
    assert d.fields["status"] == "failed"


def test_still_pending_changes_nothing_but_the_etag() -> None:
    d = c.decide(meeting(), event("pending"))
    assert d.emits == []
    assert d.fields == {"event_etag": '"2"', "event_updated": ""}


def test_move_is_rescheduled() -> None:
    new_start = {"dateTime": "2026-11-23T10:00:00Z"}
    d = c.decide(
        meeting(status="ready", space="spaces/x", meeting_code="abc-defg-hij"),
        event("success", start=new_start),
    )
    assert c.RESCHEDULED in d.emits
    assert d.fields["start"] == new_start


def test_rename_and_attendees_are_updated() -> None:
    d = c.decide(
        meeting(), event("pending", summary="New", attendees=[{"email": "Bob@Example.com"}])
    )
    assert d.emits == [c.UPDATED]
    assert d.fields["summary"] == "New"
    assert d.fields["attendees"] == ["bob@example.com"]


def test_cancel_ends_the_conference_of_a_known_space() -> None:
    d = c.decide(
        meeting(status="ready", space="spaces/x"),
        {"id": "m1", "status": "cancelled", "etag": '"3"'},
    )
    assert d.emits == [c.CANCELLED]
    assert d.end_conference
    assert d.fields["status"] == "cancelled"


def test_cancelled_meeting_is_terminal() -> None:
    assert c.decide(meeting(status="cancelled"), event("success")).noop


def test_conference_removed_is_detached_and_never_fought() -> None:
    d = c.decide(
        meeting(status="ready", space="spaces/x", meeting_code="abc-defg-hij"),
        event("success", conferenceData=None),
    )
    assert d.emits == [c.DETACHED]
    assert not d.stamp_space
    assert d.fields["status"] == "detached"
    # later changes to a detached meeting never touch the conference
    later = c.decide(meeting(status="detached", space="spaces/x"), event("success", etag='"9"'))
    assert later.emits == []
    assert not later.stamp_space


def test_conference_replaced_by_another_is_detached() -> None:
    other = event("success")
    other["conferenceData"]["createRequest"]["requestId"] = "someone-else"
    other["conferenceData"]["conferenceId"] = "zzz-zzzz-zzz"
    d = c.decide(meeting(status="ready", space="spaces/x", meeting_code="abc-defg-hij"), other)
    assert d.emits == [c.DETACHED]


def test_copied_space_conference_is_ours_by_code() -> None:
    copied = event("success")
    del copied["conferenceData"]["createRequest"]
    m = meeting(
        mode="space", request_id="", status="ready", space="spaces/x", meeting_code="abc-defg-hij"
    )
    d = c.decide(m, copied)
    assert d.emits == []
    assert d.stamp_space


def test_echo_of_our_own_write_is_a_noop() -> None:
    m = meeting(event_etag='"2"')
    assert c.decide(m, event("success")).noop


def test_echo_of_a_ready_meeting_seen_first_by_create_meeting_is_stamped_only() -> None:
    m = meeting(status="ready", space="spaces/x", meeting_code="abc-defg-hij", event_etag='"2"')
    d = c.decide(m, event("success"))
    assert d.stamp_space
    assert not d.noop
    assert (d.fields, d.emits, d.end_conference) == ({}, [], False)


def test_stamped_event_needs_no_second_stamp() -> None:
    stamped = event(
        "success",
        extendedProperties={"private": {OWNED_PROPERTY: "m1", SPACE_PROPERTY: "spaces/x"}},
    )
    d = c.decide(meeting(status="ready", space="spaces/x", meeting_code="abc-defg-hij"), stamped)
    assert not d.stamp_space
    assert d.emits == []


def test_cloud_event_id_is_stable_per_change() -> None:
    m = c.apply(meeting(), {"status": "ready"}, NOW)
    first = c.cloud_event(m, c.READY, NOW, "//src")
    again = c.cloud_event(m, c.READY, NOW + dt.timedelta(seconds=5), "//src")
    assert first["id"] == again["id"]
    assert c.cloud_event(c.apply(m, {}, NOW), c.UPDATED, NOW, "//src")["id"] != first["id"]
    assert first["specversion"] == "1.0"
    assert first["data"]["status"] == "ready"
    assert m.version == 1
    assert c.apply(m, {"event_etag": "x"}, NOW, emits=False).version == 1


def _head(m: Meeting) -> MeetingHead:
    return MeetingHead(m.id, m.event_id, m.event_etag, m.status, m.space)


def test_a_settled_head_means_decide_does_nothing() -> None:
    """`settled` lets a full sync skip reading a record: it may only say so when `decide`
    on the whole record would be a no-op. Checked over every combination of the fields
    it looks at, and it must not be vacuous."""
    settled_count = 0
    for status in ("pending", "ready", "failed", "cancelled", "detached"):
        for space in ("", "spaces/S1"):
            for etag in ('"1"', '"2"', ""):
                for conf in ("pending", "success", "failure"):
                    for stamp in (None, "spaces/S1", "spaces/Other"):
                        private: dict[str, Any] = {OWNED_PROPERTY: "m1"}
                        if stamp:
                            private[SPACE_PROPERTY] = stamp
                        m = meeting(status=status, space=space, meeting_code="abc-defg-hij")
                        e = event(conf, etag=etag, extendedProperties={"private": private})
                        if c.settled(_head(m), e):
                            settled_count += 1
                            assert c.decide(m, e).noop, (status, space, etag, conf, stamp)
    assert settled_count > 20
    # and a head that does not settle: the event moved on, or a stamp is owed
    ready = meeting(status="ready", space="spaces/S1", meeting_code="abc-defg-hij")
    assert not c.settled(_head(ready), event("success", etag='"1"'))
    assert not c.decide(ready, event("success", etag='"1"')).noop
    assert not c.settled(_head(ready), event("success"))


class _Reads(dict[str, Any]):
    """An event that notes every top-level field read from it."""

    def __init__(self, data: dict[str, Any], seen: set[str]) -> None:
        super().__init__(data)
        self.seen = seen

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        self.seen.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.seen.add(str(key))
        return super().__contains__(key)


def test_a_sync_lists_every_field_the_policy_reads() -> None:
    """A sync lists events as a partial response (`LIST_FIELDS`): a field the policy
    reads but the selection leaves out would read as absent, a silent wrong decision.
    Every field read while deciding over every status and event shape is selected."""
    seen: set[str] = set()
    shapes = [
        event("pending"),
        event("success", htmlLink="https://calendar/x", attendees=[{"email": "b@x"}]),
        event("failure"),
        event("success", conferenceData=None),
        event("success", recurrence=["RRULE:FREQ=DAILY"], recurringEventId="r"),
        event(
            "success",
            extendedProperties={"private": {OWNED_PROPERTY: "m1", SPACE_PROPERTY: "spaces/x"}},
        ),
        {"id": "m1", "status": "cancelled", "etag": '"3"'},
    ]
    for status in ("pending", "ready", "failed", "cancelled", "detached"):
        for space in ("", "spaces/x"):
            m = meeting(status=status, space=space, meeting_code="abc-defg-hij" if space else "")
            for shape in shapes:
                c.decide(m, _Reads(shape, seen))
                c.settled(_head(m), _Reads(shape, seen))
                event_.last_end(_Reads(shape, seen))
                event_.owner_meeting(_Reads(shape, seen))
    assert {"etag", "status", "conferenceData", "summary", "start"} <= seen  # not vacuous
    assert seen <= set(event_.LISTED_FIELDS), seen - set(event_.LISTED_FIELDS)


def test_the_series_rule_is_kept_quietly_on_the_record() -> None:
    """A meeting's recurrence decides how long its space is followed; a change of it is no
    announcement of its own (a move or rename of the series is)."""
    weekly = ["RRULE:FREQ=WEEKLY;COUNT=4"]
    d = c.decide(meeting(), event("pending", recurrence=weekly))
    assert d.fields["recurrence"] == weekly and d.emits == []
    same = c.decide(meeting(recurrence=weekly), event("pending", etag='"3"', recurrence=weekly))
    assert "recurrence" not in same.fields
    single = c.decide(meeting(recurrence=weekly), event("pending"))  # made a single meeting
    assert single.fields["recurrence"] == [] and single.emits == []
