"""Carrying out a conference decision: the one path from `conference.decide` to the record.

Both the sync worker (a changed event) and create_meeting (polling its own
event) hand an event to `ConferenceActions.carry_out`. It resolves the Meet
space, stamps the space name onto the event (If-Match; a 412 re-reads and
decides again), ends the conference of a cancelled meeting, and saves the
record with the change's announcements queued in the same conditional write,
then publishes them (`shared.services.outbox`). A write that lost its race is
decided again on the fresh record, so no change is announced that was not stored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from shared import logs
from shared.domain import conference
from shared.domain import event as event_
from shared.domain.errors import FailedPreconditionError, NotFoundError, PreconditionFailedError
from shared.domain.models import Meeting
from shared.domain.ports import Clock, EventSink, Json, MeetingStore, MeetPort
from shared.services.outbox import Announcer, queued

_log = logs.get(__name__)
_DECIDE_ATTEMPTS = 4
AUDIT_PERIOD = dt.timedelta(hours=24)
"""Default of `AUDIT_HOURS`: a followed meeting's event is re-read about once a day."""


class SpaceUpkeep(Protocol):
    """What a stored change of a meeting with a Meet space owes its Workspace Events
    subscription (`shared.services.live.SpaceHooks`). Neither method raises."""

    def fields_before(self, meeting: Meeting) -> Json:
        """Fields to store with the change (a subscription made for a meeting becoming
        ready: stored in the same write, so it costs the caller no extra write)."""
        ...

    def after_change(self, meeting: Meeting) -> Meeting:
        """After the write: subscribe if still not subscribed, release if cancelled."""
        ...


class EventCalendar(Protocol):
    """The Calendar calls a decision may need (a slice of `CalendarPort`)."""

    def get_event(self, user: str, calendar_id: str, event_id: str) -> Json: ...

    def patch_event(
        self, user: str, calendar_id: str, event_id: str, body: Json, *, etag: str
    ) -> Json: ...


@dataclass(slots=True)
class Outcome:
    meeting: Meeting
    """The record after the decision (stored, or in memory when the change was quiet and
    not persisted)."""
    emitted: list[str] = field(default_factory=list)
    changed: bool = False


class ConferenceActions:
    def __init__(
        self,
        *,
        calendar: EventCalendar,
        meet: MeetPort,
        store: MeetingStore,
        sink: EventSink,
        source: str,
        now: Clock,
        spaces: SpaceUpkeep | None = None,
        audit_period: dt.timedelta = AUDIT_PERIOD,
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self._audit_period = audit_period
        """A meeting that becomes auditable is first audited within this (`AUDIT_HOURS`)."""
        self._random = random_fraction
        self._calendar = calendar
        self._spaces = spaces
        self._meet = meet
        self._store = store
        self._announcer = Announcer(store=store, sink=sink)
        self._source = source
        self._now = now

    @property
    def announcer(self) -> Announcer:
        return self._announcer

    def carry_out(
        self,
        meeting: Meeting,
        event: Json,
        *,
        stamp: bool = True,
        persist_quiet: bool = True,
        adopt: Json | None = None,
        audit: bool = False,
    ) -> Outcome:
        """Decide what `event` means for `meeting` and do it.

        `adopt`: fields taken from the event silently (create_meeting's first sight of
        its own event). `persist_quiet=False` keeps a change that announces nothing in
        memory (create_meeting's polling writes only transitions). `stamp=False` leaves
        the space stamp to the sync (it costs a Calendar write). `audit` decides by
        `conference.audit` (the record's etag is not trusted)."""
        for _ in range(_DECIDE_ATTEMPTS):
            base = dataclasses.replace(meeting, **adopt) if adopt else meeting
            decision = conference.audit(base, event) if audit else conference.decide(base, event)
            if decision.noop and not adopt:
                return Outcome(meeting)
            fields = {**(adopt or {}), **decision.fields}
            space = meeting.space
            if decision.resolve_space_code:
                code = decision.resolve_space_code
                space = str(self._meet.get_space(meeting.organizer, f"spaces/{code}")["name"])
                fields["space"] = space
            if stamp and decision.stamp_space and space:
                try:
                    stamped = self._stamp(meeting, event, space)
                except PreconditionFailedError:
                    event = self._calendar.get_event(
                        meeting.organizer, meeting.calendar_id, str(event["id"])
                    )
                    continue
                fields.update(
                    event_etag=str(stamped.get("etag", "")),
                    event_updated=str(stamped.get("updated", "")),
                )
            if decision.end_conference:
                self._end_conference(meeting.organizer, space)
            if not decision.emits and not persist_quiet:
                return Outcome(dataclasses.replace(meeting, **fields), changed=bool(fields))
            saved = self.transition(meeting, fields, decision.emits)
            if saved is not None:
                return Outcome(saved, list(decision.emits), changed=True)
            fresh = self._store.get_meeting(meeting.id)
            if fresh is None:
                return Outcome(meeting)
            meeting = fresh
            if fresh.event_etag:
                adopt = None  # someone else saw the event first: their rendering stands
        raise RuntimeError(f"meeting {meeting.id} kept changing under us; retry")

    def transition(self, meeting: Meeting, fields: Json, emits: Sequence[str]) -> Meeting | None:
        """Store `fields` on the record if nobody wrote it since `meeting` was read, with the
        CloudEvents of `emits` queued in the same write (version bumped once), then publish
        them. None when another writer got in first."""
        now = self._now()
        if self._spaces is not None:
            fields = {
                **fields,
                **self._spaces.fields_before(dataclasses.replace(meeting, **fields)),
            }
        schedule = conference.audit_schedule(
            dataclasses.replace(meeting, **fields), now, self._audit_period, self._random()
        )
        updated = conference.apply(meeting, {**fields, **schedule}, now, emits=bool(emits))
        announce = [conference.cloud_event(updated, kind, now, self._source) for kind in emits]
        saved = self._store.update_meeting(meeting.id, if_unchanged(meeting, updated, announce))
        if saved is None:
            return None
        if emits:
            _log.info(
                "meeting changed",
                extra={"meeting": meeting.id, "emitted": list(emits), "status": saved.status},
            )
        saved = self._announcer.flush(saved)
        if self._spaces is not None and saved.space:
            saved = self._spaces.after_change(saved)
        return saved

    def _stamp(self, meeting: Meeting, event: Json, space: str) -> Json:
        """Write the space name onto the event, conditional on the etag just read."""
        private = event_.private_properties(event)
        private[event_.SPACE_PROPERTY] = space
        return self._calendar.patch_event(
            meeting.organizer,
            meeting.calendar_id,
            str(event["id"]),
            {"extendedProperties": {"private": private}},
            etag=str(event.get("etag", "")),
        )

    def _end_conference(self, organizer: str, space: str) -> None:
        """End the space's active conference; none running (or no space) counts as done."""
        if not space:
            return
        try:
            self._meet.end_active_conference(organizer, space)
        except (FailedPreconditionError, NotFoundError):
            _log.info("no active conference to end", extra={"space": space})


def if_unchanged(
    read: Meeting, updated: Meeting, announce: Sequence[Json] = ()
) -> Callable[[Meeting], Meeting | None]:
    """Optimistic write: replace the record only if nobody changed it since it was read
    (same version and update time), queueing the announcements in the same write."""

    def change(current: Meeting) -> Meeting | None:
        if (current.version, current.updated_at) != (read.version, read.updated_at):
            return None
        return queued(updated, current, announce)

    return change
