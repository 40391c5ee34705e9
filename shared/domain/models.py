"""Domain records: what the product knows about users, calendars, channels and meetings.

Plain dataclasses with no Google imports; the Firestore adapter maps them to
documents field by field, so the stored shape is exactly what is declared here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any, Self

from shared.domain import live
from shared.domain.shards import shard_of

NEVER = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
"""A time before anything: the next sweep of a calendar never synced."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    AUTH_REVOKED = "auth_revoked"
    """Google answered invalid_grant (or delegation was withdrawn): the user must reconnect."""
    DISCONNECTED = "disconnected"
    """An operator disconnected the user: channels stopped, stored token revoked and deleted."""


class AuthMode(enum.StrEnum):
    """How the product acts as one user (each user has their own)."""

    DELEGATION = "delegation"
    """Domain-wide delegation: a service account impersonates the Workspace user."""
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a mode name, not a secret
    """The user connected with Google sign-in; their refresh token is stored encrypted."""


class CalendarStatus(enum.StrEnum):
    WATCHING = "watching"
    STOPPED = "stopped"
    GONE = "gone"
    """The calendar no longer exists (404)."""
    AUTH_REVOKED = "auth_revoked"


class ChannelState(enum.StrEnum):
    ACTIVE = "active"
    STOPPING = "stopping"
    STOPPED = "stopped"


class MeetingStatus(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DETACHED = "detached"
    """The user removed or replaced our conference; we leave the event alone."""


class FailureReason(enum.StrEnum):
    """Why a meeting is `failed` (`Meeting.failure_reason`, `failureReason` in the API)."""

    CONFERENCE_FAILED = "conference_failed"
    """Calendar could not create the conference; the event stays and is still followed."""
    CALENDAR_REFUSED = "calendar_refused"
    """Calendar refused the event for good: no such calendar, not writable, or invalid."""
    MEET_REFUSED = "meet_refused"
    """Meet refused to create the space for good."""
    AUTH_REVOKED = "auth_revoked"
    """The organizer's Google authorization was revoked (or they are no longer active)."""
    TIMEOUT = "timeout"
    """Google kept failing past the completion bound (`shared.services.meetings`)."""


GAVE_UP = frozenset(r.value for r in FailureReason if r is not FailureReason.CONFERENCE_FAILED)
"""Reasons for which the create gave up and removed what it had made: nothing in Calendar
is followed for such a meeting any more."""


class _Record:
    """Dict round trip for records whose fields are plain values, enums and datetimes."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = value.value if isinstance(value, enum.Enum) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(slots=True)
class User(_Record):
    email: str
    auth_mode: str = AuthMode.DELEGATION
    refresh_token_enc: str = ""
    """Fernet-encrypted refresh token (refresh_token mode only)."""
    status: str = UserStatus.ACTIVE
    created_at: dt.datetime = field(default_factory=utcnow)
    scopes: list[str] = field(default_factory=list)
    """Scopes the user granted at sign-in (refresh_token mode)."""
    version: int = 0
    """Incremented on every status change; part of each user event's stable id."""
    updated_at: dt.datetime | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)
    """User events (CloudEvents) stored with the change they announce and not yet confirmed
    published, as `Meeting.outbox`: a status change is never announced unless stored."""

    def public(self) -> dict[str, Any]:
        """The record as the HTTP API and user events show it: never the token."""
        return {
            "email": self.email,
            "authMode": self.auth_mode,
            "status": self.status,
            "scopes": list(self.scopes),
            "version": self.version,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat() if self.updated_at else None,
        }


def calendar_key(owner: str, calendar_id: str) -> str:
    """Stable key of one calendar; also the Pub/Sub ordering key. `primary` is the owner's
    own calendar, whose id is the owner's email, so both spellings give one key."""
    cid = owner if calendar_id == "primary" else calendar_id
    return f"{owner.lower()}:{cid.lower()}"


@dataclass(slots=True)
class CalendarState(_Record):
    key: str
    owner: str
    calendar_id: str
    status: str = CalendarStatus.WATCHING
    sync_token: str = ""
    token_version: int = 0
    """Bumped on every full sync, so a token from an older query is never reused."""
    resource_id: str = ""
    last_sync_started: dt.datetime | None = None
    last_sync_finished: dt.datetime | None = None
    lease_owner: str = ""
    lease_expires: dt.datetime | None = None
    dirty: bool = False
    """A signal arrived while a sync ran: the lease holder syncs again before releasing."""
    syncs: int = 0
    status_reason: str = ""
    next_sweep_at: dt.datetime | None = None
    """When the sweep syncs this calendar unless a sync succeeds first (the one time field
    of a calendar that is indexed: the sweep queries on it)."""
    shard: int = -1
    """`shards.shard_of(key)`, set on creation; maintenance jobs query one shard each."""

    def __post_init__(self) -> None:
        if self.shard < 0:
            self.shard = shard_of(self.key)
        if self.next_sweep_at is None:  # never synced: due for the sweep at once
            self.next_sweep_at = NEVER


@dataclass(slots=True)
class Channel(_Record):
    id: str
    calendar_key: str
    resource_id: str
    token_hash: str
    expiration: dt.datetime
    state: str = ChannelState.ACTIVE
    last_message_number: int = 0
    created_at: dt.datetime = field(default_factory=utcnow)
    replaced_by: str = ""
    stop_after: dt.datetime | None = None
    """When a replaced channel is stopped (end of the overlap)."""
    purge_at: dt.datetime | None = None
    """Firestore TTL: stopped channels are deleted after this."""
    renewal_claim: str = ""
    """The run renewing this channel: set with a precondition before a replacement is
    opened, so overlapping runs and redelivered jobs never open two."""
    renewal_claimed_until: dt.datetime | None = None
    """A claim whose holder died lapses at this time and may be taken again."""
    shard: int = -1
    """The calendar's shard (`shards.shard_of`); renewal jobs query one shard each."""

    def __post_init__(self) -> None:
        if self.shard < 0:
            self.shard = shard_of(self.calendar_key)


PENDING_FIELD = "announce_pending"
"""Stored beside `Meeting.outbox`: true while it holds anything."""
ANNOUNCED_KEPT = 50
"""How many sent announcements `Meeting.announced` remembers (the newest)."""


@dataclass(slots=True)
class Meeting(_Record):
    id: str
    organizer: str
    mode: str
    status: str = MeetingStatus.PENDING
    calendar_key: str = ""
    calendar_id: str = ""
    event_id: str = ""
    request_id: str = ""
    idempotency_key_hash: str = ""
    body_hash: str = ""
    space: str = ""
    """Meet space name `spaces/{id}`: the stable key, never the meeting code."""
    meeting_uri: str = ""
    meeting_code: str = ""
    html_link: str = ""
    summary: str = ""
    start: dict[str, Any] = field(default_factory=dict)
    end: dict[str, Any] = field(default_factory=dict)
    recurrence: list[str] = field(default_factory=list)
    """The event's RRULE/RDATE/EXDATE lines (empty: a single meeting). `start` and `end`
    are then the first occurrence's; the series is followed until its last one is over."""
    attendees: list[str] = field(default_factory=list)
    event_etag: str = ""
    event_updated: str = ""
    version: int = 0
    """Incremented on every change; part of each outbound event's stable id."""
    claim_until: dt.datetime | None = None
    """While in the future, the request that created the record is still working on it:
    concurrent retries with the same Idempotency-Key watch the record instead of acting."""
    created_at: dt.datetime = field(default_factory=utcnow)
    updated_at: dt.datetime = field(default_factory=utcnow)
    purge_at: dt.datetime | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)
    """Announcements (CloudEvents) committed with the record but not yet confirmed
    published, oldest first: a change is stored with its announcement in one write and
    published after it, so an announcement is never lost nor sent for a change that was
    not stored. Whoever next sees the record (or the calendar's next sync) sends them."""
    announced: list[dict[str, Any]] = field(default_factory=list)
    """The announcements confirmed sent, oldest first, as `{"id", "type", "time"}`: the
    newest `ANNOUNCED_KEPT`, for operators (`meetsync meetings show`)."""
    subscription: str = ""
    """The Workspace Events subscription (`subscriptions/{id}`) delivering the space's Meet
    events, once made (`shared.services.live`)."""
    subscription_state: str = ""
    """`active`, `suspended`, `expired` (to be made again) or `deleted` (no longer needed)."""
    subscription_expires: dt.datetime | None = None
    outcome_check_at: dt.datetime | None = None
    """When the sweep next reads the space's conference records (after the scheduled end,
    so an outcome whose events were dropped is still learnt); None: nothing to check."""
    conference_settings: dict[str, Any] = field(default_factory=dict)
    """The Meet space's settings as the last `PATCH /meetings/{id}` left them (empty: never
    changed after creation)."""
    conferences: list[dict[str, Any]] = field(default_factory=list)
    """One summary per conference record of the space, oldest first, as read from Meet
    (`shared.domain.live.summarize`): state, times, participants, artifacts."""
    failure_reason: str = ""
    """Why the meeting is `failed` (a `FailureReason`); empty otherwise."""
    create_request: str = ""
    """The create request (`MeetingRequest.canonical()`), kept so the server can finish
    the create after its answer (a completion job) exactly as it was asked."""
    completion_attempts: int = 0
    """Completion jobs that took the record to work on it (the bound on pending)."""
    next_audit_at: dt.datetime | None = None
    """When the audit next re-reads the meeting's event (`shared.services.audit`); None while
    there is nothing to audit (no event yet, cancelled, given up, or ended long ago)."""
    shard: int = -1
    """`shards.shard_of(id)`: audit jobs query one shard each."""

    def __post_init__(self) -> None:
        if self.shard < 0:
            self.shard = shard_of(self.id)

    def to_dict(self) -> dict[str, Any]:
        out = super(Meeting, self).to_dict()
        out[PENDING_FIELD] = bool(self.outbox)  # queryable: equality on a plain field
        return out

    @property
    def pending(self) -> bool:
        return self.status == MeetingStatus.PENDING

    @property
    def gave_up(self) -> bool:
        """Failed by the create giving up: its event was removed, nothing is followed."""
        return self.status == MeetingStatus.FAILED and self.failure_reason in GAVE_UP

    def public(self) -> dict[str, Any]:
        """The record as the HTTP API and outbound events show it (no internal hashes)."""
        return {
            "id": self.id,
            "status": self.status,
            "mode": self.mode,
            "organizer": self.organizer,
            "calendarId": self.calendar_id or None,
            "eventId": self.event_id or None,
            "space": self.space or None,
            "meetingUri": self.meeting_uri or None,
            "meetingCode": self.meeting_code or None,
            "htmlLink": self.html_link or None,
            "summary": self.summary,
            "start": self.start or None,
            "end": self.end or None,
            "attendees": list(self.attendees),
            **live.public_fields(self.conferences, [self.organizer, *self.attendees]),
            "conferenceSettings": dict(self.conference_settings) or None,
            "failureReason": self.failure_reason or None,
            "version": self.version,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class MeetingHead:
    """The few fields of a meeting a full sync reads for every meeting of a calendar: enough
    to tell an event we already hold from a changed one without decoding whole records."""

    id: str
    event_id: str
    event_etag: str
    status: str
    space: str

    FIELDS = ("id", "event_id", "event_etag", "status", "space")


@dataclass(frozen=True, slots=True)
class ChangeSignal:
    """What the webhook enqueues: "this calendar changed", nothing more."""

    calendar_key: str
    channel_id: str
    message_number: int
    state: str
    received_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "calendar_key": self.calendar_key,
            "channel_id": self.channel_id,
            "message_number": self.message_number,
            "state": self.state,
            "received_at": self.received_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChangeSignal:
        """Parse a signal; raises ValueError naming the bad field (poison message)."""
        try:
            received = dt.datetime.fromisoformat(str(data["received_at"]))
            if received.tzinfo is None:
                raise ValueError("received_at has no offset")
            return cls(
                calendar_key=_required_str(data, "calendar_key"),
                channel_id=str(data.get("channel_id", "")),
                message_number=int(data.get("message_number", 0)),
                state=str(data.get("state", "exists")),
                received_at=received,
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed change signal: {exc!r}") from None


def _required_str(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"malformed change signal: {key} must be a non-empty string")
    return value


class RunOutcome(enum.StrEnum):
    OK = "ok"
    ATTENTION = "attention"
    """It ran, and found something an operator should look at (gone calendars, revoked
    users, channels that expired before they were renewed)."""
    FAILED = "failed"
    """It did not finish, or some of its work failed (it is retried on the next run)."""


RUN_DETAIL_KEPT = 100
"""How many ids a run report keeps per list (counts are always whole)."""


@dataclass(slots=True)
class RunReport(_Record):
    """One run of a scheduled job (renew, sweep), stored when it ends: what operators read
    (`meetsync status`) to know when it last ran and how it went."""

    id: str
    kind: str
    started_at: dt.datetime
    finished_at: dt.datetime
    outcome: str
    counts: dict[str, int] = field(default_factory=dict)
    details: dict[str, list[str]] = field(default_factory=dict)
    """The ids behind each count, at most `RUN_DETAIL_KEPT` each."""
    error: str = ""
    purge_at: dt.datetime | None = None
    """Firestore TTL: old reports are deleted after this."""
    run: str = ""
    """The fanned-out run this report belongs to (its dispatch and every shard job share it)."""
    shard: int = -1
    """The shard this job covered; -1 for the dispatch."""
    done: bool = True
    """False when the job ran out of time and published its continuation."""

    @classmethod
    def of(
        cls,
        kind: str,
        started: dt.datetime,
        finished: dt.datetime,
        lists: dict[str, list[str]],
        *,
        outcome: str,
        error: str = "",
        keep: dt.timedelta = dt.timedelta(days=30),
        run: str = "",
        shard: int = -1,
        part: int = 0,
        done: bool = True,
    ) -> RunReport:
        """A report; one of a fanned-out run is keyed by run, shard and continuation part, so a
        redelivered job overwrites its own report instead of adding one."""
        ident = (
            f"{kind}-{run}-s{shard:02d}-p{part}"
            if run
            else f"{kind}-{started.strftime('%Y%m%dT%H%M%S.%fZ')}"
        )
        return cls(
            id=ident,
            run=run,
            shard=shard,
            done=done,
            kind=kind,
            started_at=started,
            finished_at=finished,
            outcome=outcome,
            counts={name: len(ids) for name, ids in lists.items()},
            details={name: list(ids[:RUN_DETAIL_KEPT]) for name, ids in lists.items()},
            error=error,
            purge_at=finished + keep,
        )


@dataclass(slots=True)
class DeliveryFailure(_Record):
    """Why the worker failed on a change signal. Pub/Sub dead-letters a message with no
    reason, so the worker stores one before it raises. Keyed by the SHA-256 of the message
    data: the dead-lettered copy is a new message on another topic, with the same data."""

    data_sha256: str
    message_id: str
    """The (last) delivered message's id on the source subscription."""
    reason: str
    calendar_key: str = ""
    attempts: int = 1
    """Failed deliveries the worker saw (Pub/Sub's own count may be higher: a worker that
    died or timed out recorded nothing)."""
    first_failed_at: dt.datetime = field(default_factory=utcnow)
    last_failed_at: dt.datetime = field(default_factory=utcnow)
    purge_at: dt.datetime | None = None
    """Firestore TTL: kept longer than the dead-letter subscription keeps messages."""

    @staticmethod
    def digest(data: bytes) -> str:
        """The key of a message's failure record: SHA-256 of its data bytes."""
        return hashlib.sha256(data).hexdigest()
