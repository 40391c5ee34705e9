"""iCalendar parsing (malformed files say where) and the import rules, with a fake Calendar."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.domain.models import Meeting, User
from shared.domain.errors import NotFoundError
from shared.services import importer as imp

Json = dict[str, Any]

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
X-WR-TIMEZONE:Europe/Berlin
BEGIN:VEVENT
UID:weekly@example.com
DTSTART;TZID=Europe/Berlin:20261207T100000
DTEND;TZID=Europe/Berlin:20261207T110000
RRULE:FREQ=WEEKLY;COUNT=4
EXDATE;TZID=Europe/Berlin:20261221T100000
SUMMARY:Weekly
ORGANIZER;CN=Alice:mailto:alice@example.com
ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Bob:mailto:bob@example.com
END:VEVENT
BEGIN:VEVENT
UID:weekly@example.com
RECURRENCE-ID;TZID=Europe/Berlin:20261214T100000
DTSTART;TZID=Europe/Berlin:20261214T150000
DTEND;TZID=Europe/Berlin:20261214T160000
SUMMARY:Weekly (moved)
END:VEVENT
BEGIN:VEVENT
UID:lunch@example.com
DTSTART:20261208T120000Z
DTEND:20261208T130000Z
SUMMARY:Lunch
DESCRIPTION:long
  folded line
END:VEVENT
BEGIN:VEVENT
UID:holiday@example.com
DTSTART;VALUE=DATE:20261224
SUMMARY:Holiday
TRANSP:TRANSPARENT
END:VEVENT
END:VCALENDAR
"""


def test_parse_masters_exceptions_and_all_day() -> None:
    items = imp.parse_ics(ICS.encode())
    weekly, moved, lunch, holiday = items
    assert weekly.body["start"] == {
        "dateTime": "2026-12-07T10:00:00+01:00",
        "timeZone": "Europe/Berlin",
    }
    assert weekly.body["recurrence"] == [
        "RRULE:FREQ=WEEKLY;COUNT=4",
        "EXDATE;TZID=Europe/Berlin:20261221T100000",
    ]
    assert weekly.body["organizer"] == {"email": "alice@example.com", "displayName": "Alice"}
    assert weekly.body["attendees"] == [
        {
            "email": "bob@example.com",
            "displayName": "Bob",
            "optional": True,
            "responseStatus": "accepted",
        }
    ]
    assert moved.recurrence_id == "20261214T090000Z" and moved.uid == weekly.uid
    assert "recurrence" not in moved.body
    assert lunch.body["start"] == {"dateTime": "2026-12-08T12:00:00Z"}
    assert lunch.body["description"] == "long folded line"
    assert holiday.body["start"] == {"date": "2026-12-24"} and holiday.body["end"] == {
        "date": "2026-12-25"
    }
    assert holiday.body["transparency"] == "transparent"
    assert [i.line for i in items] == [5, 15, 22, 30]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("", "empty"),
        ("garbage\n", "line 1"),
        ("BEGIN:VEVENT\nEND:VEVENT\n", "line 1"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\nno colon here\nEND:VEVENT\nEND:VCALENDAR\n",
         "line 4"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\nEND:VCALENDAR\n", "line 4"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\nDTSTART:20260101T100000Z\nEND:VEVENT\n", "line 1"),
        ("BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n", "no VEVENT"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\nDTSTART:2026xx\nEND:VEVENT\nEND:VCALENDAR\n",
         "line 2"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20260101T100000Z\nEND:VEVENT\nEND:VCALENDAR\n",
         "no UID"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\nEND:VEVENT\nEND:VCALENDAR\n", "no DTSTART"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\nDTSTART:20260102T100000Z\nDTEND:20260101T100000Z\n"
         "END:VEVENT\nEND:VCALENDAR\n", "DTEND is before"),
        ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:1\nDTSTART:20260101T100000Z\nEND:VEVENT\n"
         "BEGIN:VEVENT\nUID:1\nDTSTART:20260101T100000Z\nEND:VEVENT\nEND:VCALENDAR\n",
         "appears twice"),
    ],
)  # fmt: skip
def test_malformed_files_say_where(text: str, where: str) -> None:
    with pytest.raises(imp.MalformedCalendar) as info:
        imp.parse_ics(text.encode())
    assert where in str(info.value)


def test_not_utf8() -> None:
    with pytest.raises(imp.MalformedCalendar, match="UTF-8"):
        imp.parse_ics(b"BEGIN:VCALENDAR\n\xff\xfe")


class FakeCalendar:
    """Import keyed by iCalUID; instances `{id}_{stamp}` of recurring masters; patch merges."""

    def __init__(self) -> None:
        self.events: dict[str, Json] = {}
        self.n = 0

    def list_by_ical_uid(self, user: str, calendar_id: str, ical_uid: str) -> list[Json]:
        return [copy.deepcopy(e) for e in self.events.values() if e["iCalUID"] == ical_uid]

    def import_event(self, user: str, calendar_id: str, body: Json) -> Json:
        for event in self.events.values():
            if event["iCalUID"] == body["iCalUID"] and "recurringEventId" not in event:
                event.update(copy.deepcopy(body))
                return copy.deepcopy(event)
        self.n += 1
        event = {**copy.deepcopy(body), "id": f"ev{self.n}", "etag": f'"{self.n}"'}
        self.events[event["id"]] = event
        return copy.deepcopy(event)

    def get_event(self, user: str, calendar_id: str, event_id: str) -> Json:
        if event_id in self.events:
            return copy.deepcopy(self.events[event_id])
        master, _, stamp = event_id.partition("_")
        if master in self.events and stamp in ("20261214T090000Z",):
            return {**self.events[master], "id": event_id, "recurringEventId": master}
        raise NotFoundError("nf", status=404)

    def patch_event(
        self, user: str, calendar_id: str, event_id: str, body: Json, *, etag: str
    ) -> Json:
        current = self.get_event(user, calendar_id, event_id)
        current.update(copy.deepcopy(body))
        current.pop("recurrence", None)
        self.events[event_id] = current
        return copy.deepcopy(current)


class FakeStore:
    def __init__(self) -> None:
        self.users = {"alice@example.com": User(email="alice@example.com")}

    def get_user(self, email: str) -> User | None:
        return self.users.get(email)

    def set_user_status(self, email: str, status: str) -> None:
        self.users[email].status = status

    def get_meeting(self, meeting_id: str) -> Meeting | None:
        return None

    def create_meeting(self, meeting: Meeting) -> tuple[Meeting, bool]:
        raise AssertionError

    def update_meeting(self, meeting_id: str, change: Any) -> Meeting | None:
        raise AssertionError


def test_import_twice_updates_and_never_duplicates() -> None:
    cal = FakeCalendar()
    runner = imp.Importer(calendar=cal, store=FakeStore())
    items = imp.parse_ics(ICS.encode())
    first = runner.run("alice@example.com", "primary", items)
    assert [(r["uid"], r["status"]) for r in first] == [
        ("weekly@example.com", "imported"),
        ("lunch@example.com", "imported"),
        ("holiday@example.com", "imported"),
        ("weekly@example.com", "imported"),
    ]
    assert first[3]["eventId"] == "ev1_20261214T090000Z"
    assert cal.events["ev1_20261214T090000Z"]["summary"] == "Weekly (moved)"
    count = len(cal.events)
    second = runner.run("alice@example.com", "primary", items)
    assert {r["status"] for r in second} == {"updated"}
    assert len(cal.events) == count == 4


def test_exception_without_an_occurrence_fails_alone() -> None:
    text = ICS.replace(
        "RECURRENCE-ID;TZID=Europe/Berlin:20261214T100000", "RECURRENCE-ID:20270101T000000Z"
    )
    results = imp.Importer(calendar=FakeCalendar(), store=FakeStore()).run(
        "alice@example.com", "primary", imp.parse_ics(text.encode())
    )
    failed = [r for r in results if r["status"] == "failed"]
    assert len(failed) == 1 and "RECURRENCE-ID" in failed[0]["error"]


def test_unknown_user_is_refused() -> None:
    from shared.services.meetings import UnknownOrganizer

    with pytest.raises(UnknownOrganizer):
        imp.Importer(calendar=FakeCalendar(), store=FakeStore()).run("x@example.com", "primary", [])
