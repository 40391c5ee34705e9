"""import_events end to end: a multi-event .ics with a recurring event and an exception,
imported twice through the real function, leaves exactly one copy in the emulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.stack import Stack, http
from meetsync_cli.app import main as meetsync
from tests.e2e import contract

pytestmark = pytest.mark.e2e

ALICE = "alice@example.com"
ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//meetsync test//EN
BEGIN:VEVENT
UID:standup@example.com
DTSTART;TZID=Europe/Berlin:20261207T093000
DTEND;TZID=Europe/Berlin:20261207T094500
RRULE:FREQ=DAILY;COUNT=5
EXDATE;TZID=Europe/Berlin:20261209T093000
SUMMARY:Standup
ORGANIZER;CN=Carol:mailto:carol@example.com
ATTENDEE;CN=Alice;PARTSTAT=ACCEPTED:mailto:alice@example.com
ATTENDEE;ROLE=OPT-PARTICIPANT:mailto:bob@example.com
END:VEVENT
BEGIN:VEVENT
UID:standup@example.com
RECURRENCE-ID;TZID=Europe/Berlin:20261208T093000
DTSTART;TZID=Europe/Berlin:20261208T140000
DTEND;TZID=Europe/Berlin:20261208T141500
SUMMARY:Standup (afternoon)
END:VEVENT
BEGIN:VEVENT
UID:review@example.com
DTSTART:20261210T150000Z
DTEND:20261210T160000Z
SUMMARY:Design review
LOCATION:Room 1
END:VEVENT
BEGIN:VEVENT
UID:offsite@example.com
DTSTART;VALUE=DATE:20261215
DTEND;VALUE=DATE:20261217
SUMMARY:Offsite
END:VEVENT
END:VCALENDAR
"""


def stored_events(stack: Stack) -> list[dict[str, Any]]:
    status, raw = http("GET", f"{stack.workspace_url}/_emulator/calendars/{ALICE}/events")
    assert status == 200, raw
    found: list[dict[str, Any]] = json.loads(raw)
    return found


def import_ics(
    stack: Stack, data: str, *, user: str = ALICE, ctype: str = "text/calendar"
) -> requests.Response:
    response = requests.post(
        f"{stack.function_urls['import_events']}/",
        params={"user": user, "calendarId": "primary"},
        data=data.encode(),
        headers={"Content-Type": ctype},
        timeout=60,
    )
    contract.check("/", "POST", response.status_code, response.json())
    return response


def test_import_twice_leaves_one_copy_with_recurrence_and_exception(stack: Stack) -> None:
    first = import_ics(stack, ICS)
    assert first.status_code == 200, first.text
    results = first.json()["results"]
    assert [(r["uid"], r["status"]) for r in results] == [
        ("standup@example.com", "imported"),
        ("review@example.com", "imported"),
        ("offsite@example.com", "imported"),
        ("standup@example.com", "imported"),
    ]
    master_id = results[0]["eventId"]
    assert results[3]["eventId"] == f"{master_id}_20261208T083000Z"

    def snapshot() -> dict[str, dict[str, Any]]:
        return {e["id"]: e for e in stored_events(stack)}

    after_first = snapshot()
    assert len(after_first) == 4  # three events plus the materialised exception
    master = after_first[master_id]
    assert master["iCalUID"] == "standup@example.com"
    assert master["recurrence"] == [
        "RRULE:FREQ=DAILY;COUNT=5",
        "EXDATE;TZID=Europe/Berlin:20261209T093000",
    ]
    assert master["organizer"]["email"] == "carol@example.com"
    assert {a["email"] for a in master["attendees"]} == {ALICE, "bob@example.com"}
    exception = after_first[results[3]["eventId"]]
    assert exception["recurringEventId"] == master_id
    assert exception["summary"] == "Standup (afternoon)"
    assert exception["start"]["dateTime"].startswith("2026-12-08T14:00:00")
    assert exception["originalStartTime"]["dateTime"].startswith("2026-12-08T09:30:00")

    second = import_ics(stack, ICS)
    assert second.status_code == 200, second.text
    assert [r["status"] for r in second.json()["results"]] == ["updated"] * 4
    assert [r["eventId"] for r in second.json()["results"]] == [r["eventId"] for r in results]
    after_second = snapshot()
    assert set(after_second) == set(after_first)
    assert all(e.get("status") != "cancelled" for e in after_second.values())

    instances = requests.get(
        f"{stack.workspace_url}/calendar/v3/calendars/primary/events/{master_id}/instances",
        headers={"Authorization": f"Bearer {_token(stack)}"},
        timeout=10,
    ).json()["items"]
    starts = [i["start"]["dateTime"][:16] for i in instances]
    assert starts == [
        "2026-12-07T09:30",
        "2026-12-08T14:00",
        "2026-12-10T09:30",
        "2026-12-11T09:30",
    ]


def _token(stack: Stack) -> str:
    status, raw = http("POST", f"{stack.workspace_url}/_emulator/users/{ALICE}/token", {})
    assert status == 200, raw
    return str(json.loads(raw)["access_token"])


def test_malformed_file_is_400_naming_the_line_without_calendar_calls(stack: Stack) -> None:
    http("DELETE", f"{stack.workspace_url}/_emulator/requests")
    broken = ICS.replace("SUMMARY:Design review", "this line has no colon")
    response = import_ics(stack, broken)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "body" and "line 26" in error["message"]
    _, raw = http("GET", f"{stack.workspace_url}/_emulator/requests")
    assert json.loads(raw) == []
    assert stored_events(stack) == []


def test_unknown_user_and_wrong_content_type(stack: Stack) -> None:
    assert import_ics(stack, ICS, user="mallory@example.com").status_code == 403
    assert import_ics(stack, ICS, ctype="text/plain").status_code == 415
    assert stored_events(stack) == []


def test_cli_imports_a_file_through_the_function(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "team.ics"
    path.write_text(ICS)
    url = stack.function_urls["import_events"]
    assert meetsync(["--json", "import", str(path), "--user", ALICE, "--url", url]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert len(results) == 4 and {r["status"] for r in results} == {"imported"}
    refused = ["import", str(path), "--user", "mallory@example.com", "--url", url]
    assert meetsync(refused) == 2
    assert json.loads(capsys.readouterr().out)["error"]["kind"] == "forbidden"
