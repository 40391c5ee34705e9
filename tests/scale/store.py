"""Firestore for the simulation: `shared.memory.MemoryStore`, metered and made fast.

`ScaleStore` is the product's own in-memory store with changes that keep its behaviour:
records of calendars are copied field by field instead of through a deep-copied dict (a
sync reads and writes its calendar twice; over a million syncs), and the queries by
calendar (`channels_for`, `meeting_heads`, `pending_announcements`) use an index, as
Firestore would, instead of scanning every record.

`Metered` is the store as the services see it: each call's reads, writes and queries are
counted per collection (from the store's own `ops` counter and its `_wrote` hook) and its
latency is added to the invocation's clock. Writes are also counted per document per
minute (the ~1 write/s per document limit) and, for time fields a write moves, per second
per collection, split by whether Terraform exempts the field from indexing
(`infra/firestore.tf`): an indexed field whose values rise with time caps a collection
near 500 writes/s.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import operator
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shared.domain.models import (
    CalendarState,
    Channel,
    Meeting,
    MeetingHead,
    RunReport,
)
from shared.memory import MemoryStore, due_records
from tests.scale import params
from tests.scale.core import Series, Sim

T = TypeVar("T")
R = TypeVar("R")
_READ = params.cloud("firestore.read")
_WRITE = params.cloud("firestore.write")
_QUERY = params.cloud("firestore.query")
_QUERY_DOC = params.cloud("firestore.query_doc")


def exempt_fields() -> frozenset[tuple[str, str]]:
    """(collection, field) pairs `infra/firestore.tf` keeps out of single-field indexes."""
    path = params.INFRA / "firestore.tf"
    text = path.read_text() if path.exists() else ""
    out = set()
    for body in re.findall(r'resource "google_firestore_field" "\w+" \{(.*?)\n\}', text, re.S):
        if re.search(r"index_config\s*\{\s*\}", body):
            coll = re.search(r'collection\s*=\s*"(\w+)"', body)
            name = re.search(r'\bfield\s*=\s*"(\w+)"', body)
            if coll and name:
                out.add((coll[1], name[1]))
    return frozenset(out)


@dataclass
class FirestoreCounts:
    reads: Counter[str] = field(default_factory=Counter)
    """Documents read, by collection (a query's documents included)."""
    writes: Counter[str] = field(default_factory=Counter)
    queries: Counter[str] = field(default_factory=Counter)
    max_doc_writes_per_min: int = 0
    busiest_doc: str = ""
    indexed_time_writes: dict[str, Series] = field(default_factory=dict)
    """Per collection, per second: writes that moved an indexed time field."""
    exempt_time_writes: dict[str, Series] = field(default_factory=dict)
    """Per collection, per second: writes that moved only exempted time fields."""
    indexed_time_fields: Counter[str] = field(default_factory=Counter)
    """`collection.field` of the indexed time fields written, with their write counts."""
    exempt_time_fields: Counter[str] = field(default_factory=Counter)
    empty_query_reads_by_function: Counter[str] = field(default_factory=Counter)
    """The one read an empty query bills, by function (a shard job's is a per-run cost)."""
    queries_by_function: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Queries by (function that made them, collection): a shard job's is a per-run cost."""


_TIME_FIELDS: dict[type, tuple[str, ...]] = {}


def time_fields(cls: type) -> tuple[str, ...]:
    """The record's datetime fields (all of them "now"-like, so rising with time)."""
    names = _TIME_FIELDS.get(cls)
    if names is None:
        names = _TIME_FIELDS[cls] = tuple(
            f.name for f in dataclasses.fields(cls) if "datetime" in str(f.type)
        )
    return names


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, scalars; anything else is shared, as
    records hold only immutable values besides): several times faster than `deepcopy`."""
    kind = type(value)
    if kind is dict:
        return {k: copy_json(v) for k, v in value.items()}
    if kind is list:
        return [copy_json(v) for v in value]
    return value


def clone(record: R) -> R:
    """A copy of a record, field by field (only lists and dicts deep-copied): what a round
    trip through the store gives, at a fraction of `MemoryStore`'s dict round trip."""
    cls = type(record)
    copier = _CLONERS.get(cls)
    if copier is None:
        copier = _CLONERS[cls] = _cloner(cls)
    return copier(record)  # type: ignore[no-any-return]


_CLONERS: dict[type, Callable[[Any], Any]] = {}


def _cloner(cls: type) -> Callable[[Any], Any]:
    """A function copying each field of `cls` in one statement (generated once per class)."""
    lines = ["def copier(r):", "    n = new(cls)"]
    for f in dataclasses.fields(cls):
        mutable = "list" in str(f.type) or "dict" in str(f.type)
        value = f"deepcopy(r.{f.name})" if mutable else f"r.{f.name}"
        lines.append(f"    setattr_(n, {f.name!r}, {value})")
    lines.append("    return n")
    scope: dict[str, Any] = {
        "new": object.__new__,
        "cls": cls,
        "deepcopy": copy_json,
        "setattr_": object.__setattr__,
    }
    exec("\n".join(lines), scope)  # noqa: S102 - generated from the dataclass's own fields
    return scope["copier"]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _FieldPlan:
    """How to read a record's time fields, and which of them are indexed."""

    getter: Callable[[Any], tuple[Any, ...]]
    size: int
    indexed: tuple[bool, ...]
    labels: tuple[str, ...]

    @classmethod
    def of(cls, record: type, coll: str, exempt: frozenset[tuple[str, str]]) -> _FieldPlan:
        names = time_fields(record)
        # a dummy last field: attrgetter of two names or more always gives a tuple
        getter = operator.attrgetter(*names, "__class__")
        return cls(
            getter=getter,
            size=len(names),
            indexed=tuple((coll, n) not in exempt for n in names),
            labels=tuple(f"{coll}.{n}" for n in names),
        )


class ScaleStore(MemoryStore):
    def __init__(self, sim: Sim, exempt: frozenset[tuple[str, str]]) -> None:
        super().__init__()
        self.sim = sim
        self.metering = True
        self.counts = FirestoreCounts()
        self.exempt = exempt
        self.on_token: Callable[[str, str, float], None] | None = None
        """Called with (calendar key, sync token, time) when a calendar's token changes."""
        self._shadow: dict[str, tuple[tuple[Any, ...], str | None]] = {}
        self._plans: dict[tuple[type, str], _FieldPlan] = {}
        self._doc_minute: dict[str, list[int]] = {}
        self._channels_by_calendar: dict[str, set[str]] = {}
        self._meetings_by_calendar: dict[str, set[str]] = {}

    # -- every write comes through here ---------------------------------------------------------

    def _wrote(self, path: str) -> None:
        self.ops["write"] += 1
        sim = self.sim
        sim.t += _WRITE
        coll, _, doc = path.partition("/")
        record = self._record(coll, doc)
        if coll == "channels" and isinstance(record, Channel):
            self._channels_by_calendar.setdefault(record.calendar_key, set()).add(doc)
        elif coll == "meetings" and isinstance(record, Meeting) and record.calendar_key:
            self._meetings_by_calendar.setdefault(record.calendar_key, set()).add(doc)
        if record is not None:
            self._watch_fields(coll, path, record)
        if not self.metering:
            return
        counts = self.counts
        counts.writes[coll] += 1
        minute = int(sim.t // 60)
        seen = self._doc_minute.get(path)
        if seen is None or seen[0] != minute:
            self._doc_minute[path] = [minute, 1]
            if counts.max_doc_writes_per_min == 0:
                counts.max_doc_writes_per_min, counts.busiest_doc = 1, path
        else:
            seen[1] += 1
            if seen[1] > counts.max_doc_writes_per_min:
                counts.max_doc_writes_per_min = seen[1]
                counts.busiest_doc = path

    def _record(self, coll: str, doc: str) -> Any:
        table: Any = {
            "users": self.users,
            "calendars": self.calendars,
            "channels": self.channels,
            "meetings": self.meetings,
            "runs": self.runs,
            "delivery_failures": self.failures,
        }.get(coll)
        return None if table is None else table.get(doc)

    def _watch_fields(self, coll: str, path: str, record: Any) -> None:
        """Count the time fields this write moved; report a calendar's new sync token."""
        cls = type(record)
        plan = self._plans.get((cls, coll))
        if plan is None:
            plan = self._plans[(cls, coll)] = _FieldPlan.of(cls, coll, self.exempt)
        values: tuple[Any, ...] = plan.getter(record)
        before = self._shadow.get(path)
        if cls is CalendarState:
            token = record.sync_token
            self._shadow[path] = (values, token)
            if self.on_token is not None and (before is None or before[1] != token):
                self.on_token(record.key, token, self.sim.t)
        else:
            self._shadow[path] = (values, None)
        if not self.metering:
            return
        old = before[0] if before is not None else None
        if old == values:
            return
        moved = [
            k
            for k in range(plan.size)
            if values[k] is not None and (old is None or old[k] != values[k])
        ]
        if not moved:
            return
        counts = self.counts
        indexed = [k for k in moved if plan.indexed[k]]
        series = counts.indexed_time_writes if indexed else counts.exempt_time_writes
        if coll not in series:
            series[coll] = Series(1.0)
        series[coll].add(self.sim.t)
        for k in moved:
            target = counts.indexed_time_fields if plan.indexed[k] else counts.exempt_time_fields
            target[plan.labels[k]] += 1

    def count_read(self, coll: str) -> None:
        """A read made outside the ports (the user record read when a token is minted)."""
        if self.metering:
            self.counts.reads[coll] += 1

    # -- calendars: copied field by field -----------------------------------------------------

    def get_calendar(self, key: str) -> CalendarState | None:
        self.ops["read"] += 1
        state = self.calendars.get(key)
        return clone(state) if state else None

    def modify_calendar(
        self, key: str, decide: Callable[[CalendarState | None], tuple[T, CalendarState | None]]
    ) -> T:
        while True:
            self.ops["read"] += 1
            seen = self.calendars.get(key)
            result, new = decide(clone(seen) if seen else None)
            if new is None:
                return result
            if self.calendars.get(key) is not seen:
                continue  # another writer got in first: decide again
            self.calendars[key] = clone(new)
            self._wrote(f"calendars/{key}")
            return result

    def calendars_to_sweep(
        self, shard: int, due: dt.datetime, *, after: dt.datetime | None, limit: int
    ) -> list[CalendarState]:
        self.ops["query"] += 1
        watched = (s for s in self.calendars.in_shard(shard) if s.status == "watching")
        return due_records(watched, lambda s: s.next_sweep_at, due, after, limit, clone)

    # -- channels, meetings, runs: the same, copied field by field ------------------------------

    def get_channel(self, channel_id: str) -> Channel | None:
        self.ops["read"] += 1
        channel = self.channels.get(channel_id)
        return clone(channel) if channel else None

    def channels_expiring(
        self, shard: int, before: dt.datetime, *, after: dt.datetime | None, limit: int
    ) -> list[Channel]:
        self.ops["query"] += 1
        active = (c for c in self.channels.in_shard(shard) if c.state == "active")
        return due_records(active, lambda c: c.expiration, before, after, limit, clone)

    def channels_to_stop(
        self, shard: int, due: dt.datetime, *, after: dt.datetime | None, limit: int
    ) -> list[Channel]:
        self.ops["query"] += 1
        stopping = (c for c in self.channels.in_shard(shard) if c.state == "stopping")
        return due_records(stopping, lambda c: c.stop_after, due, after, limit, clone)

    def get_meeting(self, meeting_id: str) -> Meeting | None:
        self.ops["read"] += 1
        meeting = self.meetings.get(meeting_id)
        return clone(meeting) if meeting else None

    def get_meetings(self, meeting_ids: Iterable[str]) -> dict[str, Meeting]:
        ids = set(meeting_ids)
        self.ops["read"] += len(ids)
        return {i: clone(self.meetings[i]) for i in ids if i in self.meetings}

    def create_meeting(self, meeting: Meeting) -> tuple[Meeting, bool]:
        existing = self.meetings.get(meeting.id)
        if existing is not None:
            self.ops["read"] += 1
            return clone(existing), False
        self.meetings[meeting.id] = clone(meeting)
        self._wrote(f"meetings/{meeting.id}")
        return clone(meeting), True

    def update_meeting(
        self, meeting_id: str, change: Callable[[Meeting], Meeting | None]
    ) -> Meeting | None:
        while True:
            self.ops["read"] += 1
            seen = self.meetings.get(meeting_id)
            if seen is None:
                return None
            updated = change(clone(seen))
            if updated is None:
                return None
            if self.meetings.get(meeting_id) is not seen:
                continue
            self.meetings[meeting_id] = clone(updated)
            self._wrote(f"meetings/{meeting_id}")
            return clone(updated)

    def put_run(self, run: RunReport) -> None:
        """Kept as given (a report is not changed after it is stored)."""
        self.runs[run.id] = run
        self._wrote(f"runs/{run.id}")

    # -- queries by calendar, from an index ---------------------------------------------------

    def channels_for(self, calendar_key: str) -> list[Channel]:
        self.ops["query"] += 1
        ids = self._channels_by_calendar.get(calendar_key, ())
        return [clone(self.channels[i]) for i in ids if i in self.channels]

    def _calendar_meetings(self, calendar_key: str) -> list[Meeting]:
        ids = self._meetings_by_calendar.get(calendar_key, ())
        found = (self.meetings.get(i) for i in ids)
        return [m for m in found if m is not None and m.calendar_key == calendar_key]

    def meeting_heads(self, calendar_key: str, statuses: Iterable[str]) -> list[MeetingHead]:
        self.ops["query"] += 1
        wanted = set(statuses)
        return [
            MeetingHead(*(str(getattr(m, f) or "") for f in MeetingHead.FIELDS))
            for m in self._calendar_meetings(calendar_key)
            if m.status in wanted
        ]

    def pending_announcements(self, calendar_key: str) -> list[Meeting]:
        self.ops["query"] += 1
        return [clone(m) for m in self._calendar_meetings(calendar_key) if m.outbox]


_COLLECTIONS = (
    ("failure", "delivery_failures"),
    ("user", "users"),
    ("channel", "channels"),
    ("sweep", "calendars"),
    ("calendar", "calendars"),
    ("meeting", "meetings"),
    ("announcement", "meetings"),
    ("run", "runs"),
    ("state", "connect_states"),
)


def collection_of(method: str) -> str:
    """The collection a store method reads (by its name)."""
    for part, coll in _COLLECTIONS:
        if part in method:
            return coll
    return "other"


class Metered:
    """The store as the services see it: every public method metered (see the module doc)."""

    def __init__(self, store: ScaleStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if name.startswith("_") or not callable(target):
            return target
        wrapper = _meter(self._store, name, target)
        self.__dict__[name] = wrapper
        return wrapper


def _meter(store: ScaleStore, name: str, target: Callable[..., Any]) -> Callable[..., Any]:
    coll = collection_of(name)
    sim = store.sim
    ops = store.ops
    counts = store.counts

    def call(*args: Any, **kwargs: Any) -> Any:
        reads, queries = ops["read"], ops["query"]
        result = target(*args, **kwargs)
        reads, queries = ops["read"] - reads, ops["query"] - queries
        latency = reads * _READ
        docs = 0
        if queries:
            docs = len(result) if isinstance(result, list | dict) else 0
            latency += queries * _QUERY + docs * _QUERY_DOC
        sim.t += latency
        if store.metering:
            if reads:
                counts.reads[coll] += reads
            if queries:
                counts.queries[coll] += queries
                counts.queries_by_function[(sim.current.function, coll)] += queries
                if not docs:
                    counts.empty_query_reads_by_function[sim.current.function] += queries
                counts.reads[coll] += max(docs, queries)  # an empty query bills one read
        return result

    call.__name__ = name
    return call
