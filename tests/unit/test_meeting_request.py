"""Create-meeting request parsing: every rejection names its field; equal meaning, equal hash."""

from __future__ import annotations

import re
from typing import Any

import pytest

from shared.domain import meeting_request as mr
from shared.domain import validate
from shared.domain.event import OWNED_PROPERTY, SPACE_PROPERTY, event_body
from shared.domain.ids import meeting_id
from shared.domain.refusals import Kind, Refusal

BASE: dict[str, Any] = {
    "organizer": "Alice@Example.com",
    "summary": "Planning",
    "start": "2026-12-01T10:00:00+01:00",
    "end": "2026-12-01T11:00:00+01:00",
}


def parse(**changes: Any) -> mr.MeetingRequest:
    body = {**BASE, **changes}
    return mr.parse({k: v for k, v in body.items() if v is not None}, max_attendees=3)


def rejected(body: dict[str, Any]) -> Refusal:
    with pytest.raises(Refusal) as info:
        mr.parse(body, max_attendees=3)
    assert info.value.kind is Kind.INVALID
    return info.value


def test_minimal_request_defaults_to_a_calendar_conference() -> None:
    req = parse()
    assert req.organizer == "alice@example.com"
    assert req.mode == "calendar" and req.calendar_id == "primary" and req.send_updates == "none"
    assert req.start == {"dateTime": "2026-12-01T10:00:00+01:00"}


def test_time_zone_is_added_to_both_times() -> None:
    req = parse(timeZone="Europe/Berlin")
    assert req.start["timeZone"] == req.end["timeZone"] == "Europe/Berlin"


def test_all_day_dates() -> None:
    req = parse(start="2026-12-01", end="2026-12-02")
    assert req.start == {"date": "2026-12-01"} and req.end == {"date": "2026-12-02"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"organizer": "not-an-email"}, "organizer"),
        ({"organizer": None}, "organizer"),
        ({"summary": None}, "summary"),
        ({"summary": "  "}, "summary"),
        ({"summary": 5}, "summary"),
        ({"start": None}, "start"),
        ({"start": "2026-12-01T10:00:00"}, "start"),
        ({"start": "2026-13-01T10:00:00Z"}, "start"),
        ({"end": "tomorrow"}, "end"),
        ({"end": "2026-12-01T09:00:00+01:00"}, "end"),
        ({"end": "2026-12-01T10:00:00+01:00"}, "end"),
        ({"start": "2026-12-01", "end": "2026-12-02T00:00:00Z"}, "end"),
        ({"start": "2026-12-02", "end": "2026-12-02"}, "end"),
        ({"timeZone": "Mars/Olympus"}, "timeZone"),
        ({"timeZone": "../etc/passwd"}, "timeZone"),
        ({"attendees": "bob@example.com"}, "attendees"),
        ({"attendees": ["a@x.io", "b@x.io", "c@x.io", "d@x.io"]}, "attendees"),
        ({"attendees": ["bob"]}, "attendees[0]"),
        ({"attendees": [{"email": "bob@x"}]}, "attendees[0].email"),
        ({"attendees": [{"email": "b@x.io", "role": "x"}]}, "attendees[0].role"),
        ({"attendees": [{"email": "b@x.io", "optional": "yes"}]}, "attendees[0].optional"),
        ({"attendees": [7]}, "attendees[0]"),
        ({"recurrence": "RRULE:FREQ=DAILY"}, "recurrence"),
        ({"recurrence": ["RRULE:COUNT=3"], "timeZone": "UTC"}, "recurrence[0]"),
        ({"recurrence": ["FREQ=DAILY"], "timeZone": "UTC"}, "recurrence[0]"),
        ({"recurrence": ["RRULE:FREQ=DAILY;COUNT=3"]}, "timeZone"),
        ({"reminders": []}, "reminders"),
        ({"reminders": {"useDefault": True, "overrides": [{"method": "popup", "minutes": 5}]}},
         "reminders.overrides"),
        ({"reminders": {"overrides": [{"method": "sms", "minutes": 5}]}},
         "reminders.overrides[0].method"),
        ({"reminders": {"overrides": [{"method": "popup", "minutes": -1}]}},
         "reminders.overrides[0].minutes"),
        ({"reminders": {"overrides": [{"method": "popup", "minutes": True}]}},
         "reminders.overrides[0].minutes"),
        ({"reminders": {"when": 1}}, "reminders.when"),
        ({"sendUpdates": "everyone"}, "sendUpdates"),
        ({"calendarId": "a/b"}, "calendarId"),
        ({"calendarId": ""}, "calendarId"),
        ({"conference": "space"}, "conference"),
        ({"conference": {"mode": "zoom"}}, "conference.mode"),
        ({"conference": {"mode": "space", "recording": "ON"}}, "conference.recording"),
        ({"conference": {"mode": "space", "accessType": "PUBLIC"}}, "conference.accessType"),
        ({"conference": {"accessType": "OPEN"}}, "conference.accessType"),
        ({"conference": {"mode": "instant"}}, "start"),
    ],
)  # fmt: skip
def test_bad_input_names_the_field(changes: dict[str, Any], field: str) -> None:
    body = {k: v for k, v in {**BASE, **changes}.items() if v is not None}
    assert rejected(body).field == field


def test_instant_needs_only_an_organizer() -> None:
    req = mr.parse(
        {"organizer": "a@x.io", "conference": {"mode": "instant", "accessType": "OPEN"}},
        max_attendees=3,
    )
    assert req.mode == "instant" and req.space_config == {"accessType": "OPEN"}
    assert not req.has_event


def test_space_settings_are_kept_for_space_mode() -> None:
    req = parse(conference={"mode": "space", "moderation": "ON", "entryPointAccess": "ALL"})
    assert req.space_config == {"moderation": "ON", "entryPointAccess": "ALL"}


def test_attendees_normalise_to_the_same_hash() -> None:
    a = parse(attendees=["Bob@X.io", {"email": "carol@x.io"}, "bob@x.io"])
    b = parse(attendees=[{"email": "bob@x.io", "optional": False}, "carol@x.io"])
    assert a.attendees == b.attendees
    assert a.body_hash() == b.body_hash()
    assert parse(summary="Other").body_hash() != a.body_hash()


def test_meeting_id_is_base32hex_and_derived_from_organizer_and_key() -> None:
    one = meeting_id("alice@example.com", "key-1")
    assert re.fullmatch(r"[a-v0-9]{26}", one)
    assert one == meeting_id("ALICE@example.com", "key-1")
    assert one != meeting_id("bob@example.com", "key-1")
    assert one != meeting_id("alice@example.com", "key-2")
    random_ids = {meeting_id("alice@example.com", None) for _ in range(20)}
    assert len(random_ids) == 20
    assert all(re.fullmatch(r"[a-v0-9]{26}", i) for i in random_ids)


@pytest.mark.parametrize("key", ["", "a" * 256, "with space", "caf\u00e9"])
def test_bad_idempotency_keys(key: str) -> None:
    with pytest.raises(Refusal) as info:
        validate.idempotency_key(key)
    assert info.value.kind is Kind.INVALID
    assert info.value.field == "Idempotency-Key"


def test_good_and_absent_idempotency_keys_pass() -> None:
    assert validate.idempotency_key(None) is None
    assert validate.idempotency_key("a" * 255) == "a" * 255


def test_calendar_event_body_asks_for_a_meet_conference() -> None:
    req = parse(
        attendees=[{"email": "bob@x.io", "optional": True, "displayName": "Bob"}],
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=3", "EXDATE;TZID=Europe/Berlin:20261208T100000"],
        timeZone="Europe/Berlin",
        reminders={"overrides": [{"method": "popup", "minutes": 10}]},
        description="d",
        location="room",
    )
    body = event_body(req, "abc123")
    assert body["id"] == "abc123"
    assert body["conferenceData"]["createRequest"] == {
        "requestId": "abc123",
        "conferenceSolutionKey": {"type": "hangoutsMeet"},
    }
    assert body["extendedProperties"]["private"] == {OWNED_PROPERTY: "abc123"}
    assert body["attendees"] == [{"email": "bob@x.io", "optional": True, "displayName": "Bob"}]
    assert body["recurrence"][1].startswith("EXDATE")
    assert body["reminders"] == {
        "useDefault": False,
        "overrides": [{"method": "popup", "minutes": 10}],
    }


def test_space_event_body_copies_the_conference() -> None:
    space = {
        "name": "spaces/AbC",
        "meetingCode": "abc-defg-hij",
        "meetingUri": "https://meet.google.com/abc-defg-hij",
    }
    body = event_body(parse(conference={"mode": "space"}), "abc123", space)
    data = body["conferenceData"]
    assert "createRequest" not in data
    assert data["conferenceId"] == "abc-defg-hij"
    assert data["conferenceSolution"]["key"] == {"type": "hangoutsMeet"}
    assert data["entryPoints"] == [
        {"entryPointType": "video", "uri": "https://meet.google.com/abc-defg-hij",
         "label": "meet.google.com/abc-defg-hij"}
    ]  # fmt: skip
    assert body["extendedProperties"]["private"][SPACE_PROPERTY] == "spaces/AbC"
