"""Firestore repositories for users, calendars, channels and meetings.

Each record is one document whose fields are the dataclass fields. Every
read-modify-write is optimistic and lock-free: read, decide, then write on the
condition that the document's update time is still the one read (or, for a new
document, that it still does not exist), and start over if it is not. The
decisions themselves are pure functions from `shared.domain`, passed in, so they
are tested without Firestore.

Why not transactions: a Firestore transaction locks what it reads until it
commits, and a worker killed mid-transaction (an instance shut down, a timeout)
leaves every later writer of that document waiting until the server expires the
lock; the emulator never does. A precondition holds no lock, so a killed writer
costs nothing.

google-cloud-firestore (with gRPC and protobuf, a quarter of a second to import) is
imported when it is first used, not with this module: the services import `Store`
for its type, and a function that never reads Firestore never pays for it.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

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

if TYPE_CHECKING:
    from google.cloud import firestore

_T = TypeVar("_T")

USERS = "users"
CALENDARS = "calendars"
CHANNELS = "channels"
MEETINGS = "meetings"
CONNECT_STATES = "connect_states"
RUNS = "runs"
FAILURES = "delivery_failures"


_WRITE_ATTEMPTS = 25
"""Optimistic attempts before giving up on a document others keep changing."""

_HEAD = MeetingHead.FIELDS

_MAX_ID_BYTES = 1500
"""Firestore's limit on a document id (the emulator does not enforce it)."""


def _doc_id(value: str) -> str:
    """Firestore ids may not contain '/'; our keys never do, but check rather than corrupt."""
    if (
        not value
        or "/" in value
        or value in (".", "..")
        or value.startswith("__")
        or len(value.encode()) > _MAX_ID_BYTES
    ):
        raise ValueError(f"invalid document id {value!r}")
    return value


def _field_filter(path: str, op: str, value: Any) -> firestore.FieldFilter:
    from google.cloud.firestore import FieldFilter

    return FieldFilter(path, op, value)


def _counted(query: Any) -> int:
    """How many documents `query` matches: one count aggregation, no document read
    (`count` is typed as a class by the library, hence Any)."""
    aggregation: Any = query.count(alias="n")
    return sum(int(r.value) for row in aggregation.get() for r in row)


class ContentionError(RuntimeError):
    """A conditional write lost to other writers every time; the caller's retry decides."""


@dataclass
class BackfillCount:
    """What `Store.backfill` did to one collection."""

    scanned: int = 0
    filled: int = 0
    unreadable: list[str] = field(default_factory=list)


class Store:
    """All repositories over one Firestore client (created once per instance)."""

    def __init__(self, client: firestore.Client) -> None:
        self.client = client

    # -- generic ---------------------------------------------------------------------------

    def _ref(self, collection: str, doc_id: str) -> firestore.DocumentReference:
        return self.client.collection(collection).document(_doc_id(doc_id))

    def _get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        snap = self._ref(collection, doc_id).get()
        return snap.to_dict() if snap.exists else None

    def _read_modify_write(
        self,
        ref: firestore.DocumentReference,
        decide: Callable[[dict[str, Any] | None], tuple[_T, dict[str, Any] | None]],
    ) -> _T:
        """Read the document, let `decide` return (result, fields to write or None), and
        write only if nobody wrote in between; `decide` runs again after a lost race.

        The fields replace whole top-level fields (nested maps are not merged)."""
        from google.api_core.exceptions import AlreadyExists, FailedPrecondition, NotFound

        for attempt in range(_WRITE_ATTEMPTS):
            snap = ref.get()
            result, data = decide(snap.to_dict() if snap.exists else None)
            if data is None:
                return result
            try:
                if snap.exists:
                    when = self.client.write_option(last_update_time=snap.update_time)
                    ref.update(data, option=when)
                else:
                    ref.create(data)
                return result
            except (AlreadyExists, FailedPrecondition, NotFound):
                # jittered so that racing writers do not collide again in step
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise ContentionError(f"{ref.path} kept changing during {_WRITE_ATTEMPTS} attempts")

    # -- users -----------------------------------------------------------------------------

    def get_user(self, email: str) -> User | None:
        data = self._get(USERS, email.lower())
        return User.from_dict(data) if data else None

    def put_user(self, user: User) -> None:
        user.email = user.email.lower()
        self._ref(USERS, user.email).set(user.to_dict())

    def set_user_status(self, email: str, status: str) -> None:
        self._ref(USERS, email.lower()).update({"status": status})

    def modify_user(
        self, email: str, decide: Callable[[User | None], tuple[_T, User | None]]
    ) -> _T:
        """Conditional read-modify-write of one user (status changes and their outbox)."""

        def on_data(data: dict[str, Any] | None) -> tuple[_T, dict[str, Any] | None]:
            result, user = decide(User.from_dict(data) if data is not None else None)
            return result, user.to_dict() if user is not None else None

        return self._read_modify_write(self._ref(USERS, email.lower()), on_data)

    # -- sign-in states --------------------------------------------------------------------

    def claim_state(self, nonce: str, expires: dt.datetime) -> bool:
        """One document per used state, created only if absent: the create is the check.
        Firestore's TTL deletes it after `purge_at` (then the state itself has expired)."""
        from google.api_core.exceptions import AlreadyExists

        try:
            self._ref(CONNECT_STATES, nonce).create({"purge_at": expires + dt.timedelta(hours=1)})
        except AlreadyExists:
            return False
        return True

    # -- calendars -------------------------------------------------------------------------

    def get_calendar(self, key: str) -> CalendarState | None:
        data = self._get(CALENDARS, key)
        return CalendarState.from_dict(data) if data else None

    def put_calendar(self, state: CalendarState) -> None:
        self._ref(CALENDARS, state.key).set(state.to_dict())

    def update_calendar(self, key: str, fields: dict[str, Any]) -> None:
        self._ref(CALENDARS, key).update(fields)

    def watched_calendars(self) -> list[CalendarState]:
        query = self.client.collection(CALENDARS).where(
            filter=_field_filter("status", "==", "watching")
        )
        return [CalendarState.from_dict(s.to_dict() or {}) for s in query.stream()]

    def calendars_of(self, owner: str) -> list[CalendarState]:
        query = self.client.collection(CALENDARS).where(
            filter=_field_filter("owner", "==", owner.lower())
        )
        return [CalendarState.from_dict(s.to_dict() or {}) for s in query.stream()]

    def modify_calendar(
        self, key: str, decide: Callable[[CalendarState | None], tuple[_T, CalendarState | None]]
    ) -> _T:
        """Conditional read-modify-write of one calendar; the decision (the lease, the sync
        token) is the caller's, this only makes the write conditional."""

        def on_data(data: dict[str, Any] | None) -> tuple[_T, dict[str, Any] | None]:
            result, state = decide(CalendarState.from_dict(data) if data is not None else None)
            return result, state.to_dict() if state is not None else None

        return self._read_modify_write(self._ref(CALENDARS, key), on_data)

    def calendars_to_sweep(
        self, shard: int, due: dt.datetime, *, after: dt.datetime | None, limit: int
    ) -> list[CalendarState]:
        """Served by the composite index (shard, status, next_sweep_at)."""
        query = self._due_query(
            CALENDARS, shard, ("status", "watching"), "next_sweep_at", due, after, limit
        )
        return [CalendarState.from_dict(s.to_dict() or {}) for s in query.stream()]

    def _due_query(
        self,
        collection: str,
        shard: int,
        equal: tuple[str, str],
        field: str,
        due: dt.datetime,
        after: dt.datetime | None,
        limit: int,
    ) -> Any:
        """`shard == N AND equal AND after < field <= due ORDER BY field LIMIT limit`."""
        query = (
            self.client.collection(collection)
            .where(filter=_field_filter("shard", "==", shard))
            .where(filter=_field_filter(equal[0], "==", equal[1]))
            .where(filter=_field_filter(field, "<=", due))
        )
        if after is not None:
            query = query.where(filter=_field_filter(field, ">", after))
        return query.order_by(field).limit(limit)

    # -- channels --------------------------------------------------------------------------

    def modify_channel(
        self, channel_id: str, decide: Callable[[Channel | None], tuple[_T, Channel | None]]
    ) -> _T:
        def on_data(data: dict[str, Any] | None) -> tuple[_T, dict[str, Any] | None]:
            result, channel = decide(Channel.from_dict(data) if data is not None else None)
            return result, channel.to_dict() if channel is not None else None

        return self._read_modify_write(self._ref(CHANNELS, channel_id), on_data)

    def channels_expiring(
        self, shard: int, before: dt.datetime, *, after: dt.datetime | None, limit: int
    ) -> list[Channel]:
        """Served by the composite index (shard, state, expiration)."""
        query = self._due_query(
            CHANNELS, shard, ("state", "active"), "expiration", before, after, limit
        )
        return [Channel.from_dict(s.to_dict() or {}) for s in query.stream()]

    def channels_to_stop(
        self, shard: int, due: dt.datetime, *, after: dt.datetime | None, limit: int
    ) -> list[Channel]:
        """Served by the composite index (shard, state, stop_after)."""
        query = self._due_query(
            CHANNELS, shard, ("state", "stopping"), "stop_after", due, after, limit
        )
        return [Channel.from_dict(s.to_dict() or {}) for s in query.stream()]

    def get_channel(self, channel_id: str) -> Channel | None:
        try:
            data = self._get(CHANNELS, channel_id)
        except ValueError:
            return None
        return Channel.from_dict(data) if data else None

    def put_channel(self, channel: Channel) -> None:
        self._ref(CHANNELS, channel.id).set(channel.to_dict())

    def update_channel(self, channel_id: str, fields: dict[str, Any]) -> None:
        self._ref(CHANNELS, channel_id).update(fields)

    def channels_for(self, calendar_key: str) -> list[Channel]:
        query = self.client.collection(CHANNELS).where(
            filter=_field_filter("calendar_key", "==", calendar_key)
        )
        return [Channel.from_dict(s.to_dict() or {}) for s in query.stream()]

    def channels_in_state(self, states: Iterable[str]) -> list[Channel]:
        query = self.client.collection(CHANNELS).where(
            filter=_field_filter("state", "in", list(states))
        )
        return [Channel.from_dict(s.to_dict() or {}) for s in query.stream()]

    # -- meetings --------------------------------------------------------------------------

    def get_meeting(self, meeting_id: str) -> Meeting | None:
        try:
            data = self._get(MEETINGS, meeting_id)
        except ValueError:
            return None
        return Meeting.from_dict(data) if data else None

    def get_meetings(self, meeting_ids: Iterable[str]) -> dict[str, Meeting]:
        """Batch read (one round trip) of the meetings that exist among `meeting_ids`."""
        refs = []
        for meeting_id in set(meeting_ids):
            try:
                refs.append(self._ref(MEETINGS, meeting_id))
            except ValueError:
                continue
        found: dict[str, Meeting] = {}
        for snap in self.client.get_all(refs):
            if snap.exists:
                meeting = Meeting.from_dict(snap.to_dict() or {})
                found[meeting.id] = meeting
        return found

    def create_meeting(self, meeting: Meeting) -> tuple[Meeting, bool]:
        """Insert unless the id exists: (stored record, created?). Races resolve to one.

        A single `create` (fails with AlreadyExists if the document exists) is atomic
        on its own; a read-then-create transaction made ten racing requests abort
        each other until they ran out of attempts (seen on the emulator).
        """
        from google.api_core.exceptions import AlreadyExists

        ref = self._ref(MEETINGS, meeting.id)
        try:
            ref.create(meeting.to_dict())
            return meeting, True
        except AlreadyExists:
            snap = ref.get()
            return Meeting.from_dict(snap.to_dict() or {}), False

    def put_meeting(self, meeting: Meeting) -> None:
        self._ref(MEETINGS, meeting.id).set(meeting.to_dict())

    def update_meeting(
        self, meeting_id: str, change: Callable[[Meeting], Meeting | None]
    ) -> Meeting | None:
        """Apply `change` to the record (it runs again if another writer got in first);
        returning None leaves the record as is. A missing record stays missing."""
        ref = self._ref(MEETINGS, meeting_id)

        def decide(data: dict[str, Any] | None) -> tuple[Meeting | None, dict[str, Any] | None]:
            if data is None:
                return None, None
            updated = change(Meeting.from_dict(data))
            return updated, updated.to_dict() if updated is not None else None

        return self._read_modify_write(ref, decide)

    def meeting_heads(self, calendar_key: str, statuses: Iterable[str]) -> list[MeetingHead]:
        """The calendar's meetings in `statuses`, projected to `MeetingHead`: a full sync
        of thousands of meetings does not decode thousands of records. One equality
        filter, the status checked here: it answers in about half the time of equality
        plus `in` (measured on the emulator), and the terminal records it also returns are
        few (cancelled meetings are purged, `Meeting.purge_at`)."""
        wanted = set(statuses)
        query = (
            self.client.collection(MEETINGS)
            .where(filter=_field_filter("calendar_key", "==", calendar_key))
            .select(list(MeetingHead.FIELDS))
        )
        heads = []
        for fields in self._projected(query):
            head = MeetingHead(*(fields[f].string_value if f in fields else "" for f in _HEAD))
            if head.status in wanted:
                heads.append(head)
        return heads

    def _projected(self, query: firestore.Query) -> Iterator[Any]:
        """The raw protobuf fields of each document a projection query returns.

        Why not `query.stream()`: it wraps every document in a snapshot and decodes it
        through proto-plus, about 0.2 ms a document, three times what the read itself
        costs (500 heads: 43 ms this way, 117-164 ms through snapshots, measured on the
        emulator). This is the library's own RunQuery call, made through its GAPIC client
        (private attributes of google-cloud-firestore, pinned; the integration tests read
        heads through it), with the default retry of the call's start. Unlike `stream()`
        it does not resume a stream broken midway: the sync fails and its signal is
        redelivered. Only string fields are read, so no value decoding is needed."""
        from google.cloud.firestore_v1.types import RunQueryResponse

        client = self.client
        request = {
            "parent": f"{client._database_string}/documents",
            "structured_query": query._to_protobuf(),
        }
        for response in client._firestore_api.run_query(
            request=request, metadata=client._rpc_metadata
        ):
            raw = RunQueryResponse.pb(response)
            if raw.HasField("document"):
                yield raw.document.fields

    def pending_announcements(self, calendar_key: str) -> list[Meeting]:
        """The calendar's meetings whose outbox holds announcements not yet sent (two
        equality filters: served by single-field indexes, no composite index needed)."""
        query = (
            self.client.collection(MEETINGS)
            .where(filter=_field_filter("calendar_key", "==", calendar_key))
            .where(filter=_field_filter(PENDING_FIELD, "==", True))
        )
        return [Meeting.from_dict(s.to_dict() or {}) for s in query.stream()]

    def meetings_by_space(self, space: str) -> list[Meeting]:
        """The meetings holding Meet space `space` (usually one): one equality filter, served
        by the automatic single-field index on `space`."""
        query = self.client.collection(MEETINGS).where(filter=_field_filter("space", "==", space))
        return [Meeting.from_dict(s.to_dict() or {}) for s in query.stream()]

    def meetings_by_organizer(self, organizer: str, status: str | None = None) -> list[Meeting]:
        """One user's meetings (in `status`), by equality filters only (no composite index)."""
        query = self.client.collection(MEETINGS).where(
            filter=_field_filter("organizer", "==", organizer.lower())
        )
        if status:
            query = query.where(filter=_field_filter("status", "==", status))
        return [Meeting.from_dict(s.to_dict() or {}) for s in query.stream()]

    def pending_since(self, before: dt.datetime, limit: int) -> list[Meeting]:
        """Served by the composite index (status, created_at)."""
        query = (
            self.client.collection(MEETINGS)
            .where(filter=_field_filter("status", "==", "pending"))
            .where(filter=_field_filter("created_at", "<=", before))
            .order_by("created_at")
            .limit(limit)
        )
        return [Meeting.from_dict(s.to_dict() or {}) for s in query.stream()]

    def meetings_to_reconcile(self, shard: int, due: dt.datetime, limit: int) -> list[Meeting]:
        """Served by the composite index (shard, outcome_check_at)."""
        query = (
            self.client.collection(MEETINGS)
            .where(filter=_field_filter("shard", "==", shard))
            .where(filter=_field_filter("outcome_check_at", "<=", due))
            .order_by("outcome_check_at")
            .limit(limit)
        )
        return [Meeting.from_dict(s.to_dict() or {}) for s in query.stream()]

    def meetings_to_audit(
        self, shard: int, due: dt.datetime, *, after: dt.datetime | None, limit: int
    ) -> list[Meeting]:
        """Served by the composite index (shard, next_audit_at)."""
        query = (
            self.client.collection(MEETINGS)
            .where(filter=_field_filter("shard", "==", shard))
            .where(filter=_field_filter("next_audit_at", "<=", due))
        )
        if after is not None:
            query = query.where(filter=_field_filter("next_audit_at", ">", after))
        query = query.order_by("next_audit_at").limit(limit)
        return [Meeting.from_dict(s.to_dict() or {}) for s in query.stream()]

    # -- run reports and delivery failures ---------------------------------------------------

    def put_run(self, run: RunReport) -> None:
        self._ref(RUNS, run.id).set(run.to_dict())

    def last_run(self, kind: str) -> RunReport | None:
        """Served by the composite index (kind, started_at descending)."""
        from google.cloud.firestore import Query

        query = (
            self.client.collection(RUNS)
            .where(filter=_field_filter("kind", "==", kind))
            .order_by("started_at", direction=Query.DESCENDING)
            .limit(1)
        )
        for snap in query.stream():
            return RunReport.from_dict(snap.to_dict() or {})
        return None

    def reports_of_run(self, run: str) -> list[RunReport]:
        query = self.client.collection(RUNS).where(filter=_field_filter("run", "==", run))
        return [RunReport.from_dict(s.to_dict() or {}) for s in query.stream()]

    def record_failure(self, failure: DeliveryFailure) -> DeliveryFailure:
        def decide(data: dict[str, Any] | None) -> tuple[DeliveryFailure, dict[str, Any]]:
            stored = DeliveryFailure.from_dict({**failure.to_dict()})
            if data is not None:
                seen = DeliveryFailure.from_dict(data)
                stored.attempts = seen.attempts + 1
                stored.first_failed_at = seen.first_failed_at
            return stored, stored.to_dict()

        return self._read_modify_write(self._ref(FAILURES, failure.data_sha256), decide)

    def failures_for(self, digests: Iterable[str]) -> dict[str, DeliveryFailure]:
        refs = [self._ref(FAILURES, d) for d in set(digests)]
        found = {}
        for snap in self.client.get_all(refs) if refs else []:
            if snap.exists:
                failure = DeliveryFailure.from_dict(snap.to_dict() or {})
                found[failure.data_sha256] = failure
        return found

    # -- operators' reads (meetsync status, lists) --------------------------------------------

    def all_users(self) -> list[User]:
        return [User.from_dict(s.to_dict() or {}) for s in self.client.collection(USERS).stream()]

    def all_calendars(self) -> list[CalendarState]:
        return [
            CalendarState.from_dict(s.to_dict() or {})
            for s in self.client.collection(CALENDARS).stream()
        ]

    def backfill(
        self,
        collection: str,
        fill: Callable[[str, dict[str, Any]], dict[str, Any]],
        *,
        dry_run: bool = False,
        page_size: int = 300,
        on_page: Callable[[int, int], None] = lambda scanned, filled: None,
    ) -> BackfillCount:
        """Page through `collection` in document-id order and add `fill(id, data)` to each
        document it returns fields for (`shared.domain.backfill`). Each page's writes are
        one batch, each conditional on the update time read, so a record the product
        rewrote meanwhile is not overwritten: the page is read again and refilled. A
        document `fill` cannot read (it raises ValueError or TypeError) is counted and left."""
        from google.api_core.exceptions import FailedPrecondition
        from google.cloud.firestore_v1.field_path import FieldPath

        count = BackfillCount()
        base = self.client.collection(collection).order_by(FieldPath.document_id())
        after: Any = None
        while True:
            query = base.start_after(after) if after is not None else base
            for attempt in range(_WRITE_ATTEMPTS):
                snaps = list(query.limit(page_size).stream())
                batch, filled, unreadable = self.client.batch(), 0, []
                for snap in snaps:
                    try:
                        fields = fill(snap.id, snap.to_dict() or {})
                    except (TypeError, ValueError):
                        unreadable.append(snap.id)
                        continue
                    if fields:
                        filled += 1
                        when = self.client.write_option(last_update_time=snap.update_time)
                        batch.update(snap.reference, fields, option=when)
                try:
                    if filled and not dry_run:
                        batch.commit()
                    break
                except FailedPrecondition:
                    time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
            else:
                raise ContentionError(f"{collection} kept changing during {_WRITE_ATTEMPTS} tries")
            count.scanned += len(snaps)
            count.filled += filled
            count.unreadable += unreadable
            on_page(count.scanned, count.filled)
            if len(snaps) < page_size:
                return count
            after = snaps[-1]

    def count(self, collection: str) -> int:
        """How many documents `collection` holds (one count aggregation)."""
        return _counted(self.client.collection(collection))

    def count_by(self, collection: str, field: str, values: Iterable[str]) -> dict[str, int]:
        """How many documents of `collection` have each of `values` in `field`: one count
        aggregation per value, no document read (meetings may be many)."""
        counts = {}
        for value in values:
            query = self.client.collection(collection).where(
                filter=_field_filter(field, "==", value)
            )
            counts[value] = _counted(query)
        return counts
