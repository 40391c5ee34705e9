"""The iCalendar parser: malformed files say where, and time zones are never guessed
(a file's VTIMEZONE, then IANA, then Windows names; an unknown TZID fails its event alone)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest

from shared import ics
from shared.domain.models import User
from shared.domain.refusals import Kind, Refusal
from shared.services.importer import Importer
from tests.unit.ics_sample import ICS

Json = dict[str, Any]


def test_parse_masters_exceptions_and_all_day() -> None:
    items = ics.parse_ics(ICS.encode())
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
    assert not any(i.error for i in items)


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
def test_malformed_files_are_refused_saying_where(text: str, where: str) -> None:
    with pytest.raises(Refusal) as info:
        ics.parse_ics(text.encode())
    assert info.value.kind == Kind.INVALID and info.value.field == "body"
    assert where in info.value.message


def test_not_utf8() -> None:
    with pytest.raises(Refusal, match="UTF-8"):
        ics.parse_ics(b"BEGIN:VCALENDAR\n\xff\xfe")


# -- time zones ----------------------------------------------------------------------------------

EU_RULES = """BEGIN:STANDARD
DTSTART:16011028T030000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010325T020000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
"""
"""Central European rules, as Outlook writes them."""

FIXED_0530 = """BEGIN:STANDARD
DTSTART:19700101T000000
TZOFFSETFROM:+0530
TZOFFSETTO:+0530
END:STANDARD
"""

ODD_RULES = """BEGIN:STANDARD
DTSTART:19700906T020000
RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=9
TZOFFSETFROM:+0400
TZOFFSETTO:+0300
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700503T020000
RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=5
TZOFFSETFROM:+0300
TZOFFSETTO:+0400
END:DAYLIGHT
"""
"""+03:00 with summer time from May to September: no IANA zone has these rules."""


def vtimezone(tzid: str, rules: str, extra: str = "") -> str:
    return f"BEGIN:VTIMEZONE\nTZID:{tzid}\n{extra}{rules}END:VTIMEZONE\n"


def vevent(uid: str, tzid: str, start: str, *, weekly: bool = False, exdate: str = "") -> str:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTART;TZID={tzid}:{start}",
        f"DTEND;TZID={tzid}:{start[:9]}{int(start[9:11]) + 1:02d}{start[11:]}",
    ]
    if weekly:
        lines.append("RRULE:FREQ=WEEKLY;COUNT=10")
    if exdate:
        lines.append(f"EXDATE;TZID={tzid}:{exdate}")
    return "\n".join([*lines, f"SUMMARY:{uid}", "END:VEVENT", ""])


def calendar(*parts: str) -> bytes:
    return ("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n" + "".join(parts)).encode() + (
        b"END:VCALENDAR\n"
    )


def instant(edt: Json) -> dt.datetime:
    return dt.datetime.fromisoformat(edt["dateTime"].replace("Z", "+00:00"))


def agrees(edt: Json) -> bool:
    """The `timeZone` names the offset the `dateTime` carries (so Calendar reads one instant)."""
    when = instant(edt)
    return when.astimezone(zoneinfo.ZoneInfo(edt["timeZone"])).utcoffset() == when.utcoffset()


def test_a_made_up_tzid_defined_in_the_file_is_used_and_sent_with_an_iana_equivalent() -> None:
    items = ics.parse_ics(
        calendar(
            vtimezone("Mars/Olympus", FIXED_0530),
            vevent("once", "Mars/Olympus", "20261207T100000"),
            vevent(
                "weekly", "Mars/Olympus", "20261207T100000", weekly=True, exdate="20261214T100000"
            ),
        )
    )
    once, weekly = items
    assert once.body["start"]["dateTime"] == "2026-12-07T10:00:00+05:30"
    assert instant(once.body["start"]) == dt.datetime(2026, 12, 7, 4, 30, tzinfo=dt.UTC)
    assert agrees(once.body["start"]) and agrees(once.body["end"])
    zone = zoneinfo.ZoneInfo(weekly.body["start"]["timeZone"])
    for week in range(104):  # every occurrence Calendar expands stays at 10:00 +05:30
        when = dt.datetime(2026, 12, 7, 10, tzinfo=zone) + dt.timedelta(weeks=week)
        assert when.utcoffset() == dt.timedelta(hours=5, minutes=30)
    assert weekly.body["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=10", "EXDATE:20261214T043000Z"]


def test_a_custom_vtimezone_with_real_rules_follows_them_and_prefers_x_lic_location() -> None:
    items = ics.parse_ics(
        calendar(
            vtimezone("Customized Time Zone", EU_RULES, "X-LIC-LOCATION:Europe/Paris\n"),
            vtimezone("Outlook Zone", EU_RULES),
            vevent("winter", "Customized Time Zone", "20260107T100000", weekly=True),
            vevent("summer", "Customized Time Zone", "20260707T100000", weekly=True),
            vevent("unnamed", "Outlook Zone", "20260707T100000", weekly=True),
        )
    )
    winter, summer, unnamed = items
    assert winter.body["start"] == {
        "dateTime": "2026-01-07T10:00:00+01:00",
        "timeZone": "Europe/Paris",
    }
    assert summer.body["start"] == {
        "dateTime": "2026-07-07T10:00:00+02:00",
        "timeZone": "Europe/Paris",
    }
    assert unnamed.body["start"]["dateTime"] == "2026-07-07T10:00:00+02:00"
    zone = zoneinfo.ZoneInfo(unnamed.body["start"]["timeZone"])
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    for day in range(730):  # the equivalent chosen has the file's rules, DST dates included
        when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=day, hours=1)
        assert when.astimezone(zone).utcoffset() == when.astimezone(paris).utcoffset()


def test_the_files_vtimezone_wins_over_an_iana_zone_of_the_same_name() -> None:
    shadowed = ics.parse_ics(
        calendar(
            vtimezone("Europe/Berlin", FIXED_0530),
            vevent("once", "Europe/Berlin", "20260707T100000"),
            vevent(
                "weekly", "Europe/Berlin", "20260707T100000", weekly=True, exdate="20260714T100000"
            ),
        )
    )
    once, weekly = shadowed
    assert once.body["start"]["dateTime"] == "2026-07-07T10:00:00+05:30"  # not Berlin's +02:00
    assert once.body["start"]["timeZone"] != "Europe/Berlin" and agrees(once.body["start"])
    assert weekly.body["start"]["timeZone"] != "Europe/Berlin" and agrees(weekly.body["start"])
    assert weekly.body["recurrence"][1] == "EXDATE:20260714T043000Z"

    same_rules = ics.parse_ics(
        calendar(
            vtimezone("Europe/Berlin", EU_RULES),
            vevent(
                "weekly", "Europe/Berlin", "20260707T100000", weekly=True, exdate="20260714T100000"
            ),
        )
    )
    assert same_rules[0].body["start"] == {
        "dateTime": "2026-07-07T10:00:00+02:00",
        "timeZone": "Europe/Berlin",
    }
    assert same_rules[0].body["recurrence"][1] == "EXDATE;TZID=Europe/Berlin:20260714T100000"


def test_an_iana_name_is_used_as_it_is() -> None:
    (item,) = ics.parse_ics(
        calendar(vevent("nyc", "America/New_York", "20260707T100000", weekly=True))
    )
    assert item.body["start"] == {
        "dateTime": "2026-07-07T10:00:00-04:00",
        "timeZone": "America/New_York",
    }


@pytest.mark.parametrize(
    ("windows", "iana", "start", "exdate"),
    [
        ("Pacific Standard Time", "America/Los_Angeles", "2026-12-07T10:00:00-08:00",
         "EXDATE:20261214T180000Z"),
        ("W. Europe Standard Time", "Europe/Berlin", "2026-12-07T10:00:00+01:00",
         "EXDATE:20261214T090000Z"),
    ],
)  # fmt: skip
def test_a_windows_zone_name_maps_to_iana(windows: str, iana: str, start: str, exdate: str) -> None:
    (item,) = ics.parse_ics(
        calendar(vevent("w", windows, "20261207T100000", weekly=True, exdate="20261214T100000"))
    )
    assert item.body["start"] == {"dateTime": start, "timeZone": iana}
    assert item.body["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=10", exdate]


def test_a_custom_zone_with_no_iana_equivalent_fails_only_when_it_must_repeat() -> None:
    once, weekly = ics.parse_ics(
        calendar(
            vtimezone("Odd", ODD_RULES),
            vevent("once", "Odd", "20260707T100000"),
            vevent("weekly", "Odd", "20260707T100000", weekly=True),
        )
    )
    assert once.body["start"] == {"dateTime": "2026-07-07T10:00:00+04:00"}  # exact, no zone name
    assert not once.error
    assert "'Odd'" in weekly.error and "IANA" in weekly.error and weekly.body == {}


def test_an_unknown_tzid_fails_its_event_only() -> None:
    items = ics.parse_ics(
        calendar(
            vevent("mars", "Mars/Olympus", "20261207T100000"),
            vevent("berlin", "Europe/Berlin", "20261207T100000"),
        )
    )
    assert "unknown time zone 'Mars/Olympus'" in items[0].error and items[0].error.startswith(
        "line 4: "
    )
    assert not items[1].error and items[1].body["start"]["timeZone"] == "Europe/Berlin"


def test_a_definition_does_not_leak_into_the_next_file() -> None:
    """icalendar caches VTIMEZONEs process-wide; a warm instance must not resolve a TZID
    that only an earlier request's file defined."""
    ics.parse_ics(
        calendar(
            vtimezone("Mars/Olympus", FIXED_0530), vevent("a", "Mars/Olympus", "20261207T100000")
        )
    )
    (item,) = ics.parse_ics(calendar(vevent("b", "Mars/Olympus", "20261207T100000")))
    assert "unknown time zone 'Mars/Olympus'" in item.error


def test_floating_times_take_a_windows_x_wr_timezone() -> None:
    text = calendar(
        "X-WR-TIMEZONE:Tokyo Standard Time\n",
        "BEGIN:VEVENT\nUID:f\nDTSTART:20261207T100000\nEND:VEVENT\n",
    )
    (item,) = ics.parse_ics(text)
    assert item.body["start"] == {"dateTime": "2026-12-07T10:00:00", "timeZone": "Asia/Tokyo"}


# -- through the Importer ------------------------------------------------------------------------


class RecordingCalendar:
    """Imports every event it is given and records each call."""

    def __init__(self) -> None:
        self.imported: list[Json] = []
        self.calls: list[tuple[str, str]] = []

    def list_by_ical_uid(self, user: str, calendar_id: str, ical_uid: str) -> list[Json]:
        self.calls.append(("list", ical_uid))
        return []

    def import_event(self, user: str, calendar_id: str, body: Json) -> Json:
        self.calls.append(("import", body["iCalUID"]))
        self.imported.append(body)
        return {**body, "id": f"ev{len(self.imported)}"}

    def get_event(self, user: str, calendar_id: str, event_id: str) -> Json:
        self.calls.append(("get", event_id))
        master = next(e for i, e in enumerate(self.imported, 1) if event_id.startswith(f"ev{i}_"))
        return {**master, "id": event_id, "etag": '"1"'}

    def patch_event(
        self, user: str, calendar_id: str, event_id: str, body: Json, *, etag: str
    ) -> Json:
        self.calls.append(("patch", event_id))
        return {**body, "id": event_id}


class OneUser:
    def __init__(self) -> None:
        self.user = User(email="alice@example.com")

    def get_user(self, email: str) -> User | None:
        return self.user if email == self.user.email else None

    def put_user(self, user: User) -> None:
        self.user = user

    def set_user_status(self, email: str, status: str) -> None:
        self.user.status = status


def test_an_unknown_zone_fails_alone_and_the_rest_of_the_file_imports() -> None:
    text = calendar(
        vtimezone("Customized Time Zone", EU_RULES),
        vevent("utc@example.com", "UTC", "20261207T100000"),
        vevent("mars@example.com", "Mars/Olympus", "20261207T100000"),
        vevent("custom@example.com", "Customized Time Zone", "20261207T100000", weekly=True),
        vevent("pacific@example.com", "Pacific Standard Time", "20261207T100000"),
        "BEGIN:VEVENT\nUID:custom@example.com\nRECURRENCE-ID;TZID=Nowhere:20261214T100000\n"
        "DTSTART:20261214T150000Z\nSUMMARY:moved\nEND:VEVENT\n",
    )
    items = ics.parse_ics(text)
    assert [bool(i.error) for i in items] == [False, True, False, False, True]
    cal = RecordingCalendar()
    results = Importer(calendar=cal, store=OneUser()).run("alice@example.com", "primary", items)

    assert [(r["uid"], r["status"]) for r in results] == [
        ("utc@example.com", "imported"),
        ("mars@example.com", "failed"),
        ("custom@example.com", "imported"),
        ("pacific@example.com", "imported"),
        ("custom@example.com", "failed"),
    ]
    mars, exception = results[1], results[4]
    assert mars["eventId"] is None and "unknown time zone 'Mars/Olympus'" in mars["error"]
    assert exception["recurrenceId"] == "20261214T100000" and "'Nowhere'" in exception["error"]
    assert [e["iCalUID"] for e in cal.imported] == [
        "utc@example.com",
        "custom@example.com",
        "pacific@example.com",
    ]
    assert not [c for c in cal.calls if c[0] in ("get", "patch")]  # the failed exception
    assert cal.imported[0]["start"] == {"dateTime": "2026-12-07T10:00:00Z"}
    custom = cal.imported[1]["start"]
    assert custom["dateTime"] == "2026-12-07T10:00:00+01:00" and agrees(custom)
    assert cal.imported[2]["start"] == {
        "dateTime": "2026-12-07T10:00:00-08:00",
        "timeZone": "America/Los_Angeles",
    }
