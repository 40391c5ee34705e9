"""Issue 14, part A, end to end: once a create has stored its record, the server finishes
it (a completion job on the maintenance topic, delivered by the Pub/Sub emulator's push
subscription to the `maintenance` function), or fails it with why and nothing behind.

Each client here stops after its first answer, as a real one may: what happens next is
the server's alone. Ground truth is the workspace emulator's state and request log.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from shared.domain.ids import meeting_id
from tests.e2e import contract
from tests.e2e.support import END, START, Env, types_for

pytestmark = pytest.mark.e2e

ALICE = "alice@example.com"
FOREIGN = "team-c0ffee@group.calendar.google.com"
"""A calendar alice cannot write (the emulator answers 404 for anyone else's calendar)."""


@pytest.fixture
def env(env: Env) -> Env:
    env.emu("POST", "config", {"conference_delay_ms": 0})
    return env


def post(env: Env, key: str, **extra: Any) -> requests.Response:
    body = {"organizer": ALICE, "summary": "Planning", "start": START, "end": END, **extra}
    response = env.call(
        "create_meeting", "POST", "/meetings", body, headers={"Idempotency-Key": key}
    )
    contract.check("/meetings", "POST", response.status_code, response.json())
    return response


def google_calls(env: Env) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = env.emu("GET", "requests")
    return [r for r in log if r.get("api") in ("calendar", "meet")]


def live_events(env: Env) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = env.emu("GET", f"calendars/{ALICE}/events")
    return [e for e in events if e.get("status") != "cancelled"]


def test_space_create_meeting_meet_and_calendar_faults_is_finished_after_the_client_stops(
    env: Env,
) -> None:
    """Seed 5013's shape: Meet answers 503 past the create's retries, then Calendar 429s
    the insert; the client takes its answer and goes away."""
    stream = env.subscribe()
    env.emu(
        "POST",
        "faults",
        {
            "faults": [
                {"status": 503, "api": "meet", "method": "POST", "path": "/v2/spaces$", "count": 3},
                {
                    "status": 429,
                    "reason": "rateLimitExceeded",
                    "api": "calendar",
                    "method": "POST",
                    "path": "/events$",
                    "count": 3,
                },
            ]
        },
    )
    answer = post(env, f"faults-{uuid.uuid4().hex}", conference={"mode": "space"})
    assert answer.status_code == 202, answer.text  # before issue 14: 503, and never finished
    mid = answer.json()["id"]
    assert answer.json()["status"] == "pending"

    meeting = env.wait_meeting(mid, lambda m: m.status == "ready", "the server to finish it")
    spaces = env.emu("GET", "spaces")
    assert [s["name"] for s in spaces] == [meeting.space]  # one space, made once
    (event,) = live_events(env)
    assert event["id"] == mid
    assert event["conferenceData"]["conferenceId"] == spaces[0]["meetingCode"]
    seen = env.events_until(stream, lambda s: "meeting.ready" in types_for(s, mid))
    assert types_for(seen, mid).count("meeting.ready") == 1


@pytest.mark.parametrize(
    ("mode", "fault"),
    [
        ("space", {"status": 503, "api": "meet", "method": "POST", "path": "/v2/spaces$"}),
        ("calendar", {"status": 503, "api": "calendar", "method": "POST", "path": "/events$"}),
    ],
)
def test_a_client_that_stops_after_its_answer_is_left_with_nothing_or_a_finished_meeting(
    env: Env, mode: str, fault: dict[str, Any]
) -> None:
    """Google fails for a while; the client stops after the first answer, whatever it is:
    a 5xx must mean nothing is stored, anything else a meeting the server finishes."""
    env.emu("POST", "faults", {**fault, "count": None})
    key = f"stops-{uuid.uuid4().hex}"
    answer = post(env, key, conference={"mode": mode})
    env.emu("DELETE", "faults")  # Google recovers; nobody calls create_meeting again
    mid = meeting_id(ALICE, key)
    if answer.status_code >= 500:
        assert env.store.get_meeting(mid) is None, "a 5xx left a record nobody finishes"
        return
    assert answer.status_code == 202, answer.text
    meeting = env.wait_meeting(mid, lambda m: m.status == "ready", "the server to finish it")
    assert [e["id"] for e in live_events(env)] == [mid]
    if mode == "space":
        assert [s["name"] for s in env.emu("GET", "spaces")] == [meeting.space]


def test_an_unwritable_calendar_in_space_mode_leaves_no_space(env: Env) -> None:
    stream = env.subscribe()
    key = f"foreign-{uuid.uuid4().hex}"
    answer = post(env, key, conference={"mode": "space"}, calendarId=FOREIGN)
    assert env.emu("GET", "spaces") == []  # before issue 14: a space made, then a 404
    assert not [c for c in google_calls(env) if c["path"] == "/v2/spaces"]
    assert answer.status_code == 201, answer.text
    failed = answer.json()
    assert (failed["status"], failed["failureReason"]) == ("failed", "calendar_refused")
    seen = env.events_until(stream, lambda s: "meeting.failed" in types_for(s, failed["id"]))
    assert types_for(seen, failed["id"]) == ["meeting.failed"]


def test_a_retry_of_a_failed_meetings_key_returns_the_failed_record(env: Env) -> None:
    key = f"failed-{uuid.uuid4().hex}"
    first = post(env, key, calendarId=FOREIGN)
    assert first.status_code == 201, first.text  # before issue 14: 404, nothing settled
    assert first.json()["failureReason"] == "calendar_refused"
    env.emu("DELETE", "requests")
    again = post(env, key, calendarId=FOREIGN)
    assert again.status_code == 201, again.text
    assert again.json() == first.json()  # the same record, not a new meeting
    assert google_calls(env) == []
    record = env.meeting(first.json()["id"])
    assert record.status == "failed" and record.failure_reason == "calendar_refused"
    got = env.call("create_meeting", "GET", f"/meetings/{record.id}")
    assert got.status_code == 200 and got.json()["failureReason"] == "calendar_refused"


def test_a_revoked_organizer_fails_the_pending_meeting_and_the_retry_gets_it(env: Env) -> None:
    """A job that finds the organizer revoked fails the meeting (`auth_revoked`); while they
    stay revoked a new key is refused (nothing stored) but the old key gets its record."""
    env.emu("POST", "faults", {"status": 503, "api": "meet", "method": "POST", "count": None})
    key = f"revoked-{uuid.uuid4().hex}"
    answer = post(env, key, conference={"mode": "space"})
    assert answer.status_code == 202, answer.text
    env.emu("POST", f"users/{ALICE}/revoke")
    env.emu("DELETE", "faults")
    mid = answer.json()["id"]
    failed = env.wait_meeting(mid, lambda m: m.status == "failed", "the meeting to fail")
    assert failed.failure_reason == "auth_revoked"
    user = env.store.get_user(ALICE)
    assert user is not None and user.status == "auth_revoked"
    again = post(env, key, conference={"mode": "space"})
    assert (again.status_code, again.json()["status"]) == (201, "failed")
    refused = post(env, f"new-{uuid.uuid4().hex}", conference={"mode": "space"})
    assert refused.status_code == 409, refused.text
