"""create_meeting fuzzed from its own contract (functions/openapi.json) with schemathesis.

Valid and invalid requests (schemathesis' positive and negative generation modes, some
aimed at the two seeded users so they get past the organizer check) go to the running
function. Whatever is sent: no 5xx, every answer documented, and a refusal (4xx) costs
nothing: no call to Google (the emulator's request log stays empty) and no event on
`meeting-events`. Only accepted requests may emit events, one per new meeting.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core.result import Ok

from devstack.driver import END, START, Env
from tests.e2e import contract

pytestmark = pytest.mark.e2e

ALICE = "alice@example.com"
BOB = "bob@example.com"
MALLORY = "mallory@example.com"
"""Not a user of the product: refused with 403 before any Google call."""
OPERATIONS = {"POST /meetings", "GET /meetings/{id}", "PATCH /meetings/{id}"}


def _schema() -> Any:
    """The create_meeting operations only: '/' belongs to import_events (its own server)."""
    schema = schemathesis.openapi.from_path(contract.SPEC_PATH)
    served = schema.include(path_regex=r"^/meetings")
    results = list(served.get_all_operations())
    assert all(isinstance(r, Ok) for r in results), results  # the spec loads cleanly
    labels = {r.ok().label for r in results if isinstance(r, Ok)}
    assert labels == OPERATIONS, labels
    assert "/" in contract.spec()["paths"]  # excluded on purpose, not missed
    return served


@dataclass
class Ledger:
    """What the fuzzing saw, for the assertions made once it is over."""

    statuses: Counter[int] = field(default_factory=Counter)
    created: dict[str, str] = field(default_factory=dict)
    """Meeting id -> status in the answer, for every accepted (2xx) POST."""
    google_refusals: int = 0
    """4xx that Google decided (a calendar the organizer cannot write)."""


def _aim(case: Any, organizer: str | None) -> Any:
    """Point a generated POST at a seeded user with a valid time, so that some requests get
    past the organizer and time checks and the rest of the body decides."""
    if organizer is None or case.method != "POST" or not isinstance(case.body, dict):
        return case
    case.body = {**case.body, "organizer": organizer, "summary": "fuzz", "start": START}
    case.body["end"] = END
    return case


def _google_calls(env: Env) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = env.emu("GET", "requests")
    return log


def _check(env: Env, ledger: Ledger, case: Any, response: Any) -> None:
    """One answer against the contract and against what it cost (messages, evaluated only
    on failure, carry a curl command that replays the request)."""
    status: int = response.status_code
    ledger.statuses[status] += 1
    assert status < 500, (status, response.content[:300], case.as_curl_command())
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.startswith("application/json"), (
        status,
        response.content[:300],
        case.as_curl_command(),
    )
    body = json.loads(response.content)
    contract.check(case.operation.path, case.method, status, body, content_type)
    calls = _google_calls(env)
    organizer = case.body.get("organizer") if isinstance(case.body, dict) else None
    organizer = organizer.lower() if isinstance(organizer, str) else None
    if 400 <= status < 500:
        error = body["error"]
        if status == 404 and error["field"] == "calendarId":
            # Google refused the organizer's own call on that calendar: nobody else acted
            ledger.google_refusals += 1
            assert calls and {c["user"] for c in calls} <= {organizer, None}, calls
        else:
            assert calls == [], (status, error, calls, case.as_curl_command())
    elif case.method == "POST":
        ledger.created[body["id"]] = body["status"]
        assert body["organizer"] == organizer, (body, case.as_curl_command())
        assert {c["user"] for c in calls} <= {organizer, None}, calls


def test_create_meeting_answers_as_documented_and_refusals_cost_nothing(env: Env) -> None:
    env.emu("POST", "config", {"conference_delay_ms": 0})
    served = _schema()
    url = env.stack.function_urls["create_meeting"]
    events = env.subscribe("meeting-events")
    session = requests.Session()
    ledger = Ledger()
    cases = st.one_of(
        served.as_strategy(GenerationMode.POSITIVE), served.as_strategy(GenerationMode.NEGATIVE)
    )

    @settings(
        max_examples=200,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )
    @given(cases, st.sampled_from([None, None, ALICE, BOB, "ALICE@example.com", MALLORY]))
    def documented(case: Any, organizer: str | None) -> None:
        case = _aim(case, organizer)
        env.emu("DELETE", "requests")
        response = case.call(base_url=url, session=session, timeout=60)
        _check(env, ledger, case, response)

    documented()
    assert sum(ledger.statuses.values()) >= 150, ledger.statuses
    accepted = sum(n for s, n in ledger.statuses.items() if s < 300)
    refused = sum(n for s, n in ledger.statuses.items() if 400 <= s < 500)
    assert accepted and refused, ledger  # both sides were exercised

    # events: exactly one per new meeting that reached a final state, none for anything else
    settled = {mid for mid, status in ledger.created.items() if status != "pending"}
    seen = env.events_until(events, lambda s: {e["subject"] for e in s} >= _subjects(settled))
    seen += env.pull(events)
    subjects = Counter(e["subject"] for e in seen)
    assert set(subjects) <= _subjects(set(ledger.created)), subjects
    assert all(n == 1 for n in subjects.values()), subjects
    for event in seen:
        status = ledger.created[event["subject"].removeprefix("meetings/")]
        assert event["type"] == f"meeting.{status}", (event["type"], status)


def _subjects(ids: set[str]) -> set[str]:
    return {f"meetings/{mid}" for mid in ids}


def test_a_meeting_id_with_a_line_break_gets_the_documented_json_404(env: Env) -> None:
    """The shrunk example the fuzzing above finds: functions-framework's catch-all route
    (`/<path:path>`, whose `.` stops at a line feed) does not match, so Flask answers its
    own HTML 404 before create_meeting runs, where the contract promises a JSON error."""
    url = env.stack.function_urls["create_meeting"]
    response = requests.get(f"{url}/meetings/%0A", timeout=10)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    contract.check("/meetings/{id}", "GET", 404, response.json())
