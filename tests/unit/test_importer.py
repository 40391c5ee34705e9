"""The import rules of the Importer service (idempotent re-import, exceptions onto their
instances, events the parser could not read reported alone), with a fake Calendar.

The files are parsed with `shared.ics`; its own rules are tested in test_ics.py."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared import ics
from shared.domain.errors import NotFoundError
from shared.domain.imports import ImportItem
from shared.domain.models import User
from shared.services import importer as imp
from tests.unit.ics_sample import ICS

Json = dict[str, Any]


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

    def put_user(self, user: User) -> None:
        self.users[user.email] = user

    def set_user_status(self, email: str, status: str) -> None:
        self.users[email].status = status


def test_import_twice_updates_and_never_duplicates() -> None:
    cal = FakeCalendar()
    runner = imp.Importer(calendar=cal, store=FakeStore())
    items = ics.parse_ics(ICS.encode())
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
        "alice@example.com", "primary", ics.parse_ics(text.encode())
    )
    failed = [r for r in results if r["status"] == "failed"]
    assert len(failed) == 1 and "RECURRENCE-ID" in failed[0]["error"]


def test_an_event_the_parser_could_not_read_fails_alone_without_calendar_calls() -> None:
    cal = FakeCalendar()
    bad = ImportItem(
        uid="weekly@example.com",
        line=15,
        body={},
        recurrence_id="20261214T100000",
        error="line 15: VEVENT 'weekly@example.com': RECURRENCE-ID: unknown time zone 'X'",
    )
    good = [i for i in ics.parse_ics(ICS.encode()) if not i.recurrence_id]
    results = imp.Importer(calendar=cal, store=FakeStore()).run(
        "alice@example.com", "primary", [bad, *good]
    )
    assert [(r["uid"], r["status"]) for r in results] == [
        ("weekly@example.com", "imported"),
        ("lunch@example.com", "imported"),
        ("holiday@example.com", "imported"),
        ("weekly@example.com", "failed"),
    ]
    assert results[3] == {
        "uid": "weekly@example.com",
        "status": "failed",
        "eventId": None,
        "error": bad.error,
        "recurrenceId": "20261214T100000",
    }
    assert len(cal.events) == 3  # the three masters; nothing patched for the failed exception


def test_unknown_user_is_refused_before_any_calendar_call() -> None:
    cal = FakeCalendar()
    # The refusal's type is being moved to shared.domain.refusals; its message is the contract.
    with pytest.raises(Exception, match=r"x@example\.com is not a user of this product"):
        imp.Importer(calendar=cal, store=FakeStore()).run(
            "x@example.com", "primary", ics.parse_ics(ICS.encode())
        )
    assert cal.events == {}
