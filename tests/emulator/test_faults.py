"""Injected faults, rate limits, the request log and reset."""

from __future__ import annotations

from typing import Any

import pytest
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError

from tests.emulator.support import Harness, error_body, run

A = "alice@example.com"


def _no_wait(request: Any, on_sleep: Any = None) -> Any:
    """Make googleapiclient's retry backoff instant (optionally doing something instead)."""
    request._sleep = on_sleep or (lambda _seconds: None)
    request._rand = lambda: 0.0
    return request


def test_fault_retried_by_num_retries(h: Harness) -> None:
    cal = h.calendar(A)
    run(cal.events().list(calendarId="primary"))
    h.control(
        "POST",
        "/faults",
        {
            "status": 503,
            "reason": "backendError",
            "count": 2,
            "method": "GET",
            "path": "/events$",
            "api": "calendar",
        },
    )
    run(_no_wait(cal.events().list(calendarId="primary")), num_retries=3)
    lists = [r["status"] for r in h.requests_log() if r["path"].endswith("/events")]
    assert lists == [200, 503, 503, 200]
    assert h.control("GET", "/faults") == []


def test_fault_body_shapes(h: Harness) -> None:
    cal, meet = h.calendar(A), h.meet(A)
    run(cal.events().list(calendarId="primary"))
    h.control(
        "POST",
        "/faults",
        {"faults": [{"status": 500, "api": "calendar"}, {"status": 503, "api": "meet"}]},
    )
    with pytest.raises(HttpError) as cal_exc:
        run(cal.events().list(calendarId="primary"))
    assert error_body(cal_exc.value) == {
        "error": {
            "errors": [{"domain": "global", "reason": "backendError", "message": "Backend Error"}],
            "code": 500,
            "message": "Backend Error",
        }
    }
    with pytest.raises(HttpError) as meet_exc:
        run(meet.spaces().create(body={}))
    assert error_body(meet_exc.value)["error"]["status"] == "UNAVAILABLE"
    h.control("POST", "/faults", {"status": 400, "reason": "invalid_grant", "api": "oauth"})
    with pytest.raises(RefreshError):
        run(h.calendar("other@example.com").events().list(calendarId="primary"))
    h.control("POST", "/faults", {"status": 500, "count": None, "path": "never-matches"})
    assert len(h.control("DELETE", "/faults")) == 0


@pytest.mark.parametrize(
    ("status", "reason", "domain"),
    [(403, "userRateLimitExceeded", "usageLimits"), (429, "rateLimitExceeded", "usageLimits")],
)
def test_calendar_rate_limit_and_client_retry(
    h: Harness, status: int, reason: str, domain: str
) -> None:
    cal = h.calendar(A)
    h.control("POST", "/rate_limits", {"user": A, "per_minute": 2, "status": status})
    run(cal.events().list(calendarId="primary"))
    run(cal.events().list(calendarId="primary"))
    with pytest.raises(HttpError) as exc:
        run(cal.events().list(calendarId="primary"))
    assert exc.value.resp.status == status
    assert error_body(exc.value)["error"]["errors"][0] == {
        "domain": domain,
        "reason": reason,
        "message": "Rate Limit Exceeded",
    }
    # The client's own retry backs off; advancing the emulator clock a minute lets it through.
    request = _no_wait(cal.events().list(calendarId="primary"), on_sleep=lambda _s: h.advance(61))
    run(request, num_retries=1)
    assert [r["status"] for r in h.requests_log()[-2:]] == [status, 200]


def test_meet_rate_limit(h: Harness) -> None:
    meet = h.meet(A)
    h.control("POST", "/rate_limits", {"user": A, "per_minute": 1, "status": 403})
    run(meet.spaces().create(body={}))
    with pytest.raises(HttpError) as exc:
        run(meet.spaces().create(body={}))
    assert exc.value.resp.status == 429
    assert error_body(exc.value)["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_request_log_and_reset(h: Harness) -> None:
    cal = h.calendar(A)
    run(cal.events().list(calendarId="primary", maxResults=5))
    h.control("GET", "/health")
    entry = h.requests_log()[-1]
    assert entry["method"] == "GET"
    assert entry["path"] == "/calendar/v3/calendars/primary/events"
    assert entry["query"]["maxResults"] == "5"
    assert (entry["user"], entry["api"], entry["status"]) == (A, "calendar", 200)
    assert all(not r["path"].startswith("/_emulator") for r in h.requests_log())
    h.control("DELETE", "/requests")
    assert h.requests_log() == []
    h.configure(conference_delay_ms=5)
    h.advance(100)
    h.control("POST", "/reset")
    assert h.control("GET", "/users") == []
    assert h.control("GET", "/config")["conference_delay_ms"] == 300
    assert h.control("GET", "/clock")["offset_seconds"] == 0
