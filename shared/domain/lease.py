"""The per-calendar sync lease: pure decisions, applied by a conditional Firestore write.

One worker at a time syncs a calendar. A signal that finds the lease held marks
the calendar dirty and is acknowledged; the holder sees the flag when it
finishes and syncs once more. So a burst of N notifications costs one or two
syncs. A lease whose holder died expires after `lease_seconds`.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from shared.domain.models import CalendarState


class Acquire(enum.Enum):
    ACQUIRED = "acquired"
    MARKED_DIRTY = "marked_dirty"
    """Someone else holds the lease; they will sync again for us."""
    NOT_WATCHED = "not_watched"
    COVERED = "covered"
    """A sync started after this signal was received; it sees the change already."""


class Finish(enum.Enum):
    RELEASED = "released"
    AGAIN = "again"
    """The calendar went dirty during the pass: the holder syncs once more."""
    LOST = "lost"
    """The lease expired and was taken: nothing is saved, the new holder redoes the work."""


@dataclass(frozen=True, slots=True)
class LeaseDecision:
    outcome: Acquire
    state: CalendarState | None
    """The state to write back, or None when nothing changes."""

    def pair(self) -> tuple[Acquire, CalendarState | None]:
        """(outcome, state to write): the shape `CalendarStore.modify_calendar` takes."""
        return self.outcome, self.state


def acquire(
    state: CalendarState | None,
    *,
    owner: str,
    now: dt.datetime,
    lease_seconds: int,
    signal_time: dt.datetime | None = None,
) -> LeaseDecision:
    """Take the lease if free or expired; otherwise mark the calendar dirty.

    With ordered delivery, signals for one calendar arrive one after another, so
    a burst is collapsed by `signal_time`: a change announced before the latest
    sync started is in that sync's listing, and the signal needs no sync of its own.
    A redelivery to the same `owner` (its worker died) takes the lease back.
    """
    if state is None or state.status != "watching":
        return LeaseDecision(Acquire.NOT_WATCHED, None)
    held = state.lease_owner and state.lease_expires is not None and state.lease_expires > now
    if state.lease_owner != owner and (
        signal_time is not None
        and state.last_sync_started is not None
        and state.last_sync_started > signal_time
    ):
        return LeaseDecision(Acquire.COVERED, None)
    if held and state.lease_owner != owner:
        if state.dirty:
            return LeaseDecision(Acquire.MARKED_DIRTY, None)
        state.dirty = True
        return LeaseDecision(Acquire.MARKED_DIRTY, state)
    state.lease_owner = owner
    state.lease_expires = now + dt.timedelta(seconds=lease_seconds)
    state.dirty = False
    state.last_sync_started = now
    return LeaseDecision(Acquire.ACQUIRED, state)


def release(
    state: CalendarState | None,
    *,
    owner: str,
    now: dt.datetime,
    lease_seconds: int,
    sweep_after: dt.timedelta | None = None,
) -> tuple[bool, CalendarState | None]:
    """Finish one sync pass: (True, renewed state) to sync again if dirty, else release.

    A successful pass puts the calendar's next sweep `sweep_after` away (in the same
    write), so the sweep only ever visits calendars nothing has synced for that long.
    A holder that lost its lease (expired and taken) releases nothing.
    """
    if state is None or state.lease_owner != owner:
        return False, None
    state.last_sync_finished = now
    state.syncs += 1
    if sweep_after is not None:
        state.next_sweep_at = now + sweep_after
    if state.dirty and state.status == "watching":
        state.dirty = False
        state.lease_expires = now + dt.timedelta(seconds=lease_seconds)
        state.last_sync_started = now
        return True, state
    state.lease_owner = ""
    state.lease_expires = None
    return False, state


def save_token(
    state: CalendarState | None, *, owner: str, token: str, version: int
) -> tuple[bool, CalendarState | None]:
    """Store the sync token only if `owner` still holds the lease: a holder that lost it
    (expired and taken) must not overwrite a newer sync's token."""
    if state is None or state.lease_owner != owner:
        return False, None
    state.sync_token = token
    state.token_version = version
    return True, state


def finish(
    state: CalendarState | None,
    *,
    owner: str,
    now: dt.datetime,
    lease_seconds: int,
    token: str,
    version: int,
    sweep_after: dt.timedelta | None = None,
) -> tuple[Finish, CalendarState | None]:
    """End a pass: store its sync token and release (or renew, if dirty) the lease, in one
    write; a holder that lost the lease stores nothing."""
    saved, state = save_token(state, owner=owner, token=token, version=version)
    if not saved:
        return Finish.LOST, None
    again, state = release(
        state, owner=owner, now=now, lease_seconds=lease_seconds, sweep_after=sweep_after
    )
    return (Finish.AGAIN if again else Finish.RELEASED), state
