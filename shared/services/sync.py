"""Incremental sync of one calendar, and the conference updates it drives.

One change signal → take the calendar's lease (or mark it dirty and stop: the
holder will sync again) → list changes page by page from the stored sync token
→ for every changed event that is one of our meetings, carry out
`conference.decide` → save the new sync token only after the last page →
release the lease, syncing again first if the calendar went dirty meanwhile.

A 410 drops the token and runs a full sync over the configured window, then
reconciles every meeting we hold that the full sync did not return (it may
have been deleted in the gap; `events.get` tells).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import random
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from shared import logs
from shared.domain import conference, lease
from shared.domain import event as event_
from shared.domain.errors import (
    CalendarGoneError,
    FullSyncRequiredError,
    GoneError,
    NotFoundError,
)
from shared.domain.lease import Acquire
from shared.domain.models import CalendarState, Meeting, MeetingHead, MeetingStatus
from shared.domain.ports import (
    CalendarPort,
    CalendarStore,
    EventPage,
    EventSink,
    Json,
    MeetingStore,
    MeetPort,
)
from shared.services.decisions import AUDIT_PERIOD, ConferenceActions, SpaceUpkeep

_log = logs.get(__name__)
_LIVE = [s.value for s in MeetingStatus if s is not MeetingStatus.CANCELLED]


class SyncStore(CalendarStore, MeetingStore, Protocol):
    """The repositories a sync reads and writes."""


@dataclass(frozen=True, slots=True)
class SyncConfig:
    lease_seconds: int
    full_sync_days: int
    source: str
    """CloudEvents `source` of outbound meeting events."""
    settle_seconds: float = 0.0
    sweep_age_seconds: int = 0
    """A successful sync puts the calendar's next sweep this far off (less jitter); 0
    leaves `next_sweep_at` alone."""
    audit_hours: float = AUDIT_PERIOD.total_seconds() / 3600
    """A meeting becoming followed is first audited within this (`shared.services.audit`)."""


@dataclass
class SyncReport:
    outcome: str = ""
    passes: int = 0
    pages: int = 0
    events_seen: int = 0
    meetings_changed: int = 0
    full_syncs: int = 0
    emitted: list[str] = dataclasses.field(default_factory=list)


class SyncService:
    def __init__(
        self,
        *,
        store: SyncStore,
        calendar: CalendarPort,
        meet: MeetPort,
        sink: EventSink,
        config: SyncConfig,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        sleep: Callable[[float], None] = time.sleep,
        spaces: SpaceUpkeep | None = None,
        executor: Executor | None = None,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self._random = random_fraction
        self._sleep = sleep
        self._store = store
        self._calendar = calendar
        self._meet = meet
        self._config = config
        self._now = now
        self._background = executor or ThreadPoolExecutor(
            max_workers=4, thread_name_prefix="sync-read"
        )
        """Reads overlapped with Calendar listing (threads start on first use); the scale
        simulation passes one that runs them in line."""
        self._actions = ConferenceActions(
            calendar=calendar,
            meet=meet,
            store=store,
            sink=sink,
            source=config.source,
            now=now,
            spaces=spaces,
            audit_period=dt.timedelta(hours=config.audit_hours),
        )

    # -- the lease loop --------------------------------------------------------------------

    def sync(self, key: str, *, owner: str, signal_time: dt.datetime | None = None) -> SyncReport:
        """Sync `key` under its lease. `owner` is the signal's message id: a redelivery of
        the message whose worker died takes its own lease back at once. A signal younger
        than the settle time first waits out the rest of it, so that the burst it belongs
        to is covered by one sync (see `lease.acquire`)."""
        report = SyncReport()
        lease_s = self._config.lease_seconds
        if signal_time is not None:
            age = (self._now() - signal_time).total_seconds()
            if age < self._config.settle_seconds:
                self._sleep(self._config.settle_seconds - age)
        now = self._now()
        early: list[_Early] = []

        def take(current: CalendarState | None) -> tuple[_Taken, CalendarState | None]:
            decision = lease.acquire(
                current, owner=owner, now=now, lease_seconds=lease_s, signal_time=signal_time
            )
            if decision.outcome is Acquire.ACQUIRED and decision.state is not None:
                self._read_early(decision.state, early)
            return (decision.outcome, decision.state), decision.state

        outcome, state = self._store.modify_calendar(key, take)
        if outcome is not Acquire.ACQUIRED or state is None:
            report.outcome = outcome.value
            return report
        first = early[-1] if early and early[-1].basis == _basis(state) else None
        while True:
            token = self._sync_pass(state, report, first)
            first = None  # a further pass starts from the state the release wrote
            report.passes += 1
            finished, state = self._finish(key, owner, lease_s, token)
            if finished is lease.Finish.LOST or state is None:
                _log.warning("lease lost before saving the sync token; the next sync redoes it")
                report.outcome = "lease_lost"
                return report
            if finished is lease.Finish.RELEASED:
                report.outcome = "synced"
                return report

    def _read_early(self, state: CalendarState, early: list[_Early]) -> None:
        """Start the pass's first reads while the lease write is in flight (the write is
        conditional: when it commits, the state it was decided on is the one synced). A
        decision made again after a lost race reads again only if the state differs."""
        if early and early[-1].basis == _basis(state):
            return
        time_min = self._time_min()
        heads = None
        if not state.sync_token:
            heads = self._background.submit(self._store.meeting_heads, state.key, _LIVE)
        page = self._background.submit(
            self._calendar.list_events,
            state.owner,
            state.calendar_id,
            sync_token=state.sync_token or None,
            time_min=None if state.sync_token else time_min,
        )
        early.append(_Early(_basis(state), time_min, page, heads))

    def _time_min(self) -> str:
        return (self._now() - dt.timedelta(days=self._config.full_sync_days)).isoformat()

    def _sweep_after(self) -> dt.timedelta | None:
        """How long until the sweep visits this calendar again: the sweep age less up to a
        quarter, at random, so calendars synced together are not swept together."""
        age = self._config.sweep_age_seconds
        return dt.timedelta(seconds=age * (1 - 0.25 * self._random())) if age > 0 else None

    def _finish(
        self, key: str, owner: str, lease_seconds: int, token: tuple[str, int]
    ) -> tuple[lease.Finish, CalendarState | None]:
        """Save the pass's sync token and release the lease in one conditional write; the
        state written is what a further pass (the calendar went dirty) starts from."""
        now = self._now()

        def decide(
            state: CalendarState | None,
        ) -> tuple[tuple[lease.Finish, CalendarState | None], CalendarState | None]:
            finished, new = lease.finish(
                state,
                owner=owner,
                now=now,
                lease_seconds=lease_seconds,
                token=token[0],
                version=token[1],
                sweep_after=self._sweep_after(),
            )
            return (finished, new), new

        return self._store.modify_calendar(key, decide)

    def _sync_pass(
        self, state: CalendarState, report: SyncReport, early: _Early | None = None
    ) -> tuple[str, int]:
        """One pass over the calendar's changes; returns the sync token (and its version)
        to store with the lease's release. Announcements a failed publish left behind are
        looked up while the first page is listed, and sent before any change is applied."""
        with logs.context(calendar=state.key):
            leftovers = self._background.submit(self._store.pending_announcements, state.key)

            @functools.cache
            def flush_leftovers() -> None:
                for meeting in leftovers.result():
                    self._actions.announcer.flush(meeting)

            token: tuple[str, int] | None = None
            if state.sync_token:
                try:
                    pages = self._pages(state, token=state.sync_token, early=early)
                    token = self._run(state, report, pages, before_apply=flush_leftovers)
                except FullSyncRequiredError:
                    _log.warning("sync token invalidated; running a full sync")
            if token is None:
                fresh = early if early and not state.sync_token else None
                token = self.full_sync(state, report, before_apply=flush_leftovers, early=fresh)
            flush_leftovers()
            return token

    def full_sync(
        self,
        state: CalendarState,
        report: SyncReport,
        *,
        before_apply: Callable[[], None] = lambda: None,
        early: _Early | None = None,
    ) -> tuple[str, int]:
        """List the window in full, store a fresh token, reconcile what the list did not show.

        The calendar's meeting heads are read while the pages are listed (the two cost
        about the same); our events are applied once both are in, and only those the
        heads do not show settled are read whole."""
        report.full_syncs += 1
        seen: set[str] = set()
        if early is not None and early.heads is not None:
            time_min, pending = early.time_min, early.heads
        else:
            time_min, early = self._time_min(), None
            pending = self._background.submit(self._store.meeting_heads, state.key, _LIVE)

        @functools.cache
        def heads() -> dict[str, MeetingHead]:
            return {h.id: h for h in pending.result()}

        try:
            token = self._run(
                state,
                report,
                self._pages(state, time_min=time_min, early=early),
                seen=seen,
                heads=heads,
                token_version=state.token_version + 1,
                before_apply=before_apply,
            )
        except BaseException:
            pending.cancel()  # only a pass that completes reads them (to reconcile)
            raise
        before_apply()
        self._reconcile(state, heads().values(), seen, report)
        return token

    def _pages(
        self,
        state: CalendarState,
        *,
        token: str | None = None,
        time_min: str | None = None,
        early: _Early | None = None,
    ) -> Iterator[EventPage]:
        """The listing page by page; `early` may hold its first page, already requested
        (taken here, so that nothing else keeps it alive once it is used)."""
        first = early.take_page() if early is not None else None
        page_token: str | None = None
        while True:
            try:
                if first is not None:
                    page, first = first.result(), None
                else:
                    page = self._calendar.list_events(
                        state.owner,
                        state.calendar_id,
                        sync_token=token,
                        page_token=page_token,
                        time_min=None if token else time_min,
                    )
            except NotFoundError as exc:
                raise CalendarGoneError(f"calendar {state.key} not found: {exc}") from exc
            yield page
            if not page.next_page_token:
                return
            page_token = page.next_page_token

    def _run(
        self,
        state: CalendarState,
        report: SyncReport,
        pages: Iterator[EventPage],
        *,
        seen: set[str] | None = None,
        heads: Callable[[], dict[str, MeetingHead]] | None = None,
        token_version: int | None = None,
        before_apply: Callable[[], None] = lambda: None,
    ) -> tuple[str, int]:
        next_token: str | None = None
        held: dict[str, list[Json]] = {}
        for page in pages:
            report.pages += 1
            report.events_seen += len(page.items)
            if seen is not None:
                seen.update(str(item.get("id", "")) for item in page.items)
            if heads is None:  # incremental: apply page by page (a page bounds the memory)
                before_apply()
                self._apply(state, _candidates(page.items, {}), report)
            else:  # full: keep only our events, apply once the heads have arrived
                _candidates(page.items, held)
            next_token = page.next_sync_token
        if heads is not None and held:
            known = heads()
            unsettled = {m: e for m, e in held.items() if not _settled(known.get(m), e)}
            before_apply()
            self._apply(state, unsettled, report)
        if not next_token:
            # gcal_sync's rule: a last page without a token is a broken contract; fail loudly
            raise RuntimeError("calendar list ended without nextSyncToken")
        version = state.token_version if token_version is None else token_version
        return next_token, version

    # -- conference updates ----------------------------------------------------------------

    def _apply(
        self, state: CalendarState, candidates: dict[str, list[Json]], report: SyncReport
    ) -> None:
        """Look up, in one read, the meetings among the changed events, and update each.

        A meeting follows its own event only: occurrences of a recurring meeting (and
        copies of its event) carry our marker too, but moving or cancelling one occurrence
        changes neither the series nor its shared conference."""
        if not candidates:
            return
        held = self._store.get_meetings(candidates)
        for meeting_id, meeting in held.items():
            if meeting.calendar_key != state.key:
                continue
            own = [i for i in candidates[meeting_id] if i.get("id") == meeting.event_id]
            if own and self.apply_event(state, meeting, own[-1], report):
                report.meetings_changed += 1

    def apply_event(
        self, state: CalendarState, meeting: Meeting, event: Json, report: SyncReport
    ) -> bool:
        """Carry out the policy for one event (`ConferenceActions`)."""
        outcome = self._actions.carry_out(meeting, event)
        report.emitted.extend(outcome.emitted)
        return outcome.changed

    def _reconcile(
        self, state: CalendarState, heads: Iterable[MeetingHead], seen: set[str], report: SyncReport
    ) -> None:
        """Meetings the full sync did not return may have been deleted in the gap."""
        for head in heads:
            if not head.event_id or head.event_id in seen:
                continue
            meeting = self._store.get_meeting(head.id)
            if meeting is None:
                continue
            try:
                event = self._calendar.get_event(state.owner, state.calendar_id, meeting.event_id)
            except GoneError:
                # 410 deleted: it was inserted, even if its create (still polling, or a
                # completion job) has not put the etag on the record yet
                event = {"id": meeting.event_id, "status": "cancelled"}
            except NotFoundError:
                if not meeting.event_etag:
                    # never seen: its create has not inserted the event yet (it is retrying
                    # a failed insert, and owns the meeting); missing is not deleted
                    continue
                event = {"id": meeting.event_id, "status": "cancelled"}
            # cancelled in the gap, or alive but outside the window: apply its latest state
            if self.apply_event(state, meeting, event, report):
                report.meetings_changed += 1


def _candidates(items: list[Json], into: dict[str, list[Json]]) -> dict[str, list[Json]]:
    """Add the events that may concern a meeting of ours (marked by us, or cancelled: a
    cancelled event carries no properties) to `into`, by meeting id, in listing order."""
    for item in items:
        # most events of a calendar are not ours and carry no properties at all
        marked = event_.owner_meeting(item) if "extendedProperties" in item else ""
        if marked or item.get("status") == "cancelled":
            into.setdefault(marked or str(item.get("id", "")), []).append(item)
    return into


_Taken = tuple[Acquire, CalendarState | None]
"""The lease decision's outcome and the state it wrote: the holder starts from it."""


@dataclass(slots=True)
class _Early:
    """A pass's first reads, started while the lease write was in flight."""

    basis: tuple[str, int]
    """The (sync token, token version) they were made for."""
    time_min: str
    page: Future[EventPage] | None
    heads: Future[list[MeetingHead]] | None

    def take_page(self) -> Future[EventPage] | None:
        """The first page, handed over once: the listing drops it after use (a page of
        2,500 events must not stay alive for the rest of the sync)."""
        page, self.page = self.page, None
        return page


def _basis(state: CalendarState) -> tuple[str, int]:
    return state.sync_token, state.token_version


def _settled(head: MeetingHead | None, events: list[Json]) -> bool:
    """The head shows that none of these events changes its meeting (its own event is
    absent, or the version the record holds)."""
    if head is None:
        return False
    own = [e for e in events if e.get("id") == head.event_id]
    return not own or conference.settled(head, own[-1])
