"""In-memory adapters for every port: the store, Calendar, Meet, Pub/Sub and the event sink.

They behave as the real services do where the services depend on it (conditional
writes that run the decision again after a lost race; sync tokens, 410 on a dead
token, If-Match and 412, 409 on a reused event id; confirmed publishes that can
fail), and count every operation, so the unit tests assert outcomes and the scale
simulation reads its figures from them. Records are copied in and out, as a
round trip through Firestore would, so a caller never shares state with the store.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

from shared.domain import event as event_
from shared.domain.errors import (
    AuthRevokedError,
    DuplicateError,
    FailedPreconditionError,
    FullSyncRequiredError,
    GoneError,
    NotFoundError,
    PreconditionFailedError,
    PublishError,
    TransientError,
)
from shared.domain.models import (
    PENDING_FIELD,
    CalendarState,
    Channel,
    DeliveryFailure,
    Meeting,
    MeetingHead,
    RunReport,
    User,
)
from shared.domain.ports import EventPage, Json, Message, SignIn
from shared.domain.signin import PRODUCT_SCOPES, pkce_challenge

T = TypeVar("T")
R = TypeVar("R", User, CalendarState, Channel, Meeting, RunReport, DeliveryFailure)


def _copy(record: R) -> R:
    return type(record).from_dict(copy.deepcopy(record.to_dict()))


S = TypeVar("S", bound=CalendarState | Channel)


class _ByShard(dict[str, S]):
    """Records by id, also indexed by shard (as Firestore's composite indexes serve the
    maintenance queries), so a shard job reads its shard, not every record."""

    def __init__(self) -> None:
        super().__init__()
        self.shards: dict[int, set[str]] = {}

    def __setitem__(self, key: str, value: S) -> None:
        super().__setitem__(key, value)
        self.shards.setdefault(value.shard, set()).add(key)

    def __delitem__(self, key: str) -> None:
        self.shards.get(super().__getitem__(key).shard, set()).discard(key)
        super().__delitem__(key)

    def in_shard(self, shard: int) -> list[S]:
        return [self[k] for k in self.shards.get(shard, ()) if k in self]


def due_records(
    records: Iterable[S],
    when: Callable[[S], dt.datetime | None],
    due: dt.datetime,
    after: dt.datetime | None,
    limit: int,
    copy_record: Callable[[S], S] | None = None,
) -> list[S]:
    """`after < when(r) <= due`, soonest first, at most `limit`, copied (a round trip
    through `to_dict` unless `copy_record` is given): a maintenance query's answer."""
    found = [
        (at, r)
        for r in records
        if (at := when(r)) is not None and at <= due and (after is None or at > after)
    ]
    found.sort(key=lambda pair: pair[0])
    if copy_record is None:
        return [cast(S, type(r).from_dict(copy.deepcopy(r.to_dict()))) for _, r in found[:limit]]
    return [copy_record(r) for _, r in found[:limit]]


class MemoryStore:
    """Users, calendars, channels and meetings in dicts; `ops` counts reads, writes and
    queries by kind, `writes_by_doc` the writes to each document."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.calendars: _ByShard[CalendarState] = _ByShard()
        self.channels: _ByShard[Channel] = _ByShard()
        self.meetings: dict[str, Meeting] = {}
        self.states: dict[str, dt.datetime] = {}
        """Used sign-in state nonces → when their record may be purged."""
        self.runs: dict[str, RunReport] = {}
        self.failures: dict[str, DeliveryFailure] = {}
        """Recorded delivery failures by data digest."""
        self.ops: Counter[str] = Counter()
        self.writes_by_doc: Counter[str] = Counter()
        self.before_write: Callable[[str], None] | None = None
        """Called with a document path just before a conditional write commits: a test
        makes another writer win the race there."""
        self._lock = threading.RLock()

    def _wrote(self, path: str) -> None:
        self.ops["write"] += 1
        self.writes_by_doc[path] += 1

    # -- users ---------------------------------------------------------------------------

    def get_user(self, email: str) -> User | None:
        self.ops["read"] += 1
        user = self.users.get(email.lower())
        return _copy(user) if user else None

    def put_user(self, user: User) -> None:
        with self._lock:
            stored = _copy(user)
            stored.email = stored.email.lower()
            self.users[stored.email] = stored
            self._wrote(f"users/{stored.email}")

    def set_user_status(self, email: str, status: str) -> None:
        with self._lock:
            user = self.users.get(email.lower())
            if user is None:
                raise NotFoundError(f"no user {email}", status=404)
            user.status = status
            self._wrote(f"users/{email.lower()}")

    def modify_user(self, email: str, decide: Callable[[User | None], tuple[T, User | None]]) -> T:
        key = email.lower()
        while True:
            self.ops["read"] += 1
            seen = self.users.get(key)
            result, new = decide(_copy(seen) if seen else None)
            if new is None:
                return result
            if self.before_write:
                self.before_write(f"users/{key}")
            with self._lock:
                if self.users.get(key) is not seen:
                    continue  # another writer got in first: decide again
                self.users[key] = _copy(new)
                self._wrote(f"users/{key}")
                return result

    # -- sign-in states ------------------------------------------------------------------

    def claim_state(self, nonce: str, expires: dt.datetime) -> bool:
        with self._lock:
            if nonce in self.states:
                return False
            self.states[nonce] = expires
            self._wrote(f"connect_states/{nonce}")
            return True

    # -- calendars -----------------------------------------------------------------------

    def get_calendar(self, key: str) -> CalendarState | None:
        self.ops["read"] += 1
        state = self.calendars.get(key)
        return _copy(state) if state else None

    def put_calendar(self, state: CalendarState) -> None:
        with self._lock:
            self.calendars[state.key] = _copy(state)
            self._wrote(f"calendars/{state.key}")

    def update_calendar(self, key: str, fields: dict[str, Any]) -> None:
        with self._lock:
            state = self.calendars.get(key)
            if state is None:
                raise NotFoundError(f"no calendar {key}", status=404)
            self.calendars[key] = CalendarState.from_dict({**state.to_dict(), **fields})
            self._wrote(f"calendars/{key}")

    def watched_calendars(self) -> list[CalendarState]:
        self.ops["query"] += 1
        return [_copy(s) for s in self.calendars.values() if s.status == "watching"]

    def calendars_of(self, owner: str) -> list[CalendarState]:
        self.ops["query"] += 1
        return [_copy(s) for s in self.calendars.values() if s.owner == owner.lower()]

    def modify_calendar(
        self, key: str, decide: Callable[[CalendarState | None], tuple[T, CalendarState | None]]
    ) -> T:
        while True:
            self.ops["read"] += 1
            seen = self.calendars.get(key)
            result, new = decide(_copy(seen) if seen else None)
            if new is None:
                return result
            if self.before_write:
                self.before_write(f"calendars/{key}")
            with self._lock:
                if self.calendars.get(key) is not seen:
                    continue  # another writer got in first: decide again
                self.calendars[key] = _copy(new)
                self._wrote(f"calendars/{key}")
                return result

    def calendars_to_sweep(
        self, shard: int, due: dt.datetime, *, after: dt.datetime | None, limit: int
    ) -> list[CalendarState]:
        self.ops["query"] += 1
        watched = (s for s in self.calendars.in_shard(shard) if s.status == "watching")
        return due_records(watched, lambda s: s.next_sweep_at, due, after, limit)

    # -- channels ------------------------------------------------------------------------

    def modify_channel(
        self, channel_id: str, decide: Callable[[Channel | None], tuple[T, Channel | None]]
    ) -> T:
        while True:
            self.ops["read"] += 1
            seen = self.channels.get(channel_id)
            result, new = decide(_copy(seen) if seen else None)
            if new is None:
                return result
            if self.before_write:
                self.before_write(f"channels/{channel_id}")
            with self._lock:
                if self.channels.get(channel_id) is not seen:
                    continue  # another writer got in first: decide again
                self.channels[channel_id] = _copy(new)
                self._wrote(f"channels/{channel_id}")
                return result

    def channels_expiring(
        self, shard: int, before: dt.datetime, *, after: dt.datetime | None, limit: int
    ) -> list[Channel]:
        self.ops["query"] += 1
        active = (c for c in self.channels.in_shard(shard) if c.state == "active")
        return due_records(active, lambda c: c.expiration, before, after, limit)

    def channels_to_stop(
        self, shard: int, due: dt.datetime, *, after: dt.datetime | None, limit: int
    ) -> list[Channel]:
        self.ops["query"] += 1
        stopping = (c for c in self.channels.in_shard(shard) if c.state == "stopping")
        return due_records(stopping, lambda c: c.stop_after, due, after, limit)

    def get_channel(self, channel_id: str) -> Channel | None:
        self.ops["read"] += 1
        channel = self.channels.get(channel_id)
        return _copy(channel) if channel else None

    def put_channel(self, channel: Channel) -> None:
        with self._lock:
            self.channels[channel.id] = _copy(channel)
            self._wrote(f"channels/{channel.id}")

    def update_channel(self, channel_id: str, fields: dict[str, Any]) -> None:
        with self._lock:
            channel = self.channels.get(channel_id)
            if channel is None:
                raise NotFoundError(f"no channel {channel_id}", status=404)
            self.channels[channel_id] = Channel.from_dict({**channel.to_dict(), **fields})
            self._wrote(f"channels/{channel_id}")

    def channels_for(self, calendar_key: str) -> list[Channel]:
        self.ops["query"] += 1
        return [_copy(c) for c in self.channels.values() if c.calendar_key == calendar_key]

    def channels_in_state(self, states: Iterable[str]) -> list[Channel]:
        self.ops["query"] += 1
        wanted = set(states)
        return [_copy(c) for c in self.channels.values() if c.state in wanted]

    # -- meetings ------------------------------------------------------------------------

    def get_meeting(self, meeting_id: str) -> Meeting | None:
        self.ops["read"] += 1
        meeting = self.meetings.get(meeting_id)
        return _copy(meeting) if meeting else None

    def get_meetings(self, meeting_ids: Iterable[str]) -> dict[str, Meeting]:
        ids = set(meeting_ids)
        self.ops["read"] += len(ids)
        return {i: _copy(self.meetings[i]) for i in ids if i in self.meetings}

    def create_meeting(self, meeting: Meeting) -> tuple[Meeting, bool]:
        with self._lock:
            existing = self.meetings.get(meeting.id)
            if existing is not None:
                self.ops["read"] += 1
                return _copy(existing), False
            self.meetings[meeting.id] = _copy(meeting)
            self._wrote(f"meetings/{meeting.id}")
            return _copy(meeting), True

    def put_meeting(self, meeting: Meeting) -> None:
        with self._lock:
            self.meetings[meeting.id] = _copy(meeting)
            self._wrote(f"meetings/{meeting.id}")

    def update_meeting(
        self, meeting_id: str, change: Callable[[Meeting], Meeting | None]
    ) -> Meeting | None:
        while True:
            self.ops["read"] += 1
            seen = self.meetings.get(meeting_id)
            if seen is None:
                return None
            updated = change(_copy(seen))
            if updated is None:
                return None
            if self.before_write:
                self.before_write(f"meetings/{meeting_id}")
            with self._lock:
                if self.meetings.get(meeting_id) is not seen:
                    continue
                self.meetings[meeting_id] = _copy(updated)
                self._wrote(f"meetings/{meeting_id}")
                return _copy(updated)

    def meeting_heads(self, calendar_key: str, statuses: Iterable[str]) -> list[MeetingHead]:
        self.ops["query"] += 1
        wanted = set(statuses)
        return [
            MeetingHead(*(str(getattr(m, f) or "") for f in MeetingHead.FIELDS))
            for m in self.meetings.values()
            if m.calendar_key == calendar_key and m.status in wanted
        ]

    def pending_announcements(self, calendar_key: str) -> list[Meeting]:
        self.ops["query"] += 1
        return [
            _copy(m)
            for m in self.meetings.values()
            if m.calendar_key == calendar_key and m.to_dict()[PENDING_FIELD]
        ]

    def meetings_by_space(self, space: str) -> list[Meeting]:
        self.ops["query"] += 1
        return [_copy(m) for m in self.meetings.values() if m.space == space]

    def meetings_by_organizer(self, organizer: str, status: str | None = None) -> list[Meeting]:
        self.ops["query"] += 1
        return [
            _copy(m)
            for m in self.meetings.values()
            if m.organizer == organizer.lower() and status in (None, "", m.status)
        ]

    def pending_since(self, before: dt.datetime, limit: int) -> list[Meeting]:
        self.ops["query"] += 1
        found = [
            m for m in self.meetings.values() if m.status == "pending" and m.created_at <= before
        ]
        found.sort(key=lambda m: m.created_at)
        return [_copy(m) for m in found[:limit]]

    def meetings_to_reconcile(self, shard: int, due: dt.datetime, limit: int) -> list[Meeting]:
        self.ops["query"] += 1
        found = [
            m
            for m in self.meetings.values()
            if m.shard == shard and m.outcome_check_at is not None and m.outcome_check_at <= due
        ]
        found.sort(key=lambda m: m.outcome_check_at or due)
        return [_copy(m) for m in found[:limit]]

    def meetings_to_audit(
        self, shard: int, due: dt.datetime, *, after: dt.datetime | None, limit: int
    ) -> list[Meeting]:
        self.ops["query"] += 1
        found = [
            (at, m)
            for m in self.meetings.values()
            if m.shard == shard
            and (at := m.next_audit_at) is not None
            and at <= due
            and (after is None or at > after)
        ]
        found.sort(key=lambda pair: pair[0])
        return [_copy(m) for _, m in found[:limit]]

    # -- run reports and delivery failures ---------------------------------------------------

    def put_run(self, run: RunReport) -> None:
        with self._lock:
            self.runs[run.id] = _copy(run)
            self._wrote(f"runs/{run.id}")

    def last_run(self, kind: str) -> RunReport | None:
        self.ops["query"] += 1
        runs = [r for r in self.runs.values() if r.kind == kind]
        return _copy(max(runs, key=lambda r: r.started_at)) if runs else None

    def reports_of_run(self, run: str) -> list[RunReport]:
        self.ops["query"] += 1
        return [_copy(r) for r in self.runs.values() if r.run == run]

    def record_failure(self, failure: DeliveryFailure) -> DeliveryFailure:
        with self._lock:
            seen = self.failures.get(failure.data_sha256)
            stored = _copy(failure)
            if seen is not None:
                stored.attempts = seen.attempts + 1
                stored.first_failed_at = seen.first_failed_at
            self.failures[failure.data_sha256] = stored
            self._wrote(f"delivery_failures/{failure.data_sha256}")
            return _copy(stored)

    def failures_for(self, digests: Iterable[str]) -> dict[str, DeliveryFailure]:
        self.ops["read"] += 1
        return {d: _copy(self.failures[d]) for d in set(digests) if d in self.failures}


class MemoryCalendar:
    """Calendar v3 as the services use it: per-calendar events with etags, change
    sequence numbers for sync tokens, If-Match, watch channels. `calls` counts requests
    by method; `fail` maps a method to an exception its next call raises."""

    def __init__(
        self,
        *,
        page_size: int = 250,
        conference_ready: bool = True,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.clock = clock
        """Channel expiry is computed from it (a virtual clock in tests and simulation)."""
        self.before: Callable[[str], None] | None = None
        """Called with the method name before each request: a user's edit, or another
        worker, getting in between two of ours."""
        self.tokens: dict[str, str] = {}
        """Channel id → the token its watch request carried (as Google would send it)."""
        self.events: dict[str, dict[str, Json]] = {}
        """calendar key (`owner:calendar`) → event id → event."""
        self.calls: Counter[str] = Counter()
        self.fail: dict[str, Exception] = {}
        self.channels: dict[str, Json] = {}
        """Live channels by id, with their `expiration` (ms) and `stopped` flag."""
        self.page_size = page_size
        self.conference_ready = conference_ready
        self.access_roles: dict[str, str] = {}
        """Calendar key → the caller's role a list reports (`owner` when absent)."""
        self.deleted: list[tuple[str, str]] = []
        """(event id, sendUpdates) of every `delete_event` that deleted something."""
        self._seq = itertools.count(1)
        self._generation: dict[str, int] = {}
        self._lock = threading.RLock()

    @staticmethod
    def key(user: str, calendar_id: str) -> str:
        return f"{user.lower()}:{(user if calendar_id == 'primary' else calendar_id).lower()}"

    def _call(self, method: str) -> None:
        if self.before is not None:
            self.before(method)
        self.calls[method] += 1
        error = self.fail.pop(method, None)
        if error is not None:
            raise error

    def _store(self, key: str, event: Json) -> Json:
        seq = next(self._seq)
        event["etag"] = f'"{seq}"'
        event["updated"] = f"2026-01-01T00:00:00.{seq:06d}Z"
        event["_seq"] = seq
        self.events.setdefault(key, {})[str(event["id"])] = event
        return _public(event)

    # -- what a user does in Google Calendar ------------------------------------------------

    def put(self, user: str, calendar_id: str, event: Json) -> Json:
        """Create or replace an event as the user would (no request counted)."""
        with self._lock:
            return self._store(self.key(user, calendar_id), copy.deepcopy(event))

    def edit(self, user: str, calendar_id: str, event_id: str, **fields: Any) -> Json:
        with self._lock:
            event = copy.deepcopy(self.events[self.key(user, calendar_id)][event_id])
            event.update(fields)
            return self._store(self.key(user, calendar_id), event)

    def delete(self, user: str, calendar_id: str, event_id: str) -> Json:
        return self.edit(user, calendar_id, event_id, status="cancelled")

    def invalidate_sync_tokens(self, user: str, calendar_id: str) -> None:
        key = self.key(user, calendar_id)
        self._generation[key] = self._generation.get(key, 0) + 1

    # -- CalendarPort ------------------------------------------------------------------------

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
        """Without a token: the live events (`time_min` is not applied: every event is in
        the window here). With one: every event changed since, cancelled ones included."""
        self._call("events.list")
        key = self.key(user, calendar_id)
        generation = self._generation.get(key, 0)
        since = 0
        if sync_token:
            gen, _, seq = sync_token.partition(":")
            if int(gen) != generation:
                raise FullSyncRequiredError("sync token invalid", status=410)
            since = int(seq)
        with self._lock:
            events = sorted(self.events.get(key, {}).values(), key=lambda e: int(e["_seq"]))
            high = max((int(e["_seq"]) for e in events), default=since)
        chosen = [
            e
            for e in events
            if int(e["_seq"]) > since and (sync_token or e.get("status") != "cancelled")
        ]
        start = int(page_token or 0)
        size = min(max_results, self.page_size)
        page = chosen[start : start + size]
        more = start + size < len(chosen)
        return EventPage(
            items=[_listed(_public(e)) for e in page],
            next_page_token=str(start + size) if more else None,
            next_sync_token=None if more else f"{generation}:{high}",
            access_role=self.access_roles.get(key, "owner"),
        )

    def get_event(self, user: str, calendar_id: str, event_id: str) -> Json:
        self._call("events.get")
        event = self.events.get(self.key(user, calendar_id), {}).get(event_id)
        if event is None:
            raise NotFoundError(f"no event {event_id}", status=404, reason="notFound")
        return _public(event)

    def insert_event(
        self, user: str, calendar_id: str, body: Json, *, send_updates: str = "none"
    ) -> Json:
        self._call("events.insert")
        with self._lock:
            key = self.key(user, calendar_id)
            if str(body.get("id", "")) in self.events.get(key, {}):
                raise DuplicateError("duplicate", status=409, reason="duplicate")
            event = copy.deepcopy(body)
            event.setdefault("id", f"ev{next(self._seq)}")
            event.setdefault("status", "confirmed")
            create = (event.get("conferenceData") or {}).get("createRequest")
            if create:
                code = f"mem-{str(event['id'])[:4]}-{next(self._seq)}"
                create["status"] = {"statusCode": "success" if self.conference_ready else "pending"}
                if self.conference_ready:
                    event["conferenceData"].update(_conference(code))
            return self._store(key, event)

    def patch_event(
        self, user: str, calendar_id: str, event_id: str, body: Json, *, etag: str
    ) -> Json:
        self._call("events.patch")
        with self._lock:
            key = self.key(user, calendar_id)
            event = self.events.get(key, {}).get(event_id)
            if event is None:
                raise NotFoundError(f"no event {event_id}", status=404, reason="notFound")
            if etag and etag != event["etag"]:
                raise PreconditionFailedError("etag", status=412, reason="conditionNotMet")
            merged = copy.deepcopy(event)
            merged.update(copy.deepcopy(body))
            return self._store(key, merged)

    def delete_event(
        self, user: str, calendar_id: str, event_id: str, *, send_updates: str = "none"
    ) -> None:
        self._call("events.delete")
        with self._lock:
            event = self.events.get(self.key(user, calendar_id), {}).get(event_id)
            if event is None:
                raise NotFoundError(f"no event {event_id}", status=404, reason="notFound")
            if event.get("status") == "cancelled":
                raise GoneError("Resource has been deleted", status=410, reason="deleted")
            self.edit(user, calendar_id, event_id, status="cancelled")
            self.deleted.append((event_id, send_updates))

    def import_event(self, user: str, calendar_id: str, body: Json) -> Json:
        self._call("events.import")
        with self._lock:
            event = copy.deepcopy(body)
            event.setdefault("id", f"imp{next(self._seq)}")
            return self._store(self.key(user, calendar_id), event)

    def list_by_ical_uid(self, user: str, calendar_id: str, ical_uid: str) -> list[Json]:
        self._call("events.list")
        return [
            _public(e)
            for e in self.events.get(self.key(user, calendar_id), {}).values()
            if e.get("iCalUID") == ical_uid
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
        self._call("events.watch")
        self.tokens[channel_id] = token
        expiration = int((self.clock() + dt.timedelta(seconds=ttl_seconds)).timestamp() * 1000)
        resource = f"res-{self.key(user, calendar_id)}"
        self.channels[channel_id] = {
            "id": channel_id,
            "resourceId": resource,
            "calendar": self.key(user, calendar_id),
            "expiration": expiration,
            "stopped": False,
        }
        return {"id": channel_id, "resourceId": resource, "expiration": str(expiration)}

    def stop_channel(self, user: str, channel_id: str, resource_id: str) -> None:
        self._call("channels.stop")
        channel = self.channels.get(channel_id)
        if channel is None or channel["stopped"]:
            raise NotFoundError(f"no channel {channel_id}", status=404)
        channel["stopped"] = True

    def live_channels(self, calendar: str) -> list[Json]:
        return [c for c in self.channels.values() if c["calendar"] == calendar and not c["stopped"]]


def _listed(event: Json) -> Json:
    """An event as the product lists it: cut to `LISTED_FIELDS`, as Google answers a
    partial response, so a service test reads no more than the product asks for."""
    return {k: v for k, v in event.items() if k in event_.LISTED_FIELDS}


def _public(event: Json) -> Json:
    return {k: copy.deepcopy(v) for k, v in event.items() if not k.startswith("_")}


def _conference(code: str) -> Json:
    uri = f"https://meet.google.com/{code}"
    return {
        "conferenceId": code,
        "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
        "entryPoints": [{"entryPointType": "video", "uri": uri}],
    }


def ready_conference(event: Json) -> None:
    """Turn a pending created conference of `event` (in place) into a ready one."""
    create = event["conferenceData"]["createRequest"]
    create["status"] = {"statusCode": "success"}
    event["conferenceData"].update(_conference(f"mem-{str(event['id'])[:8]}"))


class MemoryMeet:
    """Meet spaces: created, looked up by name or code, their active conference ended."""

    def __init__(self) -> None:
        self.spaces: dict[str, Json] = {}
        self.active: set[str] = set()
        """Spaces with a conference running."""
        self.ended: list[str] = []
        self.calls: Counter[str] = Counter()
        self._seq = itertools.count(1)
        self.records: dict[str, Json] = {}
        self.participants: dict[str, list[Json]] = {}
        """Per conference record, its participants."""
        self.sessions: dict[str, list[Json]] = {}
        """Per participant, their sessions."""
        self.artifacts: dict[str, list[Json]] = {}
        self.user_ids: dict[str, str] = {}
        self.fail_next = 0
        """Conference record listings to refuse (503, as Google's transient errors)."""

    def create_space(self, user: str, config: Json) -> Json:
        self.calls["spaces.create"] += 1
        n = next(self._seq)
        code = f"mem-spc-{n:03d}"
        space: Json = {"name": f"spaces/M{n}", "meetingCode": code, "config": dict(config)}
        space["meetingUri"] = f"https://meet.google.com/{code}"
        self.spaces[space["name"]] = space
        return copy.deepcopy(space)

    def get_space(self, user: str, name: str) -> Json:
        self.calls["spaces.get"] += 1
        key = name.split("/", 1)[1]
        for space in self.spaces.values():
            if space["name"] == name or space["meetingCode"] == key:
                return copy.deepcopy(space)
        space = {"name": f"spaces/C-{key}", "meetingCode": key}  # made by Calendar
        self.spaces[space["name"]] = space
        return copy.deepcopy(space)

    def patch_space(self, user: str, name: str, config: Json, update_mask: Iterable[str]) -> Json:
        self.calls["spaces.patch"] += 1
        if name not in self.spaces:
            raise NotFoundError(f"{name} not found", status=404)
        space = self.spaces[name]
        for path in update_mask:
            parts = path.split(".")[1:]
            source: Any = config
            target = space.setdefault("config", {})
            for part in parts[:-1]:
                source = source.get(part, {})
                target = target.setdefault(part, {})
            target[parts[-1]] = source.get(parts[-1])
        return copy.deepcopy(space)

    def end_active_conference(self, user: str, name: str) -> None:
        self.calls["spaces.endActiveConference"] += 1
        if name not in self.active:
            raise FailedPreconditionError("no active conference", status=400)
        self.active.discard(name)
        self.ended.append(name)
        for record in self.records.values():
            if record["space"] == name and "endTime" not in record:
                self.end(name)

    # -- conference records: what happens in a space (simulated), read as Meet serves it --

    clock: Callable[[], dt.datetime] = staticmethod(lambda: dt.datetime.now(dt.UTC))

    def _stamp(self) -> str:
        return self.clock().isoformat().replace("+00:00", "Z")

    def _live(self, space: str) -> Json | None:
        for record in reversed(list(self.records.values())):
            if record["space"] == space and "endTime" not in record:
                return record
        return None

    def start(self, space: str) -> str:
        """A conference starts in `space` (if none runs): its record's name."""
        live = self._live(space)
        if live is not None:
            return str(live["name"])
        name = f"conferenceRecords/R{next(self._seq)}"
        self.records[name] = {"name": name, "space": space, "startTime": self._stamp()}
        self.participants[name] = []
        self.active.add(space)
        return name

    def user_id(self, email: str) -> str:
        """Meet's `users/{id}` of a signed-in user (`directory_entries` names them)."""
        key = email.lower()
        if key not in self.user_ids:
            self.user_ids[key] = f"users/{100 + len(self.user_ids)}"
        return self.user_ids[key]

    def join(self, space: str, *, email: str = "", guest: str = "", phone: str = "") -> str:
        """Someone joins (a new session); the conference starts if none runs. The session."""
        record = self.start(space)
        people = self.participants[record]
        if email:
            who: Json = {"signedinUser": {"user": self.user_id(email), "displayName": email}}
        elif phone:
            who = {"phoneUser": {"displayName": phone}}
        else:
            who = {"anonymousUser": {"displayName": guest}}
        participant = next((p for p in people if {**p, "name": ""} == {**who, "name": ""}), None)
        if participant is None:
            participant = {**who, "name": f"{record}/participants/P{next(self._seq)}"}
            participant["earliestStartTime"] = self._stamp()
            people.append(participant)
        participant.pop("latestEndTime", None)
        session = {"name": f"{participant['name']}/participantSessions/S{next(self._seq)}"}
        session["startTime"] = self._stamp()
        self.sessions.setdefault(participant["name"], []).append(session)
        return str(session["name"])

    def leave(self, space: str, *, email: str = "", guest: str = "", phone: str = "") -> None:
        """Their open session ends; the last one out ends the conference."""
        record = self._live(space)
        assert record is not None, f"no conference in {space}"
        for participant in self.participants[record["name"]]:
            if (
                (email and participant.get("signedinUser", {}).get("user") == self.user_id(email))
                or (guest and participant.get("anonymousUser", {}).get("displayName") == guest)
                or (phone and participant.get("phoneUser", {}).get("displayName") == phone)
            ):
                self._close(participant)
        if not any(
            "endTime" not in s
            for p in self.participants[record["name"]]
            for s in self.sessions.get(p["name"], [])
        ):
            self.end(space)

    def _close(self, participant: Json) -> None:
        for session in self.sessions.get(participant["name"], []):
            if "endTime" not in session:
                session["endTime"] = self._stamp()
        participant["latestEndTime"] = self._stamp()

    def end(self, space: str) -> str:
        """The conference ends for everyone in it: its record's name."""
        record = self._live(space)
        assert record is not None, f"no conference in {space}"
        for participant in self.participants[record["name"]]:
            if any("endTime" not in s for s in self.sessions.get(participant["name"], [])):
                self._close(participant)
        record["endTime"] = self._stamp()
        self.active.discard(space)
        return str(record["name"])

    def artifact(self, space: str, kind: str) -> str:
        """A recording or transcript file generated for the space's latest conference."""
        record = [r for r in self.records.values() if r["space"] == space][-1]
        n = next(self._seq)
        name = f"{record['name']}/{kind}s/A{n}"
        item: Json = {"name": name, "state": "FILE_GENERATED", "startTime": record["startTime"]}
        if kind == "recording":
            item["driveDestination"] = {"file": f"file-{n}", "exportUri": f"https://drive/{n}"}
        else:
            item["docsDestination"] = {"document": f"doc-{n}", "exportUri": f"https://docs/{n}"}
        self.artifacts.setdefault(record["name"], []).append(item)
        return name

    def _record(self, name: str) -> Json:
        self.calls["conferenceRecords.get"] += 1
        if name not in self.records:
            raise NotFoundError(f"{name} not found", status=404)
        return self.records[name]

    def get_conference_record(self, user: str, name: str) -> Json:
        return copy.deepcopy(self._record(name))

    def list_conference_records(self, user: str, space: str) -> list[Json]:
        self.calls["conferenceRecords.list"] += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            raise TransientError("meet: 503 UNAVAILABLE")
        found = [r for r in self.records.values() if r["space"] == space]
        return copy.deepcopy(found[::-1])

    def list_participants(self, user: str, record: str) -> list[Json]:
        self.calls["participants.list"] += 1
        return copy.deepcopy(self.participants.get(record, []))

    def list_participant_sessions(self, user: str, participant: str) -> list[Json]:
        self.calls["participantSessions.list"] += 1
        return copy.deepcopy(self.sessions.get(participant, []))

    def list_recordings(self, user: str, record: str) -> list[Json]:
        self.calls["recordings.list"] += 1
        items = self.artifacts.get(record, [])
        return copy.deepcopy([a for a in items if "/recordings/" in a["name"]])

    def list_transcripts(self, user: str, record: str) -> list[Json]:
        self.calls["transcripts.list"] += 1
        items = self.artifacts.get(record, [])
        return copy.deepcopy([a for a in items if "/transcripts/" in a["name"]])


class MemoryDirectory:
    """The `DirectoryPort`: Meet's `users/{id}` to emails, as `MemoryMeet` numbered them."""

    def __init__(self, meet: MemoryMeet) -> None:
        self._meet = meet
        self.calls = 0

    def user_email(self, acting_user: str, user_id: str) -> str | None:
        self.calls += 1
        for email, uid in self._meet.user_ids.items():
            if uid == f"users/{user_id}":
                return email
        raise NotFoundError("Resource Not Found: userKey", status=404)


class MemoryWorkspaceEvents:
    """The `WorkspaceEventsPort`: subscriptions by name, one per target (ALREADY_EXISTS is
    answered with the existing one, as the adapter does); `revoked` users cannot
    reactivate; `calls` counts writes by method."""

    MAX_TTL = dt.timedelta(days=7)

    def __init__(self, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.subscriptions: dict[str, Json] = {}
        self.revoked: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.fail_next = 0
        """Creates to refuse (503, as Google's transient errors)."""
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._seq = itertools.count(1)

    def _expiry(self) -> str:
        return (self._clock() + self.MAX_TTL).isoformat().replace("+00:00", "Z")

    def _get(self, name: str) -> Json:
        if name not in self.subscriptions:
            raise NotFoundError(f"{name} not found", status=404)
        return self.subscriptions[name]

    def create_subscription(
        self, user: str, *, target: str, event_types: Iterable[str], topic: str
    ) -> Json:
        self.calls["create"] += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            raise TransientError("workspaceevents: 503 UNAVAILABLE")
        for sub in self.subscriptions.values():
            if sub["targetResource"] == target:
                return copy.deepcopy(sub)
        name = f"subscriptions/S{next(self._seq)}"
        self.subscriptions[name] = {
            "name": name,
            "targetResource": target,
            "eventTypes": list(event_types),
            "notificationEndpoint": {"pubsubTopic": topic},
            "state": "ACTIVE",
            "authority": user,
            "expireTime": self._expiry(),
        }
        return copy.deepcopy(self.subscriptions[name])

    def get_subscription(self, user: str, name: str) -> Json:
        return copy.deepcopy(self._get(name))

    def renew_subscription(self, user: str, name: str) -> Json:
        self.calls["patch"] += 1
        sub = self._get(name)
        sub["expireTime"] = self._expiry()
        return copy.deepcopy(sub)

    def reactivate_subscription(self, user: str, name: str) -> Json:
        self.calls["reactivate"] += 1
        if user in self.revoked:  # no token can be had for them
            raise AuthRevokedError("invalid_grant", status=400, reason="invalid_grant")
        sub = self._get(name)
        if sub["state"] != "SUSPENDED":
            raise FailedPreconditionError("cannot reactivate", status=400)
        sub["state"] = "ACTIVE"
        return copy.deepcopy(sub)

    def delete_subscription(self, user: str, name: str) -> None:
        self.calls["delete"] += 1
        self.subscriptions.pop(name, None)


class MemoryPublisher:
    """Topics as lists of (data, ordering key, attributes); `fail_next` refuses publishes."""

    def __init__(self) -> None:
        self.messages: dict[str, list[tuple[Json, str, dict[str, str]]]] = {}
        self.fail_next = 0
        self._ids = itertools.count(1)

    def publish(
        self,
        topic: str,
        data: Json,
        *,
        ordering_key: str = "",
        attributes: dict[str, str] | None = None,
    ) -> str:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise PublishError(f"publish to {topic} failed: ServiceUnavailable")
        self.messages.setdefault(topic, []).append(
            (copy.deepcopy(data), ordering_key, dict(attributes or {}))
        )
        return str(next(self._ids))

    def publish_many(self, topic: str, messages: Sequence[Message]) -> list[str]:
        return [
            self.publish(topic, m.data, ordering_key=m.ordering_key, attributes=m.attributes)
            for m in messages
        ]


class MemorySink:
    """The `EventSink` port: CloudEvents kept in order; `fail_next` refuses emits."""

    def __init__(self) -> None:
        self.events: list[Json] = []
        self.fail_next = 0

    def emit(self, event: Json, *, ordering_key: str) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise PublishError("publish to meeting-events failed: ServiceUnavailable")
        self.events.append(copy.deepcopy(event))

    def types(self, meeting_id: str | None = None) -> list[str]:
        return [
            str(e["type"])
            for e in self.events
            if meeting_id is None or e["subject"] == f"meetings/{meeting_id}"
        ]


class MemoryVault:
    """The `TokenVault` port: a reversible, visibly sealed form (tests check what is stored)."""

    def seal(self, secret: str) -> str:
        return "sealed:" + secret[::-1]

    def open(self, sealed: str) -> str:
        if not sealed.startswith("sealed:"):
            raise ValueError("not sealed by this vault")
        return sealed.removeprefix("sealed:")[::-1]


class MemoryOAuth:
    """The `OAuthPort`: codes made by `grant` (what a user's Allow at Google gives), single
    use and bound to their redirect URI and PKCE challenge; revocations recorded;
    delegation refused for the emails in `delegation_refusals` (email → Google's reason)."""

    def __init__(self) -> None:
        self.codes: dict[str, tuple[SignIn, str, str]] = {}
        self.used: set[str] = set()
        self.revoked: list[str] = []
        self.live: set[str] = set()
        """Refresh tokens granted and not revoked."""
        self.delegation_refusals: dict[str, str] = {}
        self.calls: Counter[str] = Counter()
        self._seq = itertools.count(1)

    def grant(
        self,
        email: str,
        *,
        challenge: str,
        redirect_uri: str,
        scopes: Iterable[str] = (*PRODUCT_SCOPES, "openid", "email"),
        offline: bool = True,
        email_verified: bool = True,
    ) -> str:
        n = next(self._seq)
        refresh = f"1//mem-refresh-{n}" if offline else ""
        if refresh:
            self.live.add(refresh)
        code = f"4/mem-code-{n}"
        self.codes[code] = (
            SignIn(email, email_verified, frozenset(scopes), refresh),
            challenge,
            redirect_uri,
        )
        return code

    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str) -> SignIn:
        self.calls["token"] += 1
        found = self.codes.get(code)
        if found is None or code in self.used:
            raise AuthRevokedError("code used or unknown", status=400, reason="invalid_grant")
        sign_in, challenge, redirect = found
        self.used.add(code)
        if redirect != redirect_uri or pkce_challenge(code_verifier) != challenge:
            raise AuthRevokedError("bad verifier or redirect", status=400, reason="invalid_grant")
        return sign_in

    def revoke(self, token: str) -> bool:
        self.calls["revoke"] += 1
        if token not in self.live:
            return False
        self.live.discard(token)
        self.revoked.append(token)
        return True

    def prove_delegation(self, email: str) -> None:
        self.calls["delegation"] += 1
        reason = self.delegation_refusals.get(email)
        if reason:
            raise AuthRevokedError(f"delegation refused: {reason}", status=400, reason=reason)
