"""The Calendar calls a failed create needs (issue 14), through the real client against the
workspace emulator: events.delete with the create's sendUpdates, and the caller's access
role that an events list reports (space mode checks it before making a space)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from emulator.server import RunningEmulator, start
from shared.domain import errors
from shared.google.api import Apis, Backoff
from shared.google.credentials import RefreshTokenProvider
from shared.google.workspace import CalendarAdapter

ALICE = "alice@example.com"
EVENT_ID = "issue14cleanup0"
EVENT = {
    "id": EVENT_ID,
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


@pytest.fixture
def calendar(server: RunningEmulator) -> CalendarAdapter:
    control = f"{server.url}/_emulator"
    assert requests.post(f"{control}/reset", json={}, timeout=10).status_code < 300
    token = requests.post(f"{control}/users", json={"email": ALICE}, timeout=10).json()
    provider = RefreshTokenProvider(
        token_uri=f"{server.url}/token",
        client_id="client",
        client_secret="secret",
        lookup={ALICE: token["refresh_token"]}.get,
    )
    apis = Apis(
        calendar_root=f"{server.url}/",
        meet_root=f"{server.url}/",
        credentials=provider,
        backoff=Backoff(retries=1, base=0.01),
    )
    return CalendarAdapter(apis)


def test_delete_sends_the_creates_updates_and_a_second_delete_is_gone(
    server: RunningEmulator, calendar: CalendarAdapter
) -> None:
    calendar.insert_event(ALICE, "primary", EVENT, send_updates="all")
    calendar.delete_event(ALICE, "primary", EVENT_ID, send_updates="all")
    assert calendar.get_event(ALICE, "primary", EVENT_ID)["status"] == "cancelled"
    log = requests.get(f"{server.url}/_emulator/requests", timeout=10).json()
    (delete,) = [r for r in log if r["method"] == "DELETE"]
    assert delete["query"]["sendUpdates"] == "all"
    with pytest.raises(errors.GoneError):
        calendar.delete_event(ALICE, "primary", EVENT_ID)
    with pytest.raises(errors.NotFoundError):
        calendar.delete_event(ALICE, "primary", "neverinserted0")


def test_an_events_list_says_the_callers_access_role(calendar: CalendarAdapter) -> None:
    page = calendar.list_events(
        ALICE, "primary", time_min="2026-11-01T00:00:00+00:00", max_results=1
    )
    assert page.access_role == "owner"
    with pytest.raises(errors.NotFoundError):  # a calendar alice cannot see
        calendar.list_events(ALICE, "team@group.calendar.google.com", max_results=1)
