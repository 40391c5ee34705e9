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
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from shared import logs
from shared.domain import conference
from shared.domain.lease import Acquire, LeaseDecision
from shared.domain.models import CalendarState, Meeting, MeetingHead, MeetingStatus
from shared.domain.ports import CalendarPort, EventPage, EventSink, Json, MeetPort
from shared.domain.errors import (
    FailedPreconditionError,
    FullSyncRequiredError,
    GoneError,
    NotFoundError,
    PreconditionFailedError,
)
from shared.services.outbox import Announcer, queued

_log = logs.get(__name__)
_DECIDE_ATTEMPTS = 4
_LIVE = [s.value for s in MeetingStatus if s is not MeetingStatus.CANCELLED]


class SyncStore(Protocol):
    """The slice of the Firestore store the sync needs."""

    def get_calendar(self, key: str) -> CalendarState | None: ...

    def acquire_lease(
        self,
        key: str,
        *,
        owner: str,
        now: dt.datetime,
        lease_seconds: int,
        signal_time: dt.datetime | None = None,
    ) -> LeaseDecision: ...

    def release_lease(
        self, key: str, *, owner: str, now: dt.datetime, lease_seconds: int
    ) -> bool: ...

    def save_sync_token(self, key: str, *, owner: str, token: str, token_version: int) -> bool: ...

    def get_meeting(self, meeting_id: str) -> Meeting | None: ...

    def get_meetings(self, meeting_ids: Any) -> dict[str, Meeting]: ...

    def update_meeting(
        self, meeting_id: str, change: Callable[[Meeting], Meeting | None]
    ) -> Meeting | None: ...

    def meeting_heads(self, calendar_key: str, statuses: Any) -> list[MeetingHead]: ...

    def pending_announcements(self, calendar_key: str) -> list[Meeting]: ...


@dataclass(frozen=True, slots=True)
class SyncConfig:
    lease_seconds: int
    full_sync_days: int
    source: str
    settle_seconds: float = 0.0
    """CloudEvents `source` of outbound meeting events."""


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
    ) -> None:
        self._sleep = sleep
        self._store = store
        self._calendar = calendar
        self._meet = meet
        self._announcer = Announcer(store=store, sink=sink)
        self._config = config
        self._now = now

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
        decision = self._store.acquire_lease(
            key, owner=owner, now=self._now(), lease_seconds=lease_s, signal_time=signal_time
        )
        if decision.outcome is not Acquire.ACQUIRED:
            report.outcome = decision.outcome.value
            return report
        again = True
        while again:
            state = self._store.get_calendar(key)
            if state is None or state.lease_owner != owner:
                report.outcome = "lease_lost"
                return report
            self._sync_pass(state, owner, report)
            report.passes += 1
            again = self._store.release_lease(
                key, owner=owner, now=self._now(), lease_seconds=lease_s
            )
        report.outcome = "synced"
        return report

    def _sync_pass(self, state: CalendarState, owner: str, report: SyncReport) -> None:
        with logs.context(calendar=state.key):
            for meeting in self._store.pending_announcements(state.key):
                self._announcer.flush(meeting)  # left over by a publish that failed
            if state.sync_token:
                try:
                    self._run(state, owner, report, self._pages(state, token=state.sync_token))
                    return
                except FullSyncRequiredError:
                    _log.warning("sync token invalidated; running a full sync")
            self.full_sync(state, owner, report)

    def full_sync(self, state: CalendarState, owner: str, report: SyncReport) -> None:
        """List the window in full, store a fresh token, reconcile what the list did not show."""
        report.full_syncs += 1
        time_min = (self._now() - dt.timedelta(days=self._config.full_sync_days)).isoformat()
        seen: set[str] = set()
        heads = {h.id: h for h in self._store.meeting_heads(state.key, _LIVE)}
        pages = self._pages(state, time_min=time_min)
        self._run(
            state,
            owner,
            report,
            pages,
            seen=seen,
            heads=heads,
            token_version=state.token_version + 1,
        )
        self._reconcile(state, heads.values(), seen, report)

    def _pages(
        self, state: CalendarState, *, token: str | None = None, time_min: str | None = None
    ) -> Iterator[EventPage]:
        page_token: str | None = None
        while True:
            page = self._calendar.list_events(
                state.owner,
                state.calendar_id,
                sync_token=token,
                page_token=page_token,
                time_min=None if token else time_min,
            )
            yield page
            if not page.next_page_token:
                return
            page_token = page.next_page_token

    def _run(
        self,
        state: CalendarState,
        owner: str,
        report: SyncReport,
        pages: Iterator[EventPage],
        *,
        seen: set[str] | None = None,
        heads: dict[str, MeetingHead] | None = None,
        token_version: int | None = None,
    ) -> None:
        next_token: str | None = None
        for page in pages:
            report.pages += 1
            report.events_seen += len(page.items)
            if seen is not None:
                seen.update(str(item.get("id", "")) for item in page.items)
            self._apply_page(state, page.items, report, heads)
            next_token = page.next_sync_token
        if not next_token:
            # gcal_sync's rule: a last page without a token is a broken contract; fail loudly
            raise RuntimeError("calendar list ended without nextSyncToken")
        version = state.token_version if token_version is None else token_version
        if not self._store.save_sync_token(
            state.key, owner=owner, token=next_token, token_version=version
        ):
            _log.warning("lease lost before saving the sync token; the next sync redoes the work")

    # -- conference updates ----------------------------------------------------------------

    def _apply_page(
        self,
        state: CalendarState,
        items: list[Json],
        report: SyncReport,
        heads: dict[str, MeetingHead] | None = None,
    ) -> None:
        """Look up, in one read, the meetings among the changed events, and update each.

        A meeting follows its own event only: occurrences of a recurring meeting (and
        copies of its event) carry our marker too, but moving or cancelling one occurrence
        changes neither the series nor its shared conference. A full sync passes the
        calendar's meeting heads: events they show unchanged are not read again."""
        candidates: dict[str, list[Json]] = {}
        for item in items:
            marked = ((item.get("extendedProperties") or {}).get("private") or {}).get(
                conference.OWNED_PROPERTY
            )
            if marked or item.get("status") == "cancelled":
                candidates.setdefault(str(marked or item.get("id", "")), []).append(item)
        if heads:
            candidates = {
                mid: events
                for mid, events in candidates.items()
                if not _settled(heads.get(mid), events)
            }
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
        """Carry out the policy for one event; re-read and decide again on 412 or a race."""
        for _ in range(_DECIDE_ATTEMPTS):
            decision = conference.decide(meeting, event)
            if decision.noop:
                return False
            fields = dict(decision.fields)
            space = meeting.space
            if decision.resolve_space_code:
                space = self._meet.get_space(
                    meeting.organizer, f"spaces/{decision.resolve_space_code}"
                )["name"]
                fields["space"] = space
            if decision.stamp_space and space:
                try:
                    stamped = self._stamp(state, event, space)
                except PreconditionFailedError:
                    event = self._calendar.get_event(state.owner, state.calendar_id, event["id"])
                    continue
                fields.update(
                    event_etag=stamped.get("etag", ""), event_updated=stamped.get("updated", "")
                )
            if decision.end_conference:
                self._end_conference(meeting.organizer, space)
            now = self._now()
            updated = conference.apply(meeting, fields, now, emits=bool(decision.emits))
            announce = [
                conference.cloud_event(updated, kind, now, self._config.source)
                for kind in decision.emits
            ]
            saved = self._store.update_meeting(
                meeting.id, _if_unchanged(meeting, updated, announce)
            )
            if saved is not None:
                self._announcer.flush(saved)
                report.emitted.extend(decision.emits)
                _log.info(
                    "meeting updated",
                    extra={
                        "meeting": meeting.id,
                        "emitted": decision.emits,
                        "status": updated.status,
                    },
                )
                return True
            fresh = self._store.get_meeting(meeting.id)
            if fresh is None:
                return False
            meeting = fresh
        raise RuntimeError(f"meeting {meeting.id} kept changing under us; retry the signal")

    def _stamp(self, state: CalendarState, event: Json, space: str) -> Json:
        """Write the space name onto the event, conditional on the etag we just read."""
        private = dict((event.get("extendedProperties") or {}).get("private") or {})
        private[conference.SPACE_PROPERTY] = space
        return self._calendar.patch_event(
            state.owner,
            state.calendar_id,
            event["id"],
            {"extendedProperties": {"private": private}},
            etag=str(event.get("etag", "")),
        )

    def _end_conference(self, organizer: str, space: str) -> None:
        """End the space's active conference; none running (or no space) counts as done."""
        try:
            self._meet.end_active_conference(organizer, space)
        except (FailedPreconditionError, NotFoundError):
            _log.info("no active conference to end", extra={"space": space})

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
            except (NotFoundError, GoneError):
                if not meeting.event_etag:
                    # never seen: its create request has not inserted the event yet (it
                    # is retrying a failed insert); missing is not deleted
                    continue
                event = {"id": meeting.event_id, "status": "cancelled"}
            # cancelled in the gap, or alive but outside the window: apply its latest state
            if self.apply_event(state, meeting, event, report):
                report.meetings_changed += 1


def _settled(head: MeetingHead | None, events: list[Json]) -> bool:
    """The head shows that none of these events changes its meeting (its own event is
    absent, or the version the record holds)."""
    if head is None:
        return False
    own = [e for e in events if e.get("id") == head.event_id]
    return not own or conference.settled(head, own[-1])


def _if_unchanged(
    read: Meeting, updated: Meeting, announce: list[Json]
) -> Callable[[Meeting], Meeting | None]:
    """Optimistic write: replace the record only if nobody changed it since we read it,
    queueing the change's announcements in the same write (see `shared.services.outbox`)."""

    def change(current: Meeting) -> Meeting | None:
        if (current.version, current.event_etag) != (read.version, read.event_etag):
            return None
        return queued(updated, current, announce)

    return change
