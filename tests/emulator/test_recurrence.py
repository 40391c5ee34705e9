"""Recurring events: instances, EXDATE, moved and cancelled instances."""

from __future__ import annotations

from typing import Any

import pytest
from googleapiclient.errors import HttpError

from tests.emulator.support import Harness, run

A = "alice@example.com"


def _weekly() -> dict[str, Any]:
    return {
        "summary": "standup",
        "start": {"dateTime": "2030-01-07T09:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2030-01-07T09:15:00", "timeZone": "Europe/Berlin"},
        "recurrence": [
            "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=6",
            "EXDATE;TZID=Europe/Berlin:20300109T090000",
        ],
    }


def _ids(page: dict[str, Any]) -> list[str]:
    return [e["id"] for e in page["items"]]


def test_instances_exdate_moved_and_cancelled(h: Harness) -> None:
    cal = h.calendar(A)
    master = run(cal.events().insert(calendarId="primary", body=_weekly()))
    mid = master["id"]
    instances = run(cal.events().instances(calendarId="primary", eventId=mid))
    assert _ids(instances) == [
        f"{mid}_20300107T080000Z",
        f"{mid}_20300114T080000Z",
        f"{mid}_20300116T080000Z",
        f"{mid}_20300121T080000Z",
        f"{mid}_20300123T080000Z",
    ]
    first = instances["items"][0]
    assert first["recurringEventId"] == mid
    assert first["originalStartTime"] == {
        "dateTime": "2030-01-07T09:00:00+01:00",
        "timeZone": "Europe/Berlin",
    }
    with pytest.raises(HttpError) as excluded:
        run(cal.events().get(calendarId="primary", eventId=f"{mid}_20300109T080000Z"))
    assert excluded.value.resp.status == 404

    _, token = _full(cal)
    moved = run(
        cal.events().patch(
            calendarId="primary",
            eventId=f"{mid}_20300114T080000Z",
            body={
                "start": {"dateTime": "2030-01-14T11:00:00+01:00"},
                "end": {"dateTime": "2030-01-14T11:30:00+01:00"},
            },
        )
    )
    assert moved["recurringEventId"] == mid
    assert moved["originalStartTime"]["dateTime"] == "2030-01-14T09:00:00+01:00"
    run(cal.events().delete(calendarId="primary", eventId=f"{mid}_20300116T080000Z"))
    cancelled = run(cal.events().get(calendarId="primary", eventId=f"{mid}_20300116T080000Z"))
    assert cancelled["status"] == "cancelled"

    after = run(cal.events().instances(calendarId="primary", eventId=mid))
    assert len(after["items"]) == 4
    assert after["items"][1]["start"]["dateTime"] == "2030-01-14T11:00:00+01:00"
    assert f"{mid}_20300116T080000Z" not in _ids(after)
    with_deleted = run(cal.events().instances(calendarId="primary", eventId=mid, showDeleted=True))
    assert len(with_deleted["items"]) == 5

    expanded = run(
        cal.events().list(
            calendarId="primary",
            singleEvents=True,
            orderBy="startTime",
            timeMin="2030-01-14T00:00:00Z",
        )
    )
    assert _ids(expanded) == [
        f"{mid}_20300114T080000Z",
        f"{mid}_20300121T080000Z",
        f"{mid}_20300123T080000Z",
    ]
    masters = run(cal.events().list(calendarId="primary"))
    assert _ids(masters) == [mid, f"{mid}_20300114T080000Z"]

    changes = run(cal.events().list(calendarId="primary", syncToken=token))
    assert {(e["id"], e["status"]) for e in changes["items"]} == {
        (f"{mid}_20300114T080000Z", "confirmed"),
        (f"{mid}_20300116T080000Z", "cancelled"),
    }


def _full(cal: Any) -> tuple[list[dict[str, Any]], str]:
    page = run(cal.events().list(calendarId="primary"))
    return page["items"], page["nextSyncToken"]


def test_daily_all_day_monthly_interval_until(h: Harness) -> None:
    cal = h.calendar(A)
    daily = run(
        cal.events().insert(
            calendarId="primary",
            body={
                "summary": "all day",
                "start": {"date": "2030-05-01"},
                "end": {"date": "2030-05-02"},
                "recurrence": ["RRULE:FREQ=DAILY;INTERVAL=2;COUNT=3"],
            },
        )
    )
    assert _ids(run(cal.events().instances(calendarId="primary", eventId=daily["id"]))) == [
        f"{daily['id']}_20300501",
        f"{daily['id']}_20300503",
        f"{daily['id']}_20300505",
    ]
    monthly = run(
        cal.events().insert(
            calendarId="primary",
            body={
                "summary": "monthly",
                "start": {"dateTime": "2030-01-31T10:00:00Z"},
                "end": {"dateTime": "2030-01-31T11:00:00Z"},
                "recurrence": ["RRULE:FREQ=MONTHLY;UNTIL=20300601T000000Z"],
            },
        )
    )
    starts = [
        e["start"]["dateTime"]
        for e in run(cal.events().instances(calendarId="primary", eventId=monthly["id"]))["items"]
    ]
    assert starts == ["2030-01-31T10:00:00Z", "2030-03-31T10:00:00Z", "2030-05-31T10:00:00Z"]
    with pytest.raises(HttpError) as bad_rule:
        run(
            cal.events().insert(
                calendarId="primary",
                body={**_weekly(), "recurrence": ["RRULE:FREQ=SOMETIMES"]},
            )
        )
    assert bad_rule.value.resp.status == 400
    run(cal.events().delete(calendarId="primary", eventId=monthly["id"]))
    gone = run(cal.events().instances(calendarId="primary", eventId=monthly["id"]))
    assert gone["items"] == []


def test_single_events_incremental_sync(h: Harness) -> None:
    cal = h.calendar(A)
    body = {
        "summary": "daily",
        "start": {"dateTime": "2030-06-01T10:00:00Z"},
        "end": {"dateTime": "2030-06-01T11:00:00Z"},
        "recurrence": ["RRULE:FREQ=DAILY;COUNT=3"],
    }
    mid = run(cal.events().insert(calendarId="primary", body=body))["id"]
    full = run(cal.events().list(calendarId="primary", singleEvents=True))
    assert len(full["items"]) == 3
    second = f"{mid}_20300602T100000Z"
    run(cal.events().patch(calendarId="primary", eventId=second, body={"summary": "moved"}))
    changes = run(
        cal.events().list(calendarId="primary", singleEvents=True, syncToken=full["nextSyncToken"])
    )
    assert [(e["id"], e["summary"]) for e in changes["items"]] == [(second, "moved")]
    run(cal.events().delete(calendarId="primary", eventId=mid))
    gone = run(
        cal.events().list(
            calendarId="primary", singleEvents=True, syncToken=changes["nextSyncToken"]
        )
    )
    assert sorted((e["id"], e["status"]) for e in gone["items"]) == [
        (f"{mid}_20300601T100000Z", "cancelled"),
        (second, "cancelled"),
        (f"{mid}_20300603T100000Z", "cancelled"),
    ]
