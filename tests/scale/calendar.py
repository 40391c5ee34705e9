"""The simulation's Google: a Calendar v3 fake that the figures are read from, and Meet.

`ScaleCalendar` implements the product's `CalendarPort` for thousands of calendars:

- Events are synthesised lazily: each calendar has ~2,000 base events (ids `b0`..), the
  same dicts shared by every calendar until one changes; only changed events are stored.
  A sync token is `generation:counter` of the calendar's change counter, so a listing
  with a token returns the events changed since.
- Channels are the fake's own: `watch` opens one (id, resource id, token, expiration,
  address), `stop_channel` stops it, and every change of a calendar pushes a
  notification with Google's header set to each of its live channels. It counts, itself,
  channels that expired while the calendar was watched with no other live channel, and
  duplicates (more than two live channels on one calendar, or a second replacement opened
  while an old channel's first one is live).
- Google's sliding windows: 10,000 calls/min per project and 600/min per user; beyond,
  `RateLimitedError` (counted as quota errors). Every call is counted by method and by
  calling function, and the project's calls per minute and each user's are tracked.
- Every call adds its latency to the invocation's clock, and an access token is minted
  when the calling instance holds none for the user (about hourly, as google-auth does).
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from shared.domain.errors import (
    DuplicateError,
    FailedPreconditionError,
    FullSyncRequiredError,
    GoneError,
    NotFoundError,
    PreconditionFailedError,
    RateLimitedError,
)
from shared.domain.ports import EventPage, Json
from tests.scale import params
from tests.scale.core import EPOCH_S, Series, Sim

_CALL = params.cloud("calendar.call")
_PAGE_EXTRA = params.cloud("calendar.list_page") - _CALL
_MINT = params.cloud("token.mint")
_TOKEN_LIFE = 3600.0
_REFRESH_BEFORE = 225.0
"""google-auth refreshes a token 3 min 45 s before it expires."""


class Window:
    """A sliding 60-second window of calls, in one-second buckets. Times may arrive slightly
    out of order (parallel invocations run one after another); a call older than the
    window's newest second counts in that second's window."""

    __slots__ = ("counts", "end", "limit", "peak", "total")

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.counts: dict[int, int] = {}
        self.end = -1
        self.total = 0
        self.peak = 0

    def admit(self, t: float) -> bool:
        s = int(t)
        if s > self.end:
            if s - self.end >= 60:
                self.counts.clear()
                self.total = 0
            else:
                for gone in range(self.end - 59, s - 59):
                    self.total -= self.counts.pop(gone, 0)
            self.end = s
        if self.total >= self.limit:
            return False
        if s > self.end - 60:  # else older than the window: it counted in its own minute
            self.counts[s] = self.counts.get(s, 0) + 1
            self.total += 1
            if self.total > self.peak:
                self.peak = self.total
        return True


@dataclass(slots=True)
class FakeChannel:
    id: str
    cal: int
    resource_id: str
    token: str
    address: str
    opened: float
    expiration: float
    stopped: bool = False
    replaced: bool = False
    """A replacement was opened while this one was live."""
    number: int = 0


@dataclass
class CalendarCounts:
    calls: Counter[str] = field(default_factory=Counter)
    """By method."""
    by_function: Counter[tuple[str, str]] = field(default_factory=Counter)
    """By (calling function, method)."""
    quota_errors: int = 0
    quota_errors_user: int = 0
    per_minute: Series = field(default_factory=lambda: Series(60.0))
    onboarding: Counter[str] = field(default_factory=Counter)
    """Calls made while onboarding (before the measured run), by method."""
    mints: int = 0
    notifications: int = 0
    changes: int = 0
    channels_opened: int = 0
    channels_stopped: int = 0
    channels_expired: int = 0
    """Channels that expired while their calendar was watched and had no other live one."""
    channels_lapsed: int = 0
    """Channels that reached their expiration un-stopped (harmless when a replacement lived)."""
    duplicate_channels: int = 0
    peak_live_per_calendar: int = 0
    renewals: int = 0
    """Channels opened on a calendar that already had a live one (replacements)."""
    bursts: int = 0
    """Settled bursts: changes of a calendar more than the settle time after its last one."""


class ScaleCalendar:
    """The `CalendarPort` over `calendars` simulated calendars (see the module doc)."""

    def __init__(
        self,
        sim: Sim,
        *,
        calendars: int,
        base_events: list[int],
        page_size: int,
        project_per_min: float,
        user_per_min: float,
        push: Callable[[dict[str, str]], None],
        push_delay: float,
        on_mint: Callable[[], None] = lambda: None,
        settle_seconds: float = 0.3,
    ) -> None:
        self.settle = settle_seconds
        self._last_change = [-1e18] * calendars
        self.sim = sim
        self.n = calendars
        self.base_n = base_events
        self.page_size = page_size
        self.counts = CalendarCounts()
        self.metering = True
        """False while onboarding: calls are counted apart and no window is enforced."""
        self.project = Window(project_per_min)
        self.user_limit = user_per_min
        self._users: dict[str, deque[float]] = {}
        self.peak_user_per_min = 0
        self.counter = [0] * calendars
        self.generation = [0] * calendars
        self.changed: list[dict[str, tuple[int, Json]]] = [{} for _ in range(calendars)]
        self.live: list[list[FakeChannel]] = [[] for _ in range(calendars)]
        self.watched = [False] * calendars
        self.channels: dict[str, FakeChannel] = {}
        self._push = push
        self._push_delay = push_delay
        self._on_mint = on_mint
        self._tokens: dict[tuple[str, int, str], float] = {}
        self._index: dict[str, int] = {}
        self._new_ids = itertools.count(1)
        self.on_change: Callable[[int, int, float], None] | None = None
        """Called with (calendar, change counter, time) for each change a user makes."""
        longest = max(base_events, default=0)
        self._base: list[Json] = [_base_event(j) for j in range(longest)]

    # -- identities ------------------------------------------------------------------------

    @staticmethod
    def owner(i: int) -> str:
        return f"u{i}@scale.example"

    def cal(self, user: str, calendar_id: str) -> int:
        i = self._index.get(user)
        if i is None:
            if not (user.startswith("u") and user.endswith("@scale.example")):
                raise NotFoundError(f"no calendar of {user}", status=404, reason="notFound")
            i = self._index[user] = int(user[1 : user.index("@")])
        if calendar_id not in ("primary", user) or i >= self.n:
            raise NotFoundError(f"no calendar {calendar_id}", status=404, reason="notFound")
        return i

    # -- metering --------------------------------------------------------------------------

    def _call(self, method: str, user: str, extra: float = 0.0) -> None:
        sim = self.sim
        t = sim.t
        counts = self.counts
        if not self.metering:
            counts.onboarding[method] += 1
            sim.t = t + _CALL + extra
            return
        calls = self._users.get(user)
        if calls is None:
            calls = self._users[user] = deque()
        while calls and calls[0] <= t - 60.0:
            calls.popleft()
        if len(calls) >= self.user_limit:
            counts.quota_errors += 1
            counts.quota_errors_user += 1
            raise RateLimitedError(
                "Rate Limit Exceeded (user)", status=403, reason="userRateLimitExceeded"
            )
        if not self.project.admit(t):
            counts.quota_errors += 1
            raise RateLimitedError(
                "Rate Limit Exceeded (project)", status=429, reason="rateLimitExceeded"
            )
        calls.append(t)
        if len(calls) > self.peak_user_per_min:
            self.peak_user_per_min = len(calls)
        inv = sim.current
        counts.calls[method] += 1
        counts.by_function[(inv.function, method)] += 1
        counts.per_minute.add(t)
        key = (inv.function, inv.instance, user)
        expires = self._tokens.get(key)
        if expires is None or t >= expires - _REFRESH_BEFORE:
            counts.mints += 1
            self._on_mint()
            t += _MINT
            self._tokens[key] = t + _TOKEN_LIFE
        sim.t = t + _CALL + extra

    # -- what users do in Google Calendar (no request counted) --------------------------------

    def _event(self, i: int, event_id: str) -> Json | None:
        hit = self.changed[i].get(event_id)
        if hit is not None:
            return hit[1]
        if event_id.startswith("b") and event_id[1:].isdigit():
            j = int(event_id[1:])
            if j < self.base_n[i]:
                return self._base[j]
        return None

    def _store(self, i: int, event: Json, *, by_user: bool) -> Json:
        """Record a new version of an event and notify the calendar's channels."""
        self.counter[i] += 1
        seq = self.counter[i]
        event["etag"] = f'"{i}.{seq}"'
        event["updated"] = _stamp(self.sim.t)
        self.changed[i][str(event["id"])] = (seq, event)
        if self.metering:
            self.counts.changes += 1
            if self.sim.t - self._last_change[i] > self.settle:
                self.counts.bursts += 1
            self._last_change[i] = self.sim.t
        if by_user and self.on_change is not None:
            self.on_change(i, seq, self.sim.t)
        self._notify(i)
        return event

    def user_edit(self, i: int, event_id: str, **fields: Any) -> Json | None:
        """The user changes an event (None if it does not exist any more)."""
        current = self._event(i, event_id)
        if current is None or current.get("status") == "cancelled":
            return None
        event = dict(current)  # stored versions are never changed in place
        event.update(fields)
        return self._store(i, event, by_user=True)

    def user_add(self, i: int) -> Json:
        n = next(self._new_ids)
        event: Json = {
            "id": f"n{n}",
            "status": "confirmed",
            "summary": f"new {n}",
            "start": {"dateTime": "2026-03-10T10:00:00Z"},
            "end": {"dateTime": "2026-03-10T10:30:00Z"},
        }
        return self._store(i, event, by_user=True)

    def user_delete(self, i: int, event_id: str) -> Json | None:
        return self.user_edit(i, event_id, status="cancelled")

    def invalidate_sync_tokens(self, i: int) -> None:
        self.generation[i] += 1

    # -- CalendarPort -------------------------------------------------------------------------

    def list_events(
        self,
        user: str,
        calendar_id: str,
        *,
        sync_token: str | None = None,
        page_token: str | None = None,
        time_min: str | None = None,
        max_results: int = 2500,
    ) -> EventPage:
        i = self.cal(user, calendar_id)
        size = min(max_results, self.page_size, 2500)
        start = int(page_token or 0)
        generation = self.generation[i]
        if sync_token:
            gen, _, seq = sync_token.partition(":")
            if int(gen) != generation:
                self._call("events.list", user)
                raise FullSyncRequiredError("Sync token is no longer valid", status=410)
            since = int(seq)
            found = sorted(
                (pair for pair in self.changed[i].values() if pair[0] > since),
                key=lambda pair: pair[0],
            )
            chosen = [dict(e) for _, e in found[start : start + size]]
            more = start + size < len(found)
        else:
            chosen, more = self._full_page(i, start, size)
        self._call("events.list", user, _PAGE_EXTRA * len(chosen) / 250)
        return EventPage(
            items=chosen,
            next_page_token=str(start + size) if more else None,
            next_sync_token=None if more else f"{generation}:{self.counter[i]}",
        )

    def _full_page(self, i: int, start: int, size: int) -> tuple[list[Json], bool]:
        """One page of the calendar's live events (a full sync)."""
        n = self.base_n[i]
        changed = self.changed[i]
        if not changed:  # the common case: the shared base events, untouched
            return self._base[start : min(n, start + size)], start + size < n
        events = [e for j in range(n) if (e := self._event(i, f"b{j}")) is not None]
        events.extend(e for eid, (_, e) in changed.items() if not eid.startswith("b"))
        live = [dict(e) for e in events if e.get("status") != "cancelled"]
        return live[start : start + size], start + size < len(live)

    def get_event(self, user: str, calendar_id: str, event_id: str) -> Json:
        i = self.cal(user, calendar_id)
        self._call("events.get", user)
        event = self._event(i, event_id)
        if event is None:
            raise NotFoundError(f"Not Found: {event_id}", status=404, reason="notFound")
        return copy.deepcopy(event)

    def insert_event(
        self, user: str, calendar_id: str, body: Json, *, send_updates: str = "none"
    ) -> Json:
        i = self.cal(user, calendar_id)
        self._call("events.insert", user)
        event = copy.deepcopy(body)
        event_id = str(event.setdefault("id", f"n{next(self._new_ids)}"))
        if self._event(i, event_id) is not None:
            raise DuplicateError("The requested identifier already exists.", status=409)
        event.setdefault("status", "confirmed")
        event["htmlLink"] = f"https://calendar.google.com/event?eid={event_id}"
        create = (event.get("conferenceData") or {}).get("createRequest")
        if create:  # Calendar makes the Meet conference (ready at once: delay 0)
            code = f"sim-{i}-{event_id[:6]}"
            create["status"] = {"statusCode": "success"}
            event["conferenceData"].update(
                conferenceId=code,
                conferenceSolution={"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
                entryPoints=[{"entryPointType": "video", "uri": f"https://meet.google.com/{code}"}],
            )
        return copy.deepcopy(self._store(i, event, by_user=False))

    def patch_event(
        self, user: str, calendar_id: str, event_id: str, body: Json, *, etag: str
    ) -> Json:
        i = self.cal(user, calendar_id)
        self._call("events.patch", user)
        current = self._event(i, event_id)
        if current is None:
            raise NotFoundError(f"Not Found: {event_id}", status=404, reason="notFound")
        if etag and etag != current.get("etag"):
            raise PreconditionFailedError("Precondition Failed", status=412)
        event = dict(current)
        event.update(copy.deepcopy(body))
        return copy.deepcopy(self._store(i, event, by_user=False))

    def delete_event(
        self, user: str, calendar_id: str, event_id: str, *, send_updates: str = "none"
    ) -> None:
        i = self.cal(user, calendar_id)
        self._call("events.delete", user)
        current = self._event(i, event_id)
        if current is None:
            raise NotFoundError(f"Not Found: {event_id}", status=404, reason="notFound")
        if current.get("status") == "cancelled":
            raise GoneError("Resource has been deleted", status=410, reason="deleted")
        self._store(i, {**current, "status": "cancelled"}, by_user=False)

    def import_event(self, user: str, calendar_id: str, body: Json) -> Json:
        i = self.cal(user, calendar_id)
        self._call("events.import", user)
        event = copy.deepcopy(body)
        event.setdefault("id", f"imp{next(self._new_ids)}")
        return copy.deepcopy(self._store(i, event, by_user=False))

    def list_by_ical_uid(self, user: str, calendar_id: str, ical_uid: str) -> list[Json]:
        i = self.cal(user, calendar_id)
        self._call("events.list", user)
        return [
            copy.deepcopy(e) for _, e in self.changed[i].values() if e.get("iCalUID") == ical_uid
        ]

    def watch(
        self,
        user: str,
        calendar_id: str,
        *,
        channel_id: str,
        token: str,
        address: str,
        ttl_seconds: int,
    ) -> Json:
        i = self.cal(user, calendar_id)
        self._call("events.watch", user)
        t = self.sim.t
        counts = self.counts
        live = self._live(i, t)
        if live:
            counts.renewals += 1
            unreplaced = [c for c in live if not c.replaced]
            if len(live) >= 2 or not unreplaced:
                counts.duplicate_channels += 1
            if unreplaced:
                min(unreplaced, key=lambda c: c.expiration).replaced = True
        channel = FakeChannel(
            id=channel_id,
            cal=i,
            resource_id=f"r{i}",
            token=token,
            address=address,
            opened=t,
            expiration=t + ttl_seconds,
        )
        self.channels[channel_id] = channel
        live.append(channel)
        self.live[i] = live
        self.watched[i] = True
        counts.channels_opened += 1
        counts.peak_live_per_calendar = max(counts.peak_live_per_calendar, len(live))
        self.sim.at(channel.expiration, self._expire, channel)
        if self.metering:  # Google's handshake on a new channel (onboarding's: not measured)
            self._send(channel, "sync", t)
        return {
            "kind": "api#channel",
            "id": channel_id,
            "resourceId": channel.resource_id,
            "resourceUri": _resource_uri(user),
            "expiration": str(int((EPOCH_S + channel.expiration) * 1000)),
        }

    def stop_channel(self, user: str, channel_id: str, resource_id: str) -> None:
        self._call("channels.stop", user)
        channel = self.channels.get(channel_id)
        t = self.sim.t
        if (
            channel is None
            or channel.stopped
            or channel.expiration <= t
            or channel.resource_id != resource_id
        ):
            raise NotFoundError(f"Channel {channel_id} not found", status=404, reason="notFound")
        channel.stopped = True
        self.counts.channels_stopped += 1
        self.live[channel.cal] = self._live(channel.cal, t)

    # -- channels and notifications -------------------------------------------------------------

    def _live(self, i: int, t: float) -> list[FakeChannel]:
        return [c for c in self.live[i] if not c.stopped and c.expiration > t]

    def live_channels(self, i: int) -> list[FakeChannel]:
        return self._live(i, self.sim.t)

    def _expire(self, channel: FakeChannel) -> None:
        if channel.stopped:
            return
        self.counts.channels_lapsed += 1
        t = self.sim.t
        live = self._live(channel.cal, t)
        self.live[channel.cal] = live
        if not live and self.watched[channel.cal] and self.metering:
            self.counts.channels_expired += 1

    def _notify(self, i: int) -> None:
        t = self.sim.t
        for channel in self.live[i]:
            if not channel.stopped and channel.expiration > t:
                self._send(channel, "exists", t)

    def _send(self, channel: FakeChannel, state: str, t: float) -> None:
        channel.number += 1
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Token": channel.token,
            "X-Goog-Channel-Expiration": formatdate(EPOCH_S + channel.expiration, usegmt=True),
            "X-Goog-Message-Number": str(channel.number),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-State": state,
            "X-Goog-Resource-URI": _resource_uri(self.owner(channel.cal)),
        }
        self.counts.notifications += 1
        self.sim.at(t + self._push_delay, self._push, headers)


def _base_event(j: int) -> Json:
    day = 1 + j % 28
    return {
        "kind": "calendar#event",
        "id": f"b{j}",
        "status": "confirmed",
        "etag": f'"0.{j}"',
        "updated": "2026-02-01T00:00:00.000Z",
        "summary": f"event {j}",
        "start": {"dateTime": f"2026-03-{day:02d}T09:00:00Z"},
        "end": {"dateTime": f"2026-03-{day:02d}T09:30:00Z"},
    }


def _stamp(t: float) -> str:
    return dt.datetime.fromtimestamp(EPOCH_S + t, dt.UTC).isoformat().replace("+00:00", "Z")


def _resource_uri(user: str) -> str:
    return f"https://www.googleapis.com/calendar/v3/calendars/{user}/events?alt=json"


class ScaleMeet:
    """The `MeetPort` as the sync and create_meeting use it: spaces looked up, conferences
    ended; `spaces.create` under Google's 10/min per user and 100/min per project."""

    def __init__(self, sim: Sim, *, project_create_per_min: float) -> None:
        self.sim = sim
        self.calls: Counter[str] = Counter()
        self.quota_errors = 0
        self._create = Window(project_create_per_min)
        self._user_create: dict[str, Window] = {}
        self._seq = itertools.count(1)
        self.metering = True

    def _call(self, method: str) -> None:
        if self.metering:
            self.calls[method] += 1
        self.sim.t += params.cloud("meet.call")

    def create_space(self, user: str, config: Json) -> Json:
        window = self._user_create.get(user)
        if window is None:
            window = self._user_create[user] = Window(params.MEET_CREATE_USER_PER_MIN)
        if self.metering and not (self._create.admit(self.sim.t) and window.admit(self.sim.t)):
            self.quota_errors += 1
            raise RateLimitedError("spaces.create quota", status=429, reason="rateLimitExceeded")
        self._call("spaces.create")
        n = next(self._seq)
        return {
            "name": f"spaces/S{n}",
            "meetingCode": f"sim-space-{n}",
            "meetingUri": f"https://meet.google.com/sim-space-{n}",
            "config": dict(config),
        }

    def get_space(self, user: str, name: str) -> Json:
        self._call("spaces.get")
        code = name.split("/", 1)[1]
        return {"name": f"spaces/C-{code}", "meetingCode": code}

    def end_active_conference(self, user: str, name: str) -> None:
        self._call("spaces.endActiveConference")
        raise FailedPreconditionError("no active conference", status=400)

    def patch_space(self, user: str, name: str, config: Json, update_mask: Iterable[str]) -> Json:
        self._call("spaces.patch")
        return {"name": name, "config": dict(config)}

    def get_conference_record(self, user: str, name: str) -> Json:
        self._call("conferenceRecords.get")
        raise NotFoundError(f"{name} not found", status=404)

    def list_conference_records(self, user: str, space: str) -> list[Json]:
        self._call("conferenceRecords.list")
        return []

    def list_participants(self, user: str, record: str) -> list[Json]:
        self._call("participants.list")
        return []

    def list_participant_sessions(self, user: str, participant: str) -> list[Json]:
        self._call("participantSessions.list")
        return []

    def list_recordings(self, user: str, record: str) -> list[Json]:
        self._call("recordings.list")
        return []

    def list_transcripts(self, user: str, record: str) -> list[Json]:
        self._call("transcripts.list")
        return []
