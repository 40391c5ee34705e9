"""The audit: each followed meeting's event is re-read about once per `AUDIT_HOURS`, and a
record that disagrees with it is corrected.

Notifications, syncs, reconciliation and the sweep keep records in step with Calendar,
but each of them only for the changes it is shown: a change that some fault made every
one of them miss would stay wrong for good. The audit depends on none of them. It reads
the event itself (`events.get`, through the same budgeted calendar as every Calendar
call) and hands it to the conference decisions a sync uses (`ConferenceActions`, in
`audit` mode: the record's etag is not trusted), so a correction is stored, announced,
stamped and its conference ended exactly as a sync would.

Its cost is bounded by the number of followed meetings, not by traffic: a meeting is
read at most once per `AUDIT_HOURS` (each audit puts the next one that far off plus up to
a quarter, at random, so meetings do not bunch), only while it is followed (it has an
event, is not cancelled, and its event has not ended longer ago than the sync window).
It runs as the `audit` kind of the maintenance topic: one job per shard, each paging its
shard's due meetings by `next_audit_at`, ending with a continuation when its time or the
Calendar budget runs out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from shared import logs
from shared.domain import conference
from shared.domain import event as event_
from shared.domain.errors import (
    ApiError,
    AuthRevokedError,
    BudgetExhaustedError,
    GoneError,
    NotFoundError,
)
from shared.domain.models import Meeting, RunOutcome
from shared.domain.ports import AuditIndex, Clock, Json, MeetingStore
from shared.services.decisions import ConferenceActions, EventCalendar
from shared.services.runs import Resume, Summary

_log = logs.get(__name__)
AUDIT_PAGE = 100
"""Meetings read per query of a shard job."""


class AuditStore(MeetingStore, AuditIndex, Protocol):
    """The repositories the audit reads and writes."""


@dataclass
class AuditReport:
    """What one audit job did, by meeting id."""

    in_step: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    """No longer followed (cancelled, given up, ended): out of the audit."""
    waiting: list[str] = field(default_factory=list)
    """Still being created (nothing seen to compare): audited a period later."""
    auth_revoked: list[str] = field(default_factory=list)
    """The organizer's authorization is gone: audited a period later (the sync marks them)."""
    errors: list[str] = field(default_factory=list)

    def summary(self) -> Summary:
        """The job's outcome for its stored report: failed if a meeting could not be read
        (it stays due, so the next run tries again); attention for revoked organizers."""
        if self.errors:
            outcome = RunOutcome.FAILED
        elif self.auth_revoked:
            outcome = RunOutcome.ATTENTION
        else:
            outcome = RunOutcome.OK
        lists = {k: v for k, v in dataclasses.asdict(self).items() if v}
        return outcome, lists


class Auditor:
    def __init__(
        self,
        *,
        store: AuditStore,
        calendar: EventCalendar,
        actions: ConferenceActions,
        period: dt.timedelta,
        window: dt.timedelta,
        now: Clock,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._calendar = calendar
        self._actions = actions
        self._period = period
        self._window = window
        """How long after its end an event stays followed (the full sync's window)."""
        self._now = now
        self._random = random_fraction

    @property
    def horizon(self) -> dt.timedelta:
        """The furthest a followed meeting's next audit is: a run due this far ahead audits
        every one of them (`{"kind": "audit", "all": true}`)."""
        return self._period * 1.25

    def audit_shard(
        self,
        shard: int,
        *,
        due: dt.datetime,
        after: dt.datetime | None = None,
        out_of_time: Callable[[], bool] = lambda: False,
    ) -> tuple[AuditReport, Resume | None]:
        """Audit `shard`'s meetings due at `due` (after the cursor `after`), soonest first.
        Returns the report and where to resume when time or the Calendar budget ran out
        (None when the shard is done). An audited meeting moves its `next_audit_at` past
        `due`; one that failed keeps it, and the cursor steps over it."""
        report = AuditReport()
        while True:
            page = self._store.meetings_to_audit(shard, due, after=after, limit=AUDIT_PAGE)
            for meeting in page:
                if out_of_time():
                    return report, Resume("", after)
                try:
                    self.audit(meeting, report)
                except BudgetExhaustedError:
                    # the rest waits for the continuation, whose calls wait for the budget
                    return report, Resume("", after)
                after = meeting.next_audit_at
            if len(page) < AUDIT_PAGE:
                return report, None

    def audit(self, meeting: Meeting, report: AuditReport) -> None:
        """Re-read one meeting's event and correct the record if it disagrees."""
        now = self._now()
        with logs.context(meeting=meeting.id):
            if not conference.auditable(meeting):
                self._schedule(meeting, None)
                report.left.append(meeting.id)
                return
            if meeting.pending and not meeting.event_etag:
                # its create (the request, or a completion job) owns it and has not seen
                # its event yet: nothing to compare
                self._schedule(meeting, self._next(now))
                report.waiting.append(meeting.id)
                return
            try:
                event = self._read(meeting)
                if event is None:
                    self._schedule(meeting, self._next(now))
                    report.waiting.append(meeting.id)
                    return
                outcome = self._actions.carry_out(meeting, event, audit=True)
            except BudgetExhaustedError:
                raise
            except AuthRevokedError:  # the sync marks the user; audit again a period later
                self._schedule(meeting, self._next(now))
                report.auth_revoked.append(meeting.id)
                return
            except (ApiError, RuntimeError) as exc:  # transient: stays due for the next run
                report.errors.append(f"{meeting.id}: {type(exc).__name__}: {exc}")
                return
            if outcome.changed:
                _log.warning(
                    "audit corrected a meeting",
                    extra={"emitted": outcome.emitted, "status": outcome.meeting.status},
                )
                report.corrected.append(meeting.id)
            else:
                report.in_step.append(meeting.id)
            ended = event_.last_end(event)
            over = ended is not None and ended < now - self._window
            self._schedule(outcome.meeting, None if over else self._next(now))

    def _read(self, meeting: Meeting) -> Json | None:
        """The event as Calendar has it now; a deleted one as cancelled; None when it was
        never seen and is not there (its create has not inserted it yet)."""
        try:
            return self._calendar.get_event(
                meeting.organizer, meeting.calendar_id, meeting.event_id
            )
        except GoneError:
            return {"id": meeting.event_id, "status": "cancelled"}
        except NotFoundError:
            if not meeting.event_etag:
                return None
            return {"id": meeting.event_id, "status": "cancelled"}

    def _next(self, now: dt.datetime) -> dt.datetime:
        """At least a period ahead (never twice within it), plus up to a quarter."""
        return now + self._period * (1 + 0.25 * self._random())

    def _schedule(self, meeting: Meeting, when: dt.datetime | None) -> None:
        """Store the next audit time alone (no version bump, no announcement): whatever else
        changed meanwhile is kept, and a meeting no longer followed leaves the audit."""

        def change(current: Meeting) -> Meeting | None:
            wanted = when if conference.auditable(current) else None
            if current.next_audit_at == wanted:
                return None
            return dataclasses.replace(current, next_audit_at=wanted)

        self._store.update_meeting(meeting.id, change)
