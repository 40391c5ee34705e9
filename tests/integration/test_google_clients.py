"""The Calendar and Meet clients, the error mapping and both credential modes, against a real
local HTTP server (the workspace emulator on a thread)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from emulator.server import RunningEmulator, start
from shared.domain import errors
from shared.google.api import Apis, Backoff
from shared.google.credentials import DelegationProvider, RefreshTokenProvider
from shared.google.workspace import CalendarAdapter, MeetAdapter

ALICE = "alice@example.com"
EVENT = {
    "summary": "x",
    "start": {"dateTime": "2026-12-01T10:00:00Z"},
    "end": {"dateTime": "2026-12-01T11:00:00Z"},
}


@pytest.fixture(scope="module")
def server() -> Iterator[RunningEmulator]:
    running = start()
    try:
        yield running
    finally:
        running.stop()


class Emu:
    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.url}/_emulator/{path}", json=body, timeout=10)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def calendar_calls(self) -> list[dict[str, Any]]:
        return [r for r in self("GET", "requests") if r["api"] == "calendar"]


@pytest.fixture
def emu(server: RunningEmulator) -> Emu:
    control = Emu(server.url)
    control("POST", "reset", {})
    return control


def refresh_apis(url: str, tokens: dict[str, str], retries: int = 3) -> Apis:
    provider = RefreshTokenProvider(
        token_uri=f"{url}/token",
        client_id="client",
        client_secret="secret",
        lookup=tokens.get,
    )
    return Apis(
        calendar_root=f"{url}/",
        meet_root=f"{url}/",
        credentials=provider,
        backoff=Backoff(retries=retries, base=0.01),
    )


def delegation_apis(url: str) -> Apis:
    provider = DelegationProvider(
        service_account="sa@p.iam.gserviceaccount.com",
        token_uri=f"{url}/token",
        iam_root=f"{url}/",
    )
    return Apis(
        calendar_root=f"{url}/",
        meet_root=f"{url}/",
        credentials=provider,
        backoff=Backoff(retries=1),
    )


def test_refresh_token_mode_calls_calendar_and_meet_as_the_user(emu: Emu) -> None:
    token = emu("POST", "users", {"email": ALICE})["refresh_token"]
    apis = refresh_apis(emu.url, {ALICE: token})
    calendar, meet = CalendarAdapter(apis), MeetAdapter(apis)
    event = calendar.insert_event(ALICE, "primary", EVENT)
    assert calendar.get_event(ALICE, "primary", event["id"])["summary"] == "x"
    page = calendar.list_events(ALICE, "primary", time_min="2026-11-01T00:00:00Z")
    assert [e["id"] for e in page.items] == [event["id"]]
    assert page.next_sync_token
    space = meet.create_space(ALICE, {"accessType": "TRUSTED"})
    assert meet.get_space(ALICE, space["name"])["meetingUri"] == space["meetingUri"]
    assert {r["user"] for r in emu.calendar_calls()} == {ALICE}


def test_delegation_mode_signs_through_iam_and_acts_as_the_user(emu: Emu) -> None:
    emu("POST", "users", {"email": ALICE})
    calendar = CalendarAdapter(delegation_apis(emu.url))
    calendar.insert_event(ALICE, "primary", EVENT)
    log = emu("GET", "requests")
    assert [r["api"] for r in log][:3] == ["iam", "oauth", "calendar"]
    assert log[2]["user"] == ALICE


def test_delegation_for_an_unknown_user_is_auth_revoked(emu: Emu) -> None:
    calendar = CalendarAdapter(delegation_apis(emu.url))
    with pytest.raises(errors.AuthRevokedError):
        calendar.get_event("nobody@example.com", "primary", "abcde")


def test_transient_errors_and_rate_limits_are_retried(emu: Emu) -> None:
    token = emu("POST", "users", {"email": ALICE})["refresh_token"]
    calendar = CalendarAdapter(refresh_apis(emu.url, {ALICE: token}))
    emu("POST", "faults", {"status": 503, "reason": "backendError", "count": 1, "api": "calendar"})
    emu(
        "POST",
        "faults",
        {"status": 403, "reason": "userRateLimitExceeded", "count": 1, "api": "calendar"},
    )
    emu(
        "POST",
        "faults",
        {"status": 429, "reason": "rateLimitExceeded", "count": 1, "api": "calendar"},
    )
    emu("DELETE", "requests")
    calendar.insert_event(ALICE, "primary", EVENT)
    assert [r["status"] for r in emu.calendar_calls()] == [503, 403, 429, 200]


def test_retries_are_bounded_then_typed(emu: Emu) -> None:
    token = emu("POST", "users", {"email": ALICE})["refresh_token"]
    calendar = CalendarAdapter(refresh_apis(emu.url, {ALICE: token}, retries=2))
    emu(
        "POST",
        "faults",
        {"status": 429, "reason": "rateLimitExceeded", "count": None, "api": "calendar"},
    )
    emu("DELETE", "requests")
    with pytest.raises(errors.RateLimitedError):
        calendar.get_event(ALICE, "primary", "abcde")
    assert len(emu.calendar_calls()) == 3


def test_error_mapping_of_real_responses(emu: Emu) -> None:
    token = emu("POST", "users", {"email": ALICE})["refresh_token"]
    emu("POST", "users", {"email": "bob@example.com"})
    calendar = CalendarAdapter(refresh_apis(emu.url, {ALICE: token}))
    meet = MeetAdapter(refresh_apis(emu.url, {ALICE: token}))
    event = calendar.insert_event(ALICE, "primary", {**EVENT, "id": "abcde12345"})
    with pytest.raises(errors.DuplicateError):
        calendar.insert_event(ALICE, "primary", {**EVENT, "id": "abcde12345"})
    with pytest.raises(errors.PreconditionFailedError):
        calendar.patch_event(ALICE, "primary", event["id"], {"summary": "y"}, etag='"stale"')
    with pytest.raises(errors.NotFoundError):
        calendar.get_event(ALICE, "bob@example.com", "abcde12345")  # another user's calendar
    page = calendar.list_events(ALICE, "primary", time_min="2026-11-01T00:00:00Z")
    emu("POST", "calendars/alice%40example.com/invalidate_sync_tokens", {})
    with pytest.raises(errors.FullSyncRequiredError):
        calendar.list_events(ALICE, "primary", sync_token=page.next_sync_token)
    space = meet.create_space(ALICE, {})
    with pytest.raises(errors.FailedPreconditionError):
        meet.end_active_conference(ALICE, space["name"])  # none running


def test_revoked_refresh_token_is_auth_revoked(emu: Emu) -> None:
    token = emu("POST", "users", {"email": ALICE})["refresh_token"]
    calendar = CalendarAdapter(refresh_apis(emu.url, {ALICE: token}))
    emu("POST", f"users/{ALICE}/revoke", {})
    with pytest.raises(errors.AuthRevokedError):
        calendar.get_event(ALICE, "primary", "abcde")
    with pytest.raises(errors.AuthRevokedError):
        CalendarAdapter(refresh_apis(emu.url, {})).get_event(ALICE, "primary", "abcde")
