"""The product's services run in the CLI's own process, on the target's settings.

`calendars resync` runs the real sync service (its progress read from the pages it
lists) and `meetings show` reads the meeting's event and space, acting as the
organizer exactly as the functions do (delegation, or their stored refresh token).
Built like `shared.wiring` builds them, from an explicit `Settings` rather than this
process's environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared import wiring
from shared.domain.ports import EventPage
from shared.google.api import Apis, Backoff
from shared.google.credentials import StoredRefreshTokens
from shared.google.workspace import CalendarAdapter, MeetAdapter
from shared.services.sync import SyncConfig, SyncService
from shared.settings import Settings
from shared.store.firestore import Store
from shared.store.pubsub import Publisher, TopicSink


class ProgressCalendar(CalendarAdapter):
    """The Calendar adapter, telling `on_page` the size of every page it lists."""

    def __init__(self, apis: Apis) -> None:
        super().__init__(apis)
        self.on_page: Callable[[int], None] = lambda _events: None

    def list_events(self, user: str, calendar_id: str, **kw: Any) -> EventPage:
        page = super().list_events(user, calendar_id, **kw)
        self.on_page(len(page.items))
        return page


@dataclass
class Services:
    calendar: ProgressCalendar
    meet: MeetAdapter
    sync: SyncService


def services(s: Settings, store: Store, publisher: Publisher) -> Services:
    vault = StoredRefreshTokens(store, s.token_encryption_key) if s.token_encryption_key else None
    apis = Apis(
        calendar_root=s.calendar_api_root,
        meet_root=s.meet_api_root,
        credentials=wiring.credentials_provider(s, store, vault),
        backoff=Backoff(retries=s.api_retries),
    )
    calendar, meet = ProgressCalendar(apis), MeetAdapter(apis)
    sync = SyncService(
        store=store,
        calendar=calendar,
        meet=meet,
        sink=TopicSink(publisher, s.meeting_events_topic),
        config=SyncConfig(
            lease_seconds=s.lease_seconds,
            full_sync_days=s.full_sync_days,
            source=wiring.event_source(s),
            settle_seconds=0.0,  # an operator's sync is not part of a burst
        ),
    )
    return Services(calendar, meet, sync)
