"""The whole product on the in-memory adapters (`shared.memory`), with a fake clock.

`system()` wires every service the way `shared.wiring` does, but on `MemoryStore`,
`MemoryCalendar`, `MemoryMeet`, `MemorySink` and `MemoryPublisher`, so the unit tests
drive real use cases without I/O and assert on what the fakes hold afterwards.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from shared.domain import meeting_request
from shared.domain.models import CalendarState, Meeting, User, calendar_key
from shared.domain.ports import Json
from shared.memory import MemoryCalendar, MemoryMeet, MemoryPublisher, MemorySink, MemoryStore
from shared.services.channels import ChannelConfig, ChannelService, RenewReport
from shared.services.maintenance import MaintenanceService
from shared.services.meetings import MeetingService
from shared.services.signals import SignalService, Sweeper
from shared.services.sync import SyncConfig, SyncReport, SyncService
from shared.services.worker import Worker
from shared.settings import Settings

T0 = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
ALICE = "alice@example.com"
BOB = "bob@example.com"
KEY = calendar_key(ALICE, "primary")
"""Alice's primary calendar (`alice@example.com:alice@example.com`)."""
WEBHOOK = "https://hooks.example.com/calendar"
ENV = {
    "GOOGLE_CLOUD_PROJECT": "unit",
    "DELEGATION_SERVICE_ACCOUNT": "sa@unit.iam.gserviceaccount.com",
    "WEBHOOK_URL": WEBHOOK,
}


P = ParamSpec("P")
T = TypeVar("T")


class InlineExecutor(ThreadPoolExecutor):
    """Runs what is submitted at once, in the caller's thread: the sync service's
    background reads without threads, the same way in every run."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class _Deferred(Future[T]):
    def __init__(self, call: Callable[[], T]) -> None:
        super().__init__()
        self._call = call

    def result(self, timeout: float | None = None) -> T:
        if not self.done() and self.set_running_or_notify_cancel():
            try:
                self.set_result(self._call())
            except BaseException as exc:
                self.set_exception(exc)
        return super().result(timeout)


class DeferredExecutor(ThreadPoolExecutor):
    """Starts a submitted call only when its result is first asked for: a background
    read that has not started yet when its caller moves on (what a busy or idle thread
    pool often does), every time."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return _Deferred(lambda: fn(*args, **kwargs))


def settings(**env: str) -> Settings:
    return Settings.from_env({**ENV, **env})


class Clock:
    """Wall clock and monotonic clock in one; `sleep` only moves them."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.start = start
        self.t = start

    def __call__(self) -> dt.datetime:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += dt.timedelta(seconds=seconds)

    def monotonic(self) -> float:
        return (self.t - self.start).total_seconds()

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)


class Calendar(MemoryCalendar):
    """`MemoryCalendar` on the test's clock."""

    def __init__(self, clock: Clock, **kw: Any) -> None:
        super().__init__(clock=clock, **kw)


@dataclass
class System:
    clock: Clock
    settings: Settings
    store: MemoryStore
    calendar: Calendar
    meet: MemoryMeet
    sink: MemorySink
    publisher: MemoryPublisher
    sync: SyncService
    channels: ChannelService
    signals: SignalService
    sweeper: Sweeper
    meetings: MeetingService
    worker: Worker
    maintenance: MaintenanceService

    def run_maintenance(self, body: dict[str, Any]) -> tuple[str, dict[str, list[str]]]:
        """Dispatch a run and deliver its shard jobs (and their continuations) as Pub/Sub
        would; (run id, the ids behind each count merged over the shards)."""
        run = str(self.maintenance.handle(body)["run"])
        queue = self.publisher.messages.setdefault(self.settings.maintenance_topic, [])
        while queue:
            data, _key, _attributes = queue.pop(0)
            self.maintenance.handle(data)
        merged: dict[str, list[str]] = {}
        for report in sorted(self.store.reports_of_run(run), key=lambda r: (r.shard, r.id)):
            for name, ids in report.details.items():
                merged.setdefault(name, []).extend(ids)
        return run, merged

    def renew(self) -> RenewReport:
        """A whole renewal run, its shard reports merged."""
        return RenewReport(**self.run_maintenance({"kind": "renew"})[1])

    def sweep(self, *, all_calendars: bool = True) -> list[str]:
        """A whole sweep run (every watched calendar unless `all_calendars` is false, then
        only the stale ones); the calendars it signalled."""
        body = {"kind": "sweep", "all": all_calendars}
        return self.run_maintenance(body)[1].get("enqueued", [])

    def state(self, key: str = KEY) -> CalendarState:
        state = self.store.get_calendar(key)
        assert state is not None, key
        return state

    def meeting(self, meeting_id: str) -> Meeting:
        meeting = self.store.get_meeting(meeting_id)
        assert meeting is not None, meeting_id
        return meeting

    def watched(self, user: str = ALICE) -> CalendarState:
        """A watched calendar without a sync token yet (as `watch` leaves it before its
        initial sync)."""
        key = calendar_key(user, "primary")
        self.store.put_calendar(CalendarState(key=key, owner=user, calendar_id=user))
        return self.state(key)

    def create(self, key: str = "k1", **changes: Any) -> Meeting:
        """A meeting made by create_meeting, ready, its event in Alice's calendar."""
        body: Json = {
            "organizer": ALICE,
            "summary": "Planning",
            "start": "2026-12-01T10:00:00Z",
            "end": "2026-12-01T11:00:00Z",
            **changes,
        }
        request = meeting_request.parse(body, max_attendees=10)
        return self.meetings.create(request, key)

    def sync_now(self, owner: str = "") -> SyncReport:
        """A sync as the worker runs one for a fresh signal (a new message id each time)."""
        return self.sync.sync(KEY, owner=owner or f"msg-{next(_messages)}")


_messages = itertools.count(1)


def system(
    *,
    env: dict[str, str] | None = None,
    users: tuple[str, ...] = (ALICE, BOB),
    page_size: int = 250,
) -> System:
    clock = Clock()
    s = settings(**(env or {}))
    store, meet, sink, publisher = MemoryStore(), MemoryMeet(), MemorySink(), MemoryPublisher()
    calendar = Calendar(clock, page_size=page_size)
    for user in users:
        store.put_user(User(email=user, created_at=T0))
    source = f"//meetsync.{s.project}/meetings"
    sync = SyncService(
        store=store,
        calendar=calendar,
        meet=meet,
        sink=sink,
        config=SyncConfig(
            lease_seconds=s.lease_seconds,
            full_sync_days=s.full_sync_days,
            source=source,
            settle_seconds=s.sync_settle_seconds,
            sweep_age_seconds=s.sweep_age_seconds,
        ),
        now=clock,
        sleep=clock.sleep,
    )
    sync._background = InlineExecutor()
    channels = ChannelService(
        store=store,
        calendar=calendar,
        config=ChannelConfig(
            webhook_url=s.webhook_url,
            ttl_seconds=s.channel_ttl_seconds,
            renew_window_seconds=s.renew_window_seconds,
            overlap_seconds=s.channel_overlap_seconds,
        ),
        initial_sync=lambda key: sync.sync(key, owner=f"watch-{next(_messages)}"),
        now=clock,
    )
    signals = SignalService(
        get_channel=store.get_channel, publisher=publisher, topic=s.changes_topic, now=clock
    )
    sweeper = Sweeper(calendars=store, signals=signals, now=clock)
    meetings = MeetingService(
        calendar=calendar,
        meet=meet,
        store=store,
        events=sink,
        source=source,
        wait_seconds=s.conference_wait_seconds,
        clock=clock,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
    )
    return System(
        clock=clock,
        settings=s,
        store=store,
        calendar=calendar,
        meet=meet,
        sink=sink,
        publisher=publisher,
        sync=sync,
        channels=channels,
        signals=signals,
        sweeper=sweeper,
        meetings=meetings,
        worker=Worker(
            sync=sync,
            failures=store,
            max_age_seconds=s.max_message_age_seconds,
            on_unreachable=channels.mark_unreachable,
            now=clock,
        ),
        maintenance=MaintenanceService(
            publisher=publisher,
            topic=s.maintenance_topic,
            channels=channels,
            sweeper=sweeper,
            runs=store,
            sweep_age_seconds=s.sweep_age_seconds,
            now=clock,
            monotonic=clock.monotonic,
        ),
    )
