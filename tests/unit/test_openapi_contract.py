"""`functions/openapi.json` against the code: the statuses each operation can answer are
exactly the documented ones, and every refusal made before any Google call (validation,
method, size, content type) matches the documented error schema.

What an operation can answer is read from the code: every refusal kind (`Kind.X`) the
modules serving it name, mapped through the one kind → status table (`shared.http.STATUS`),
and every Google failure as `from_api_error` tells it to the caller.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from shared import wiring
from shared.domain import errors
from shared.domain.refusals import Kind, from_api_error
from shared.http import STATUS
from tests.e2e import contract
from tests.unit.support import System, system

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "main.py"

COMMON = ("shared/http.py", "shared/domain/validate.py", "shared/domain/refusals.py")
"""Routing, method, body reading, the guard; input validators; Google's mapping."""
CREATE_MODULES = (
    "functions/create_meeting.py",
    "shared/services/meetings.py",
    "shared/services/decisions.py",
    "shared/services/outbox.py",
    "shared/services/users.py",
    "shared/domain/meeting_request.py",
    *COMMON,
)
IMPORT_MODULES = (
    "functions/import_events.py",
    "shared/services/importer.py",
    "shared/services/users.py",
    *COMMON,
)


class _KindsNamed(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: set[Kind] = set()

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if isinstance(node.target, ast.Name) and node.target.id == "STATUS":
            return  # the table of every kind, not a refusal anyone makes
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == "Kind":
            self.found.add(Kind[node.attr])
        self.generic_visit(node)


def kinds_named(modules: tuple[str, ...]) -> set[Kind]:
    visitor = _KindsNamed()
    for module in modules:
        visitor.visit(ast.parse((ROOT / module).read_text(), module))
    return visitor.found


def _api_errors() -> list[type[errors.ApiError]]:
    found: list[type[errors.ApiError]] = []
    todo: list[type[errors.ApiError]] = [errors.ApiError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def google_statuses() -> set[int]:
    """How every Google failure that escapes a service is answered."""
    return {STATUS[from_api_error(cls("x")).kind] for cls in _api_errors()}


def documented_statuses(path: str, method: str) -> set[int]:
    return {int(s) for s in contract.documented(path, method)["responses"]}


def test_every_refusal_kind_has_a_status() -> None:
    assert set(STATUS) == set(Kind)


def retryable_statuses() -> set[int]:
    """How a Google failure that escapes create_meeting is answered: once its record is
    stored a create answers the record, and a refusal for good fails the meeting (issue
    14), so only what a retry may cure escapes (the client retries with the same key)."""
    return {STATUS[from_api_error(cls("x")).kind] for cls in _api_errors() if cls.retryable}


def test_google_failures_are_told_as_documented_statuses() -> None:
    google = google_statuses()
    assert google == {403, 404, 409, 502, 503}
    assert retryable_statuses() == {503} <= documented_statuses("/meetings", "post")
    assert google <= documented_statuses("/", "post")


def test_create_meeting_statuses_are_exactly_the_documented_ones() -> None:
    # NOT_FOUND (an unknown meeting) is GET's and PATCH's; UPSTREAM is how `from_api_error`
    # tells Google's refusals for good, which fail a stored create instead (issue 14)
    named = {STATUS[k] for k in kinds_named(CREATE_MODULES) - {Kind.NOT_FOUND, Kind.UPSTREAM}}
    emitted = {201, 202} | named | retryable_statuses()
    assert documented_statuses("/meetings", "post") == emitted
    # GET answers its own NOT_FOUND; a failed refresh of a pending meeting is swallowed
    get_kinds = {Kind.NOT_FOUND, Kind.METHOD_NOT_ALLOWED, Kind.INTERNAL}
    assert documented_statuses("/meetings/{id}", "get") == {200} | {STATUS[k] for k in get_kinds}


def test_import_statuses_are_exactly_the_documented_ones() -> None:
    emitted = {200} | {STATUS[k] for k in kinds_named(IMPORT_MODULES)} | google_statuses()
    assert documented_statuses("/", "post") == emitted


def test_every_documented_path_is_served() -> None:
    assert set(contract.spec()["paths"]) == {"/meetings", "/meetings/{id}", "/"}


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> System:
    """Settings and the meeting service on the in-memory adapters (no I/O)."""
    s = system()
    monkeypatch.setattr(wiring, "settings", lambda: s.settings)
    monkeypatch.setattr(wiring, "meetings", lambda: s.meetings)
    return s


def client(target: str) -> Any:
    app = functions_framework.create_app(target, str(MAIN))  # type: ignore[no-untyped-call]
    return app.test_client()


GOOD: dict[str, Any] = {
    "organizer": "alice@example.com",
    "summary": "s",
    "start": "2026-12-01T10:00:00Z",
    "end": "2026-12-01T11:00:00Z",
}

BAD_CREATES: list[tuple[str, dict[str, Any], int, str | None]] = [
    # (raw body, headers, status, field)
    ("{not json", {}, 400, "body"),
    ("[1, 2]", {}, 400, "body"),
    (json.dumps(GOOD), {"Content-Type": "text/plain"}, 415, "Content-Type"),
    (json.dumps({**GOOD, "description": "x" * 70_000}), {}, 413, "body"),
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
    served: System, raw: str, headers: dict[str, str], status: int, field: str | None
) -> None:
    headers = {"Content-Type": "application/json", **headers}
    response = client("create_meeting").post("/meetings", data=raw, headers=headers)
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["error"]["field"] == field
    contract.check("/meetings", "POST", status, body)
    assert not served.calendar.calls  # refused before any Google call


def test_wrong_methods_are_405(served: System) -> None:
    create = client("create_meeting")
    for response, path, method in (
        (create.put("/meetings", json=GOOD), "/meetings", "POST"),
        (create.post("/meetings/abc"), "/meetings/{id}", "GET"),
    ):
        assert response.status_code == 405
        contract.check(path, method, 405, response.get_json())


# -- import_events ----------------------------------------------------------------------------


EMPTY = b"BEGIN:VCALENDAR\nEND:VCALENDAR\n"
ALICE = "?user=alice@example.com"
BAD_IMPORTS: list[tuple[str, bytes, str, int, str | None]] = [
    (ALICE, EMPTY, "text/plain", 415, "Content-Type"),
    ("", EMPTY, "text/calendar", 400, "user"),
    ("?user=nobody", EMPTY, "text/calendar", 400, "user"),
    (ALICE, b"BEGIN:VCALENDAR\nbroken\nEND:VCALENDAR\n", "text/calendar", 400, "body"),
    (ALICE, b"x" * (5 * 1024 * 1024), "text/calendar", 413, "body"),
]


@pytest.mark.parametrize(("query", "raw", "ctype", "status", "field"), BAD_IMPORTS)
def test_import_refusals_match_the_spec(
    served: System, query: str, raw: bytes, ctype: str, status: int, field: str | None
) -> None:
    imports = client("import_events")
    response = imports.post("/" + query, data=raw, headers={"Content-Type": ctype})
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["error"]["field"] == field
    contract.check("/", "POST", status, body)


def test_import_refuses_other_methods(served: System) -> None:
    response = client("import_events").get("/?user=alice@example.com")
    assert response.status_code == 405
    contract.check("/", "POST", 405, response.get_json())


def test_malformed_ics_names_the_line(served: System) -> None:
    raw = b"BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:1\nbroken line\nEND:VEVENT\n"
    response = client("import_events").post(
        "/?user=alice@example.com", data=raw, headers={"Content-Type": "text/calendar"}
    )
    assert response.status_code == 400
    assert "line 5" in response.get_json()["error"]["message"]
