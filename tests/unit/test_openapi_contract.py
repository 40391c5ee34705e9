"""`functions/openapi.json` against the code: the statuses each operation can answer are
exactly the documented ones, and every refusal made before any I/O (validation,
method, size, content type) matches the documented error schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import functions_framework
import pytest

from functions import create_meeting as create_fn
from functions import import_events as import_fn
from shared import wiring
from shared.domain import errors
from shared.http import api_error_to_request_error
from shared.services import meetings
from tests.e2e import contract

GOOGLE_STATUSES = {
    api_error_to_request_error(cls("x")).status
    for cls in (
        errors.AuthRevokedError,
        errors.RateLimitedError,
        errors.TransientError,
        errors.NotFoundError,
        errors.BadRequestError,
        errors.ForbiddenError,
    )
}
REFUSALS = {400, 405, 413, 415, 500}
"""read_json / routing / validation refusals and the guard's internal error."""


def documented_statuses(path: str, method: str) -> set[int]:
    return {int(s) for s in contract.documented(path, method)["responses"]}


def test_create_meeting_statuses_are_exactly_the_documented_ones() -> None:
    emitted = {201, 202} | REFUSALS | GOOGLE_STATUSES | set(create_fn._STATUS.values())
    assert documented_statuses("/meetings", "post") == emitted
    get_emitted = {200, 405, 500, create_fn._STATUS[meetings.MeetingNotFound]}
    assert documented_statuses("/meetings/{id}", "get") == get_emitted


def test_import_statuses_are_exactly_the_documented_ones() -> None:
    emitted = {200} | REFUSALS | GOOGLE_STATUSES | set(import_fn._STATUS.values())
    assert documented_statuses("/", "post") == emitted


def test_every_documented_path_is_served() -> None:
    assert set(contract.spec()["paths"]) == {"/meetings", "/meetings/{id}", "/"}


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "contract-test")
    monkeypatch.setenv("DELEGATION_SERVICE_ACCOUNT", "sa@contract-test.iam.gserviceaccount.com")
    wiring.settings.cache_clear()
    create = functions_framework.create_app("create_meeting", "main.py").test_client()  # type: ignore[no-untyped-call]
    imports = functions_framework.create_app("import_events", "main.py").test_client()  # type: ignore[no-untyped-call]
    yield create, imports
    wiring.settings.cache_clear()


GOOD: dict[str, Any] = {
    "organizer": "alice@example.com",
    "summary": "s",
    "start": "2026-12-01T10:00:00Z",
    "end": "2026-12-01T11:00:00Z",
}

BAD_CREATES: list[tuple[str, dict[str, Any], int, str | None]] = [
    # (raw body, headers, status, field)
    ("{not json", {}, 400, None),
    ("[1, 2]", {}, 400, None),
    (json.dumps(GOOD), {"Content-Type": "text/plain"}, 415, "Content-Type"),
    (json.dumps({**GOOD, "description": "x" * 70_000}), {}, 413, None),
    (json.dumps({**GOOD, "color": 1}), {}, 400, "color"),
    (json.dumps({**GOOD, "end": "2026-12-01T09:00:00Z"}), {}, 400, "end"),
    (json.dumps({**GOOD, "timeZone": "Nowhere/Land"}), {}, 400, "timeZone"),
    (json.dumps({**GOOD, "attendees": ["x@"]}), {}, 400, "attendees[0]"),
    (json.dumps({**GOOD, "attendees": [f"u{i}@x.io" for i in range(101)]}), {}, 400, "attendees"),
    (json.dumps({**GOOD, "conference": {"moderation": "ON"}}), {}, 400, "conference.moderation"),
    (json.dumps(GOOD), {"Idempotency-Key": "has space"}, 400, "Idempotency-Key"),
]


@pytest.mark.parametrize(("raw", "headers", "status", "field"), BAD_CREATES)
def test_create_refusals_match_the_spec(
    clients: tuple[Any, Any], raw: str, headers: dict[str, str], status: int, field: str | None
) -> None:
    create, _ = clients
    headers = {"Content-Type": "application/json", **headers}
    response = create.post("/meetings", data=raw, headers=headers)
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["error"]["field"] == field
    contract.check("/meetings", "POST", status, body)


def test_wrong_methods_are_405(clients: tuple[Any, Any]) -> None:
    create, imports = clients
    for response, path, method in (
        (create.put("/meetings", json=GOOD), "/meetings", "POST"),
        (create.post("/meetings/abc"), "/meetings/{id}", "GET"),
        (imports.get("/?user=alice@example.com"), "/", "POST"),
    ):
        assert response.status_code == 405
        contract.check(path, method, 405, response.get_json())


EMPTY = b"BEGIN:VCALENDAR\nEND:VCALENDAR\n"
ALICE = "?user=alice@example.com"
BAD_IMPORTS: list[tuple[str, bytes, str, int, str | None]] = [
    (ALICE, EMPTY, "text/plain", 415, "Content-Type"),
    ("", EMPTY, "text/calendar", 400, "user"),
    ("?user=nobody", EMPTY, "text/calendar", 400, "user"),
    (ALICE, b"BEGIN:VCALENDAR\nbroken\nEND:VCALENDAR\n", "text/calendar", 400, "body"),
    (ALICE, b"x" * (5 * 1024 * 1024), "text/calendar", 413, None),
]


@pytest.mark.parametrize(("query", "raw", "ctype", "status", "field"), BAD_IMPORTS)
def test_import_refusals_match_the_spec(
    clients: tuple[Any, Any], query: str, raw: bytes, ctype: str, status: int, field: str | None
) -> None:
    _, imports = clients
    response = imports.post("/" + query, data=raw, headers={"Content-Type": ctype})
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["error"]["field"] == field
    contract.check("/", "POST", status, body)


def test_malformed_ics_names_the_line(clients: tuple[Any, Any]) -> None:
    _, imports = clients
    raw = b"BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:1\nbroken line\nEND:VEVENT\n"
    response = imports.post(
        "/?user=alice@example.com", data=raw, headers={"Content-Type": "text/calendar"}
    )
    assert response.status_code == 400
    assert "line 5" in response.get_json()["error"]["message"]
