"""Ports: what services need from Calendar, Meet, storage and messaging.

Services are written against these protocols and import no adapter;
`shared.google` and `shared.store` implement them for Google, and
`shared.memory` implements every one in memory (unit tests, the scale
simulation). Events and spaces travel as the plain JSON dicts the APIs define.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from shared.domain.models import (
    CalendarState,
    Channel,
    DeliveryFailure,
    Meeting,
    MeetingHead,
    RunReport,
    User,
)

T = TypeVar("T")

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventPage:
    items: list[Json]
    next_page_token: str | None
    next_sync_token: str | None
    access_role: str = ""
    """The caller's role on the calendar (`owner`, `writer`, `reader`, ...; empty when the
    adapter does not say): a list is how `calendar.events` learns whether it may write."""


class CalendarPort(Protocol):
    def list_events(
        self,
        user: str,
        calendar_id: str,
        *,
        sync_token: str | None = None,
        page_token: str | None = None,
        time_min: str | None = None,
        max_results: int = 2500,
    ) -> EventPage: ...

    def get_event(self, user: str, calendar_id: str, event_id: str) -> Json: ...

    def insert_event(
        self, user: str, calendar_id: str, body: Json, *, send_updates: str = "none"
    ) -> Json: ...

    def patch_event(
        self, user: str, calendar_id: str, event_id: str, body: Json, *, etag: str
    ) -> Json: ...

    def delete_event(
        self, user: str, calendar_id: str, event_id: str, *, send_updates: str = "none"
    ) -> None:
        """Delete; raises `NotFoundError` (no such event) or `GoneError` (already deleted)."""
        ...

    def import_event(self, user: str, calendar_id: str, body: Json) -> Json: ...

    def list_by_ical_uid(self, user: str, calendar_id: str, ical_uid: str) -> list[Json]: ...

    def watch(
        self,
        user: str,
        calendar_id: str,
        *,
        channel_id: str,
        token: str,
        address: str,
        ttl_seconds: int,
    ) -> Json: ...

    def stop_channel(self, user: str, channel_id: str, resource_id: str) -> None: ...


class MeetPort(Protocol):
    def create_space(self, user: str, config: Json) -> Json: ...

    def get_space(self, user: str, name: str) -> Json: ...

    def end_active_conference(self, user: str, name: str) -> None: ...

    def patch_space(self, user: str, name: str, config: Json, update_mask: Iterable[str]) -> Json:
        """`spaces.patch` with an `updateMask` of exactly `update_mask`: the space after."""
        ...

    # conference records (what happened in a space), read as the space's owner

    def get_conference_record(self, user: str, name: str) -> Json: ...

    def list_conference_records(self, user: str, space: str) -> list[Json]:
        """Every conference record of the space `spaces/{id}`, newest first."""
        ...

    def list_participants(self, user: str, record: str) -> list[Json]: ...

    def list_participant_sessions(self, user: str, participant: str) -> list[Json]: ...

    def list_recordings(self, user: str, record: str) -> list[Json]: ...

    def list_transcripts(self, user: str, record: str) -> list[Json]: ...


class DirectoryPort(Protocol):
    """Admin SDK Directory: who a Meet participant `users/{id}` is."""

    def user_email(self, acting_user: str, user_id: str) -> str | None:
        """The primary email of Directory user `user_id` (the id of Meet's `users/{id}`),
        looked up as `acting_user` (`viewType=domain_public`); None when unknown."""
        ...


class WorkspaceEventsPort(Protocol):
    """Google Workspace Events subscriptions (Meet events to a Pub/Sub topic)."""

    def create_subscription(
        self, user: str, *, target: str, event_types: Iterable[str], topic: str
    ) -> Json:
        """Create a subscription with the maximum ttl, or return the existing one for the
        same target (ALREADY_EXISTS: one subscription per target and app)."""
        ...

    def get_subscription(self, user: str, name: str) -> Json: ...

    def renew_subscription(self, user: str, name: str) -> Json:
        """Extend the subscription to the maximum ttl (patch `ttl`)."""
        ...

    def reactivate_subscription(self, user: str, name: str) -> Json: ...

    def delete_subscription(self, user: str, name: str) -> None:
        """Delete; an already missing subscription counts as deleted."""
        ...


class SpaceIndex(Protocol):
    """Meetings found by their Meet space (Workspace Events name the space, not us)."""

    def meetings_by_space(self, space: str) -> list[Meeting]: ...

    def meetings_by_organizer(self, organizer: str, status: str | None = None) -> list[Meeting]:
        """Every meeting of one organizer (in `status`): their subscriptions' upkeep on
        (re)connect and disconnect, and the operator's listing; rare, equality only."""
        ...

    def meetings_to_reconcile(self, shard: int, due: dt.datetime, limit: int) -> list[Meeting]:
        """`shard`'s meetings whose `outcome_check_at` is at or before `due`, soonest first."""
        ...


class EventSink(Protocol):
    """Where meeting change events go (the `meeting-events` topic)."""

    def emit(self, event: Json, *, ordering_key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a `Publisher.publish_many`."""

    data: Json
    ordering_key: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


class Publisher(Protocol):
    """A topic publisher that returns only once the message is accepted (its id), and
    raises `PublishError` when it is not."""

    def publish(
        self,
        topic: str,
        data: Json,
        *,
        ordering_key: str = "",
        attributes: dict[str, str] | None = None,
    ) -> str: ...

    def publish_many(self, topic: str, messages: Sequence[Message]) -> list[str]:
        """Publish all at once (their futures together, not one confirmed publish at a
        time); the message ids in order. Raises `PublishError` if any was not accepted
        (those before it may have been: a caller's retry must be harmless)."""
        ...


class UserStore(Protocol):
    def get_user(self, email: str) -> User | None: ...

    def put_user(self, user: User) -> None: ...

    def set_user_status(self, email: str, status: str) -> None: ...


@runtime_checkable
class UserRecords(UserStore, Protocol):
    """Users whose status changes carry their announcements (`shared.services.users`)."""

    def modify_user(self, email: str, decide: Callable[[User | None], tuple[T, User | None]]) -> T:
        """Conditional read-modify-write of one user, as `CalendarStore.modify_calendar`."""
        ...


class StateStore(Protocol):
    def claim_state(self, nonce: str, expires: dt.datetime) -> bool:
        """Record a sign-in state as used: True the first time, False ever after (single
        use). The record may be purged after `expires`, when the state is refused anyway."""
        ...


@dataclass(frozen=True, slots=True)
class SignIn:
    """What Google answered for an authorization code, its ID token verified."""

    email: str
    email_verified: bool
    scopes: frozenset[str]
    refresh_token: str = field(repr=False)
    """Empty when Google gave none (no offline access, or no fresh consent)."""


class OAuthPort(Protocol):
    """Google's OAuth endpoints the product calls for onboarding."""

    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str) -> SignIn:
        """Exchange an authorization code and verify the ID token (signature, issuer,
        audience, expiry): raises `AuthRevokedError` (invalid_grant: a used or expired
        code) or `IdentityError` (the ID token is not good)."""
        ...

    def revoke(self, token: str) -> bool:
        """Revoke a refresh or access token: False if Google says it was already dead."""
        ...

    def prove_delegation(self, email: str) -> None:
        """Mint a delegated token for `email` with the product's scopes, or raise the
        `ApiError` Google answered (`unauthorized_client`, `invalid_grant`)."""
        ...


class TokenVault(Protocol):
    """How refresh tokens are stored: sealed (encrypted) and opened only to be used."""

    def seal(self, secret: str) -> str: ...

    def open(self, sealed: str) -> str: ...


class CalendarStore(Protocol):
    def get_calendar(self, key: str) -> CalendarState | None: ...

    def put_calendar(self, state: CalendarState) -> None: ...

    def update_calendar(self, key: str, fields: dict[str, Any]) -> None: ...

    def watched_calendars(self) -> list[CalendarState]: ...

    def calendars_of(self, owner: str) -> list[CalendarState]:
        """Every calendar of one user, whatever its status."""
        ...

    def modify_calendar(
        self, key: str, decide: Callable[[CalendarState | None], tuple[T, CalendarState | None]]
    ) -> T:
        """Conditional read-modify-write: `decide` gets the current state and returns (result,
        state to store or None to leave it); it runs again if another writer got in first."""
        ...

    def calendars_to_sweep(
        self, shard: int, due: dt.datetime, *, after: dt.datetime | None, limit: int
    ) -> list[CalendarState]:
        """Watched calendars of `shard` whose `next_sweep_at` is at or before `due` (and after
        `after`, the cursor), oldest first, at most `limit`."""
        ...


class ChannelStore(Protocol):
    def get_channel(self, channel_id: str) -> Channel | None: ...

    def put_channel(self, channel: Channel) -> None: ...

    def update_channel(self, channel_id: str, fields: dict[str, Any]) -> None: ...

    def channels_for(self, calendar_key: str) -> list[Channel]: ...

    def channels_in_state(self, states: Iterable[str]) -> list[Channel]: ...

    def modify_channel(
        self, channel_id: str, decide: Callable[[Channel | None], tuple[T, Channel | None]]
    ) -> T:
        """Conditional read-modify-write of one channel, as `modify_calendar`."""
        ...

    def channels_expiring(
        self, shard: int, before: dt.datetime, *, after: dt.datetime | None, limit: int
    ) -> list[Channel]:
        """Active channels of `shard` expiring at or before `before` (and after the cursor
        `after`), soonest first, at most `limit`."""
        ...

    def channels_to_stop(
        self, shard: int, due: dt.datetime, *, after: dt.datetime | None, limit: int
    ) -> list[Channel]:
        """Replaced channels of `shard` whose overlap ended at or before `due` (after the
        cursor `after`), earliest first, at most `limit`."""
        ...


class MeetingStore(Protocol):
    def get_meeting(self, meeting_id: str) -> Meeting | None: ...

    def get_meetings(self, meeting_ids: Iterable[str]) -> dict[str, Meeting]: ...

    def create_meeting(self, meeting: Meeting) -> tuple[Meeting, bool]:
        """Insert unless the id exists: (stored record, created?)."""
        ...

    def update_meeting(
        self, meeting_id: str, change: Callable[[Meeting], Meeting | None]
    ) -> Meeting | None:
        """Conditional update: `change` returns the new record or None (leave it); it runs
        again after a lost race; a missing record stays missing (None)."""
        ...

    def meeting_heads(self, calendar_key: str, statuses: Iterable[str]) -> list[MeetingHead]: ...

    def pending_announcements(self, calendar_key: str) -> list[Meeting]: ...

    def pending_since(self, before: dt.datetime, limit: int) -> list[Meeting]:
        """Meetings still `pending` that were created at or before `before`, oldest first."""
        ...


class AuditIndex(Protocol):
    """Meetings found by shard and audit time (`shared.services.audit`)."""

    def meetings_to_audit(
        self, shard: int, due: dt.datetime, *, after: dt.datetime | None, limit: int
    ) -> list[Meeting]:
        """Meetings of `shard` whose `next_audit_at` is at or before `due` (and after the
        cursor `after`), soonest first, at most `limit`."""
        ...


class RunStore(Protocol):
    """Reports of the scheduled runs (renew, sweep), one per run."""

    def put_run(self, run: RunReport) -> None: ...

    def last_run(self, kind: str) -> RunReport | None:
        """The latest run of `kind` (by start time), if any is kept."""
        ...

    def reports_of_run(self, run: str) -> list[RunReport]:
        """Every stored report of one fanned-out run (its dispatch and each shard job)."""
        ...


class FailureStore(Protocol):
    """Why change signals failed, for the dead-letter view (`DeliveryFailure`)."""

    def record_failure(self, failure: DeliveryFailure) -> DeliveryFailure:
        """Store a failed delivery; another failure of the same data counts one more attempt
        (and keeps the first time). The stored record."""
        ...

    def failures_for(self, digests: Iterable[str]) -> dict[str, DeliveryFailure]:
        """The recorded failures among `digests` (SHA-256 of message data), by digest."""
        ...


class Store(
    UserRecords,
    CalendarStore,
    ChannelStore,
    MeetingStore,
    AuditIndex,
    StateStore,
    RunStore,
    FailureStore,
    Protocol,
):
    """Every repository: what the Firestore adapter and the in-memory one both provide."""


Clock = Callable[[], dt.datetime]
