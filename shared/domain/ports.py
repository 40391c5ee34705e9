"""Ports: what services need from Calendar, Meet, storage and messaging.

Services are written against these protocols; `shared.google` and
`shared.store` implement them, and unit tests pass small hand-written fakes.
Events and spaces travel as the plain JSON dicts the APIs define.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from shared.domain.models import Meeting, User

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventPage:
    items: list[Json]
    next_page_token: str | None
    next_sync_token: str | None


class CalendarPort(Protocol):
    def list_events(
        self,
        user: str,
        calendar_id: str,
        *,
        sync_token: str | None = None,
        page_token: str | None = None,
        time_min: str | None = None,
        max_results: int = 2500,
    ) -> EventPage: ...

    def get_event(self, user: str, calendar_id: str, event_id: str) -> Json: ...

    def insert_event(
        self, user: str, calendar_id: str, body: Json, *, send_updates: str = "none"
    ) -> Json: ...

    def patch_event(
        self, user: str, calendar_id: str, event_id: str, body: Json, *, etag: str
    ) -> Json: ...

    def import_event(self, user: str, calendar_id: str, body: Json) -> Json: ...

    def list_by_ical_uid(self, user: str, calendar_id: str, ical_uid: str) -> list[Json]: ...

    def watch(
        self,
        user: str,
        calendar_id: str,
        *,
        channel_id: str,
        token: str,
        address: str,
        ttl_seconds: int,
    ) -> Json: ...

    def stop_channel(self, user: str, channel_id: str, resource_id: str) -> None: ...


class MeetPort(Protocol):
    def create_space(self, user: str, config: Json) -> Json: ...

    def get_space(self, user: str, name: str) -> Json: ...

    def end_active_conference(self, user: str, name: str) -> None: ...


class EventSink(Protocol):
    """Where meeting change events go (the `meeting-events` topic)."""

    def emit(self, event: Json, *, ordering_key: str) -> None: ...


class MeetingStore(Protocol):
    """The parts of the Firestore store the meeting services use (users and meetings)."""

    def get_user(self, email: str) -> User | None: ...

    def set_user_status(self, email: str, status: str) -> None: ...

    def get_meeting(self, meeting_id: str) -> Meeting | None: ...

    def create_meeting(self, meeting: Meeting) -> tuple[Meeting, bool]: ...

    def update_meeting(
        self, meeting_id: str, change: Callable[[Meeting], Meeting | None]
    ) -> Meeting | None: ...
