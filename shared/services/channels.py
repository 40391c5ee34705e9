"""Watch channels: start and stop watching, renew before expiry, reap orphans, sweep.

Google never renews a channel: we open a new one (new id and token) before the
old one expires, keep both live for an overlap, then stop the old one. Only
the SHA-256 of a channel token is stored; the token itself goes to Google once.
A calendar that is gone, or a user whose authorization is revoked, is marked so
and reported, never retried forever.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared import logs
from shared.domain import renewal, validate
from shared.domain.errors import (
    ApiError,
    AuthRevokedError,
    BudgetExhaustedError,
    GoneError,
    NotFoundError,
)
from shared.domain.ids import new_token, token_hash
from shared.domain.models import (
    CalendarState,
    CalendarStatus,
    Channel,
    ChannelState,
    RunOutcome,
    calendar_key,
)
from shared.domain.ports import (
    CalendarPort,
    CalendarStore,
    ChannelStore,
    EventSink,
    RunStore,
    UserRecords,
)
from shared.domain.refusals import Kind, Refusal
from shared.services.runs import Resume, Summary
from shared.services.users import active_user, mark_revoked

_log = logs.get(__name__)
_PURGE_AFTER = dt.timedelta(days=7)
_PAGE = 200
"""Channels read per query page of a renewal job."""
_CLAIM_HOLD = dt.timedelta(minutes=5)
"""Longer than a renewal job may run (60 s): a live holder's claim never lapses under it."""
TTL_JITTER = 0.1
"""A channel asks for up to 10% less than the configured lifetime, at random, so calendars
onboarded together do not all come due together (7 days spread over ~17 hours)."""
STOP_STAGE = "stop"
RENEW_STAGE = "renew"


def watch_target(body: dict[str, Any]) -> tuple[str, str]:
    """(user email, calendar id) of a watch or unwatch request."""
    return validate.email(body.get("user"), "user"), validate.calendar_id(
        body.get("calendarId", "primary")
    )


class ChannelsStore(UserRecords, CalendarStore, ChannelStore, RunStore, Protocol):
    """The repositories watching and renewal use (renewal stores a report of each run)."""


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    webhook_url: str
    ttl_seconds: int
    renew_window_seconds: int
    overlap_seconds: int


@dataclass
class RenewReport:
    renewed: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    orphans_stopped: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    auth_revoked: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    """Channels found still active past their expiration: the calendar's notifications
    were lost until now (the sweep caught its changes); renewed like the others."""
    errors: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    """Due channels left for the next run because the Calendar budget was spent."""

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) for k, v in self.__dict__.items()}

    def summary(self) -> Summary:
        """The run's outcome for its stored report (`shared.services.runs`)."""
        if self.errors:
            outcome = RunOutcome.FAILED
        elif self.gone or self.auth_revoked or self.expired:
            outcome = RunOutcome.ATTENTION
        else:
            outcome = RunOutcome.OK
        return outcome, self.to_dict()


class ChannelService:
    def __init__(
        self,
        *,
        store: ChannelsStore,
        calendar: CalendarPort,
        config: ChannelConfig,
        initial_sync: Callable[[str], object],
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        sink: EventSink | None = None,
        source: str = "",
        random_fraction: Callable[[], float] = random.random,
    ) -> None:
        self._random = random_fraction
        self._store = store
        self._calendar = calendar
        self._config = config
        self._initial_sync = initial_sync
        self._now = now
        self._sink = sink
        """Where `user.auth_revoked` goes when a renewal finds a grant gone."""
        self._source = source

    # -- watch / unwatch -------------------------------------------------------------------

    def watch(self, user: str, calendar_id: str) -> dict[str, Any]:
        """Start watching (idempotent): a live channel is reused, else one is opened; then the
        first full sync stores the sync token."""
        owner = self._known_user(user)
        cal_id = owner if calendar_id == "primary" else calendar_id
        key = calendar_key(owner, cal_id)
        state = self._store.get_calendar(key)
        live = self._live_channel(key)
        if state is not None and state.status == CalendarStatus.WATCHING and live is not None:
            return self._answer(state, live, created=False)
        if not self._config.webhook_url:
            raise Refusal(Kind.MISCONFIGURED, "WEBHOOK_URL is not configured")
        if state is None or state.status != CalendarStatus.WATCHING:
            # recorded as watching only once Google has opened the channel: a refused watch
            # (someone else's calendar, say) must not leave a calendar the sweep would sync
            state = CalendarState(
                key=key, owner=owner, calendar_id=cal_id, status=CalendarStatus.STOPPED
            )
            self._store.put_calendar(state)
        channel = self._open_channel(state)
        state.status = CalendarStatus.WATCHING
        # due for a sweep at once: if the first sync below fails, the sweep retries it
        self._store.update_calendar(
            key,
            {
                "resource_id": channel.resource_id,
                "status": CalendarStatus.WATCHING.value,
                "next_sweep_at": self._now(),
            },
        )
        self._initial_sync(key)
        return self._answer(state, channel, created=True)

    def unwatch(self, user: str, calendar_id: str) -> dict[str, Any]:
        owner = self._known_user(user)
        cal_id = owner if calendar_id == "primary" else calendar_id
        key = calendar_key(owner, cal_id)
        state = self._store.get_calendar(key)
        if state is None:
            raise Refusal(
                Kind.NOT_FOUND, f"calendar {calendar_id} of {user} is not watched", "calendarId"
            )
        stopped = []
        for channel in self._store.channels_for(key):
            if channel.state != ChannelState.STOPPED:
                self._stop(state, channel)
                stopped.append(channel.id)
        self._store.update_calendar(key, {"status": CalendarStatus.STOPPED.value, "sync_token": ""})
        return {"calendarId": calendar_id, "stoppedChannels": stopped}

    def resume(self, owner: str) -> list[str]:
        """After the user reconnected: watch again every calendar that was watched when the
        grant lapsed (a new channel where the old one was given up, or a catch-up sync where
        it still runs). The calendar ids that got a new channel."""
        resumed = []
        for state in self._store.calendars_of(owner):
            if state.status not in (CalendarStatus.WATCHING, CalendarStatus.AUTH_REVOKED):
                continue
            if self.watch(owner, state.calendar_id)["created"]:
                resumed.append(state.calendar_id)
            else:
                self._initial_sync(state.key)
        if resumed:
            _log.info("calendars resumed", extra={"user": owner, "calendars": resumed})
        return resumed

    def stop_all(self, owner: str) -> list[str]:
        """Disconnect: stop every channel of the user's calendars (at Google when the grant
        still works; recorded stopped either way) and mark the calendars stopped. The ids
        of the channels stopped; none on a second call."""
        stopped = []
        for state in self._store.calendars_of(owner):
            for channel in self._store.channels_for(state.key):
                if channel.state != ChannelState.STOPPED:
                    try:
                        self._stop(state, channel)
                    except AuthRevokedError:  # the grant is gone: Google cannot be asked
                        self._stop(None, channel)
                    stopped.append(channel.id)
            if state.status in (CalendarStatus.WATCHING, CalendarStatus.AUTH_REVOKED):
                self._store.update_calendar(
                    state.key, {"status": CalendarStatus.STOPPED.value, "sync_token": ""}
                )
        return stopped

    def _known_user(self, email: str) -> str:
        return active_user(self._store, email, "user").email

    def _live_channel(self, key: str) -> Channel | None:
        horizon = self._now() + dt.timedelta(seconds=self._config.overlap_seconds)
        live = [
            c
            for c in self._store.channels_for(key)
            if c.state == ChannelState.ACTIVE and c.expiration > horizon
        ]
        return max(live, key=lambda c: c.expiration, default=None)

    def _answer(self, state: CalendarState, channel: Channel, *, created: bool) -> dict[str, Any]:
        return {
            "calendarId": state.calendar_id,
            "calendarKey": state.key,
            "channelId": channel.id,
            "expiration": channel.expiration.isoformat(),
            "created": created,
        }

    def _open_channel(self, state: CalendarState) -> Channel:
        channel_id = str(uuid.uuid4())
        token = new_token()
        granted = self._calendar.watch(
            state.owner,
            state.calendar_id,
            channel_id=channel_id,
            token=token,
            address=self._config.webhook_url,
            ttl_seconds=self._ttl(),
        )
        expiration = dt.datetime.fromtimestamp(int(granted["expiration"]) / 1000, dt.UTC)
        channel = Channel(
            id=channel_id,
            created_at=self._now(),
            calendar_key=state.key,
            resource_id=str(granted["resourceId"]),
            token_hash=token_hash(token),
            expiration=expiration,
        )
        self._store.put_channel(channel)
        _log.info("channel opened", extra={"channel": channel_id, "expiration": str(expiration)})
        return channel

    def _ttl(self) -> int:
        """The lifetime to ask for: the configured one less up to `TTL_JITTER` of it."""
        return max(1, round(self._config.ttl_seconds * (1 - TTL_JITTER * self._random())))

    def _stop(self, state: CalendarState | None, channel: Channel) -> None:
        """Stop at Google (already gone counts as stopped) and record it."""
        if state is not None:
            with contextlib.suppress(NotFoundError, GoneError):
                self._calendar.stop_channel(state.owner, channel.id, channel.resource_id)
        now = self._now()
        self._store.update_channel(
            channel.id,
            {"state": ChannelState.STOPPED.value, "purge_at": now + _PURGE_AFTER},
        )

    # -- renewal ---------------------------------------------------------------------------

    def renew_shard(
        self,
        shard: int,
        *,
        stage: str = STOP_STAGE,
        after: dt.datetime | None = None,
        out_of_time: Callable[[], bool] = lambda: False,
    ) -> tuple[RenewReport, Resume | None]:
        """One shard's renewal: stop replaced channels whose overlap ended, then replace the
        channels expiring within the window (each under a claim, see
        `shared.domain.renewal`). Only due channels are read. When `out_of_time` says so,
        returns where to resume (stage and cursor) for a continuation job."""
        report = RenewReport()
        now = self._now()
        states: dict[str, CalendarState | None] = {}
        claimant = uuid.uuid4().hex
        stages: list[tuple[str, Callable[[dt.datetime | None], list[Channel]]]] = [
            (
                STOP_STAGE,
                lambda cursor: self._store.channels_to_stop(shard, now, after=cursor, limit=_PAGE),
            ),
            (
                RENEW_STAGE,
                lambda cursor: self._store.channels_expiring(
                    shard,
                    now + dt.timedelta(seconds=self._config.renew_window_seconds),
                    after=cursor,
                    limit=_PAGE,
                ),
            ),
        ]
        names = [name for name, _ in stages]
        if stage not in names:
            raise Refusal(Kind.INVALID, f"unknown renewal stage {stage!r}", "stage")
        for name, query in stages[names.index(stage) :]:
            cursor = after if name == stage else None
            while True:
                page = query(cursor)
                for channel in page:
                    if out_of_time():
                        return report, Resume(name, cursor)
                    if channel.calendar_key not in states:
                        states[channel.calendar_key] = self._store.get_calendar(
                            channel.calendar_key
                        )
                    try:
                        self._renew_guarded(
                            states[channel.calendar_key], channel, now, claimant, report
                        )
                    except BudgetExhaustedError:
                        # the Calendar budget is spent: the rest stays due and waits for the
                        # next run (a continuation now would only meet the empty bucket
                        # again, claiming and releasing the same channel in a loop)
                        report.deferred.append(channel.id)
                        return report, None
                    cursor = channel.stop_after if name == STOP_STAGE else channel.expiration
                if len(page) < _PAGE:
                    break
        if report.gone or report.auth_revoked or report.errors:
            _log.warning("channel renewal needs attention", extra=report.to_dict())
        return report, None

    def _due_at(self, channel: Channel) -> dt.datetime:
        """When a channel gets its replacement: the renewal window before it expires, or
        half its life before if Google granted it less than twice the window (else a
        short-lived replacement would be due again at once)."""
        window = dt.timedelta(seconds=self._config.renew_window_seconds)
        life = channel.expiration - channel.created_at
        return channel.expiration - min(window, life / 2)

    def _renew_guarded(
        self,
        state: CalendarState | None,
        channel: Channel,
        now: dt.datetime,
        claimant: str,
        report: RenewReport,
    ) -> None:
        try:
            self._renew_one(state, channel, now, claimant, report)
        except BudgetExhaustedError:
            raise
        except AuthRevokedError:
            self._mark(state, CalendarStatus.AUTH_REVOKED, "authorization revoked", report)
        except NotFoundError:
            self._mark(state, CalendarStatus.GONE, "calendar not found", report)
        except ApiError as exc:  # transient after retries: report, the next run tries again
            report.errors.append(f"{channel.id}: {type(exc).__name__}: {exc}")

    def _renew_one(
        self,
        state: CalendarState | None,
        channel: Channel,
        now: dt.datetime,
        claimant: str,
        report: RenewReport,
    ) -> None:
        if state is None or state.status != CalendarStatus.WATCHING:
            self._stop(state, channel)
            report.orphans_stopped.append(channel.id)
            return
        if channel.state == ChannelState.STOPPING:
            if channel.stop_after is None or channel.stop_after <= now:
                self._stop(state, channel)
                report.stopped.append(channel.id)
            return
        if channel.state != ChannelState.ACTIVE or channel.replaced_by:
            return
        if now < self._due_at(channel):
            return
        claimed = self._store.modify_channel(
            channel.id,
            lambda current: renewal.claim(current, claimant=claimant, now=now, hold=_CLAIM_HOLD),
        )
        if not claimed:  # another run holds it, or renewed it already
            return
        if channel.expiration <= now:
            _log.warning(
                "channel expired before renewal",
                extra={
                    "channel": channel.id,
                    "calendar": state.key,
                    "expired_at": channel.expiration.isoformat(),
                },
            )
            report.expired.append(channel.id)
        try:
            replacement = self._open_channel(state)
        except Exception:
            self._store.modify_channel(
                channel.id, lambda current: renewal.release(current, claimant=claimant)
            )
            raise
        stop_after = min(
            now + dt.timedelta(seconds=self._config.overlap_seconds), channel.expiration
        )
        recorded = self._store.modify_channel(
            channel.id,
            lambda current: renewal.replaced(
                current, claimant=claimant, replacement=replacement.id, stop_after=stop_after
            ),
        )
        if not recorded:  # our claim lapsed and another run replaced it: ours is surplus
            self._stop(state, replacement)
            return
        report.renewed.append(channel.id)

    def mark_unreachable(self, key: str, error: Exception) -> str:
        """A sync found the user's grant revoked or the calendar gone: mark it so (its channels
        stopped), so nothing retries it until the user reconnects. The status set."""
        status = (
            CalendarStatus.AUTH_REVOKED
            if isinstance(error, AuthRevokedError)
            else CalendarStatus.GONE
        )
        why = (
            "authorization revoked"
            if status is CalendarStatus.AUTH_REVOKED
            else "calendar not found"
        )
        self._mark(self._store.get_calendar(key), status, why, RenewReport())
        return status.value

    def _mark(
        self, state: CalendarState | None, status: CalendarStatus, why: str, report: RenewReport
    ) -> None:
        if state is None:
            return
        self._store.update_calendar(state.key, {"status": status.value, "status_reason": why})
        _log.warning(
            "calendar marked", extra={"calendar": state.key, "status": status.value, "reason": why}
        )
        if status is CalendarStatus.AUTH_REVOKED:
            mark_revoked(self._store, state.owner, sink=self._sink, source=self._source)
            report.auth_revoked.append(state.key)
        else:
            report.gone.append(state.key)
        for channel in self._store.channels_for(state.key):
            if channel.state != ChannelState.STOPPED:
                self._store.update_channel(
                    channel.id,
                    {"state": ChannelState.STOPPED.value, "purge_at": self._now() + _PURGE_AFTER},
                )
