"""Firestore repositories for users, calendars, channels and meetings.

Each record is one document whose fields are the dataclass fields. Every
read-modify-write runs in a transaction; the decisions themselves are pure
functions from `shared.domain`, passed in, so they are tested without Firestore.

google-cloud-firestore (with gRPC and protobuf, a quarter of a second to import) is
imported when it is first used, not with this module: the services import `Store`
for its type, and a function that never reads Firestore never pays for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from shared.domain import lease
from shared.domain.models import CalendarState, Channel, Meeting, User

if TYPE_CHECKING:
    from google.cloud import firestore

_T = TypeVar("_T")

USERS = "users"
CALENDARS = "calendars"
CHANNELS = "channels"
MEETINGS = "meetings"


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

    def _in_transaction(self, fn: Callable[[firestore.Transaction], _T]) -> _T:
        from google.cloud.firestore import transactional

        transaction = self.client.transaction(max_attempts=20)
        return transactional(fn)(transaction)  # type: ignore[no-any-return]

    # -- users -----------------------------------------------------------------------------

    def get_user(self, email: str) -> User | None:
        data = self._get(USERS, email.lower())
        return User.from_dict(data) if data else None

    def put_user(self, user: User) -> None:
        user.email = user.email.lower()
        self._ref(USERS, user.email).set(user.to_dict())

    def set_user_status(self, email: str, status: str) -> None:
        self._ref(USERS, email.lower()).update({"status": status})

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

    def acquire_lease(
        self,
        key: str,
        *,
        owner: str,
        now: dt.datetime,
        lease_seconds: int,
        signal_time: dt.datetime | None = None,
    ) -> lease.LeaseDecision:
        ref = self._ref(CALENDARS, key)

        def run(tx: firestore.Transaction) -> lease.LeaseDecision:
            snap = ref.get(transaction=tx)
            state = CalendarState.from_dict(snap.to_dict() or {}) if snap.exists else None
            decision = lease.acquire(
                state, owner=owner, now=now, lease_seconds=lease_seconds, signal_time=signal_time
            )
            if decision.state is not None:
                tx.set(ref, decision.state.to_dict())
            return decision

        return self._in_transaction(run)

    def release_lease(self, key: str, *, owner: str, now: dt.datetime, lease_seconds: int) -> bool:
        """True when the calendar went dirty meanwhile and the holder must sync again."""
        ref = self._ref(CALENDARS, key)

        def run(tx: firestore.Transaction) -> bool:
            snap = ref.get(transaction=tx)
            state = CalendarState.from_dict(snap.to_dict() or {}) if snap.exists else None
            again, new_state = lease.release(
                state, owner=owner, now=now, lease_seconds=lease_seconds
            )
            if new_state is not None:
                tx.set(ref, new_state.to_dict())
            return again

        return self._in_transaction(run)

    def save_sync_token(self, key: str, *, owner: str, token: str, token_version: int) -> bool:
        """Store the token only if we still hold the lease (a dead holder must not overwrite)."""
        ref = self._ref(CALENDARS, key)

        def run(tx: firestore.Transaction) -> bool:
            snap = ref.get(transaction=tx)
            data = snap.to_dict() or {}
            if not snap.exists or data.get("lease_owner") != owner:
                return False
            tx.update(ref, {"sync_token": token, "token_version": token_version})
            return True

        return self._in_transaction(run)

    # -- channels --------------------------------------------------------------------------

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
        """Apply `change` in a transaction (it may run again on contention); returning None
        leaves the record as is."""
        ref = self._ref(MEETINGS, meeting_id)

        def run(tx: firestore.Transaction) -> Meeting | None:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                return None
            updated = change(Meeting.from_dict(snap.to_dict() or {}))
            if updated is not None:
                tx.set(ref, updated.to_dict())
            return updated

        return self._in_transaction(run)

    def meeting_event_ids(
        self, calendar_key: str, statuses: Iterable[str]
    ) -> list[tuple[str, str]]:
        """(meeting id, event id) of the calendar's meetings in `statuses`: a projection, so
        reconciling thousands of meetings does not decode thousands of records."""
        query = (
            self.client.collection(MEETINGS)
            .where(filter=_field_filter("calendar_key", "==", calendar_key))
            .where(filter=_field_filter("status", "in", list(statuses)))
            .select(["id", "event_id"])
        )
        pairs = []
        for snap in query.stream():
            data = snap.to_dict() or {}
            pairs.append((str(data.get("id", snap.id)), str(data.get("event_id", ""))))
        return pairs
