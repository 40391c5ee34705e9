"""create_meeting end to end: the real HTTP function, the workspace emulator and Firestore.

Assertions are made against the emulator's own state (events, spaces, request log)
and the Firestore emulator, never against the function's word alone. Every answer
is also checked against `functions/openapi.json`.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from devstack.stack import EVENTS_SUBSCRIPTION, Stack, http
from shared.domain.event import OWNED_PROPERTY
from shared.store.firestore import Store
from shared.wiring import firestore_client
from tests.e2e import contract

pytestmark = pytest.mark.e2e

ALICE = "alice@example.com"
BODY: dict[str, Any] = {
    "organizer": ALICE,
    "summary": "Planning",
    "start": "2026-12-01T10:00:00+01:00",
    "end": "2026-12-01T11:00:00+01:00",
    "attendees": ["bob@example.com"],
}


def emu(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    status, raw = http(method, f"{stack.workspace_url}/_emulator/{path}", body)
    assert status < 300, raw
    return json.loads(raw) if raw else None


def google_calls(stack: Stack) -> list[dict[str, Any]]:
    """The Calendar and Meet calls in the emulator's log (token exchanges left out)."""
    log: list[dict[str, Any]] = emu(stack, "GET", "requests")
    return [r for r in log if r.get("api") in ("calendar", "meet")]


def post(stack: Stack, body: Any, key: str | None = None, **kw: Any) -> requests.Response:
    headers = {"Idempotency-Key": key} if key else {}
    response = requests.post(
        f"{stack.function_urls['create_meeting']}/meetings",
        json=body,
        headers=headers,
        timeout=60,
        **kw,
    )
    contract.check("/meetings", "POST", response.status_code, response.json())
    return response


def get(stack: Stack, meeting_id: str) -> requests.Response:
    response = requests.get(
        f"{stack.function_urls['create_meeting']}/meetings/{meeting_id}", timeout=30
    )
    contract.check("/meetings/{id}", "GET", response.status_code, response.json())
    return response


def store(stack: Stack) -> Store:
    return Store(firestore_client(stack.project, "(default)"))


def events(stack: Stack, email: str = ALICE) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = emu(stack, "GET", f"calendars/{email}/events")
    return found


def space_of(stack: Stack, name: str) -> dict[str, Any]:
    assert name.startswith("spaces/")
    found: dict[str, Any] = emu(stack, "GET", f"spaces/{name.removeprefix('spaces/')}")
    return found


def published(
    stack: Stack, meeting_id: str, kind: str, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """meeting-events messages about one meeting (pulled from the observer subscription)."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    subscriber = pubsub_v1.SubscriberClient()
    path = subscriber.subscription_path(stack.project, EVENTS_SUBSCRIPTION)
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not found and time.monotonic() < deadline:
        response = subscriber.pull(subscription=path, max_messages=100, timeout=5)
        ack = [m.ack_id for m in response.received_messages]
        for m in response.received_messages:
            event = json.loads(m.message.data)
            if event["subject"] == f"meetings/{meeting_id}" and event["type"] == kind:
                assert m.message.ordering_key == meeting_id
                found.append(event)
        if ack:
            subscriber.acknowledge(subscription=path, ack_ids=ack)
    return found


def test_calendar_mode_makes_a_working_link(stack: Stack) -> None:
    response = post(stack, BODY, "calendar-1")
    assert response.status_code == 201, response.text
    meeting = response.json()
    assert meeting["status"] == "ready" and meeting["mode"] == "calendar"
    assert meeting["eventId"] == meeting["id"] and meeting["calendarId"] == "primary"
    assert meeting["meetingUri"] == f"https://meet.google.com/{meeting['meetingCode']}"
    assert meeting["htmlLink"]
    space = space_of(stack, meeting["space"])  # the stable name, resolved from the code
    assert space["meetingCode"] == meeting["meetingCode"] and space["owner"] == ALICE
    (event,) = events(stack)
    assert event["id"] == meeting["id"]
    assert event["conferenceData"]["conferenceId"] == meeting["meetingCode"]
    assert event["conferenceData"]["createRequest"]["requestId"] == meeting["id"]
    assert event["extendedProperties"]["private"][OWNED_PROPERTY] == meeting["id"]
    assert event["hangoutLink"] == meeting["meetingUri"]
    record = store(stack).get_meeting(meeting["id"])
    assert record is not None and record.status == "ready" and record.space == meeting["space"]
    assert record.idempotency_key_hash and record.body_hash
    (ready,) = published(stack, meeting["id"], "meeting.ready")
    assert ready["data"]["space"] == meeting["space"]
    assert get(stack, meeting["id"]).json()["status"] == "ready"


def test_space_mode_applies_the_settings_and_copies_the_conference(stack: Stack) -> None:
    body = {**BODY, "conference": {"mode": "space", "accessType": "RESTRICTED", "moderation": "ON"}}
    response = post(stack, body, "space-1")
    assert response.status_code == 201, response.text
    meeting = response.json()
    assert meeting["status"] == "ready" and meeting["mode"] == "space"
    space = space_of(stack, meeting["space"])
    assert space["config"]["accessType"] == "RESTRICTED" and space["config"]["moderation"] == "ON"
    (event,) = events(stack)
    assert event["conferenceData"]["conferenceId"] == space["meetingCode"]
    assert event["conferenceData"]["conferenceSolution"]["key"]["type"] == "hangoutsMeet"
    assert event["hangoutLink"] == space["meetingUri"] == meeting["meetingUri"]
    calls = [(c["method"], c["path"]) for c in google_calls(stack) if c["status"] != 401]
    assert calls == [
        ("GET", "/calendar/v3/calendars/primary/events"),  # the calendar is writable (issue 14)
        ("POST", "/v2/spaces"),
        ("POST", "/calendar/v3/calendars/primary/events"),
    ]


def test_instant_mode_is_a_space_without_an_event(stack: Stack) -> None:
    response = post(
        stack, {"organizer": ALICE, "conference": {"mode": "instant", "accessType": "OPEN"}}
    )
    assert response.status_code == 201, response.text
    meeting = response.json()
    assert meeting["status"] == "ready" and meeting["eventId"] is None
    assert space_of(stack, meeting["space"])["config"]["accessType"] == "OPEN"
    assert events(stack) == []


def test_pending_past_the_budget_answers_202_then_ready_on_get(stack: Stack) -> None:
    # Longer than the wait budget (CONFERENCE_WAIT_SECONDS); the emulator clock is then
    # moved just past it (no further: delegation JWTs carry real time, checked within 1 h).
    emu(stack, "POST", "config", {"conference_delay_ms": 60_000})
    began = time.monotonic()
    response = post(stack, BODY, "slow-1")
    assert response.status_code == 202, response.text
    assert time.monotonic() - began < 30
    meeting = response.json()
    assert meeting["status"] == "pending" and meeting["meetingUri"] is None
    assert response.headers["Location"] == f"/meetings/{meeting['id']}"
    assert get(stack, meeting["id"]).json()["status"] == "pending"
    emu(stack, "POST", "clock", {"advance_seconds": 61})  # the conference completes
    deadline = time.monotonic() + 10
    while (current := get(stack, meeting["id"]).json())["status"] == "pending":
        assert time.monotonic() < deadline, current
        time.sleep(0.05)
    assert current["status"] == "ready" and current["space"].startswith("spaces/")
    assert space_of(stack, current["space"])["meetingCode"] == current["meetingCode"]
    record = store(stack).get_meeting(meeting["id"])
    assert record is not None and record.status == "ready"


@pytest.mark.parametrize("mode", ["calendar", "space"])
def test_ten_concurrent_requests_with_one_key_make_one_meeting(stack: Stack, mode: str) -> None:
    body = {**BODY, "conference": {"mode": mode}}
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: post(stack, body, "race-1"), range(10)))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len({a.json()["space"] for a in answers}) == 1
    assert len(events(stack)) == 1
    assert len(emu(stack, "GET", "spaces")) == 1
    inserts = [
        c for c in google_calls(stack)
        if c["method"] == "POST" and c["path"].endswith("/events") and c["status"] == 200
    ]  # fmt: skip
    assert len(inserts) == 1
    creates = [c for c in google_calls(stack) if c["path"] == "/v2/spaces" and c["status"] == 200]
    assert len(creates) == (1 if mode == "space" else 0)


def test_same_key_different_body_is_422(stack: Stack) -> None:
    assert post(stack, BODY, "conflict-1").status_code == 201
    response = post(stack, {**BODY, "summary": "Other"}, "conflict-1")
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "Idempotency-Key"
    assert len(events(stack)) == 1


def test_same_key_same_body_returns_the_same_meeting_without_google_calls(stack: Stack) -> None:
    first = post(stack, BODY, "replay-1").json()
    emu(stack, "DELETE", "requests")
    again = post(stack, BODY, "replay-1")
    assert again.status_code == 201 and again.json()["id"] == first["id"]
    assert google_calls(stack) == []


def _raw(
    stack: Stack, data: bytes, content_type: str = "application/json", method: str = "POST"
) -> requests.Response:
    return requests.request(
        method,
        f"{stack.function_urls['create_meeting']}/meetings",
        data=data,
        headers={"Content-Type": content_type},
        timeout=30,
    )


BAD: list[tuple[str, Any, int, str | None]] = [
    ("malformed json", b"{nope", 400, "body"),
    ("wrong content type", ("text/plain", json.dumps(BODY).encode()), 415, "Content-Type"),
    ("wrong method", ("PUT", json.dumps(BODY).encode()), 405, "method"),
    ("too big", {**BODY, "description": "x" * 70_000}, 413, "body"),
    ("missing summary", {k: v for k, v in BODY.items() if k != "summary"}, 400, "summary"),
    ("malformed start", {**BODY, "start": "2026-12-01 10:00"}, 400, "start"),
    ("end not after start", {**BODY, "end": BODY["start"]}, 400, "end"),
    ("unknown time zone", {**BODY, "timeZone": "Europe/Atlantis"}, 400, "timeZone"),
    ("invalid attendee", {**BODY, "attendees": ["bob@"]}, 400, "attendees[0]"),
    ("invalid organizer", {**BODY, "organizer": "alice"}, 400, "organizer"),
    ("too many attendees", {**BODY, "attendees": [f"p{i}@x.io" for i in range(101)]}, 400,
     "attendees"),
    ("unknown field", {**BODY, "colour": "red"}, 400, "colour"),
    ("calendar-mode settings", {**BODY, "conference": {"accessType": "OPEN"}}, 400,
     "conference.accessType"),
    ("unknown organizer", {**BODY, "organizer": "mallory@example.com"}, 403, "organizer"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "payload", "status", "field"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_without_a_google_call(
    stack: Stack, case: str, payload: Any, status: int, field: str | None
) -> None:
    emu(stack, "DELETE", "requests")
    if isinstance(payload, bytes):
        response = _raw(stack, payload)
    elif isinstance(payload, tuple) and payload[0] == "PUT":
        response = _raw(stack, payload[1], method="PUT")
    elif isinstance(payload, tuple):
        response = _raw(stack, payload[1], content_type=payload[0])
    else:
        response = _raw(stack, json.dumps(payload).encode())
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == status and error["field"] == field and error["message"]
    contract.check(
        "/meetings", "PUT" if False else "POST", status, response.json()
    ) if status != 405 else None
    assert emu(stack, "GET", "requests") == []
    assert events(stack) == []


def test_rate_limit_is_202_and_the_server_finishes_the_meeting(stack: Stack) -> None:
    """Issue 14: the record is stored, so the answer is 202 and a completion job finishes
    it once Calendar lets it; a retry with the same key still answers the one meeting."""
    emu(
        stack,
        "POST",
        "faults",
        {"status": 429, "api": "calendar", "path": "/events", "count": None},
    )
    response = post(stack, BODY, "limited-1")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    emu(stack, "DELETE", "faults")
    mid = response.json()["id"]
    deadline = time.monotonic() + 30
    while (current := get(stack, mid).json())["status"] == "pending":
        assert time.monotonic() < deadline, current
        time.sleep(0.1)
    assert current["status"] == "ready" and len(events(stack)) == 1
    retried = post(stack, BODY, "limited-1")  # the same key answers the same meeting
    assert retried.status_code == 201 and retried.json()["id"] == mid
    assert len(events(stack)) == 1


def _assert_reauthorization_needed(stack: Stack) -> None:
    response = post(stack, BODY, "revoked-1")  # stored, then Google says revoked: failed
    assert response.status_code == 201, response.text
    assert (response.json()["status"], response.json()["failureReason"]) == (
        "failed",
        "auth_revoked",
    )
    user = store(stack).get_user(ALICE)
    assert user is not None and user.status == "auth_revoked"
    emu(stack, "DELETE", "requests")
    again = post(stack, BODY, "revoked-2")  # known revoked: refused without calling Google
    assert again.status_code == 409 and google_calls(stack) == []
    error = again.json()["error"]
    assert "re-authorize" in error["message"] and error["field"] == "organizer"


def test_user_gone_from_the_domain_is_409_and_marks_the_user(stack: Stack) -> None:
    """Under domain-wide delegation, authorization ends when the user is removed."""
    emu(stack, "DELETE", f"users/{ALICE}")
    _assert_reauthorization_needed(stack)


def test_revoked_authorization_is_409_and_marks_the_user(stack: Stack) -> None:
    emu(stack, "POST", f"users/{ALICE}/revoke")
    _assert_reauthorization_needed(stack)


def test_unknown_meeting_is_404(stack: Stack) -> None:
    response = get(stack, uuid.uuid4().hex)
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "id"
