"""Everything the emulator holds, behind one lock.

Calendars keep an append-only change history (sequence numbers), so incremental sync
is a walk over the changes since a token rather than a scan of every event, and
each event caches its JSON text so large list pages are mostly string joins.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from emulator import partial
from emulator.clock import Clock
from emulator.delivery import EventDelivery
from emulator.jwks import KeyRing
from emulator.partial import Mask
from emulator.push import PushDispatcher
from emulator.scheduler import Scheduler

JSON = dict[str, Any]

DEFAULT_CONFIG: JSON = {
    "conference_delay_ms": 300,
    "conference_outcome": "success",
    "channel_max_ttl_seconds": 2_592_000,
    "sync_token_max_age_seconds": None,
    "access_token_ttl_seconds": 3600,
    "authorization_code_ttl_seconds": 600,
    "id_token_issuer": "https://accounts.google.com",
    "pubsub_emulator_host": None,
    "artifact_delay_ms": 2000,
    "subscription_max_ttl_seconds": 604_800,
    "events_writes_per_minute": 600,
    "events_writes_per_minute_per_user": 100,
    "events_reads_per_minute": 600,
    "events_reads_per_minute_per_user": 100,
}
"""``pubsub_emulator_host`` defaults to the process's ``PUBSUB_EMULATOR_HOST`` (see
``Emulator._clear``); a rate of ``None`` turns that quota off."""

DEFAULT_CLIENT_ID = "emulator-client.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "emulator-client-secret"


@dataclass
class StoredEvent:
    """One stored event resource plus the indexes list and sync need."""

    data: JSON
    ordinal: int
    change_seq: int = 0
    start_ts: float = 0.0
    end_ts: float = 0.0
    updated_ts: float = 0.0
    _json: str | None = None
    _masked: dict[str, str] = field(default_factory=dict)

    @property
    def cancelled(self) -> bool:
        return bool(self.data.get("status") == "cancelled")

    @property
    def recurring(self) -> bool:
        return bool(self.data.get("recurrence"))

    def json(self) -> str:
        """Serialised once per write, reused by every read."""
        if self._json is None:
            self._json = json.dumps(self.data)
        return self._json

    def masked_json(self, fields: str, mask: Mask) -> str:
        """Cut to a partial response's selection (`fields`), serialised once per write."""
        text = self._masked.get(fields)
        if text is None:
            text = self._masked[fields] = json.dumps(partial.apply(self.data, mask))
        return text

    def touch(self) -> None:
        self._json = None
        self._masked.clear()


@dataclass
class CalendarData:
    """A user's primary calendar: events, creation order, and change history."""

    id: str
    owner: str
    uid: str = field(default_factory=lambda: secrets.token_hex(8))
    resource_id: str = field(default_factory=lambda: secrets.token_urlsafe(20))
    events: dict[str, StoredEvent] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    history_seqs: list[int] = field(default_factory=list)
    history_ids: list[str] = field(default_factory=list)
    by_ical: dict[str, str] = field(default_factory=dict)
    exceptions: dict[str, set[str]] = field(default_factory=dict)
    epoch: int = 0
    last_seq: int = 0
    updated_ts: float = 0.0


@dataclass
class User:
    email: str
    calendar: CalendarData
    client_ids: set[str] = field(default_factory=set)
    revoked: bool = False
    """The user's grant to our app is revoked: refresh tokens and delegation both refused."""
    admin: bool = False
    """A Workspace super administrator (the Directory API's ``admin_view`` needs one)."""
    created: float = 0.0


@dataclass
class AccessToken:
    email: str
    expires: float
    scope: str
    grant_id: str | None = None
    """The grant (refresh token or sign-in) it was minted from; None for delegation and
    control-API tokens. Revoking the grant kills the token."""


@dataclass(frozen=True)
class Caller:
    """Who makes an authenticated Google-API call: the user, the token's scopes, its grant."""

    email: str
    scopes: frozenset[str]
    grant_id: str | None = None


@dataclass
class OAuthClient:
    """A registered OAuth client (the sign-in flow checks it; refresh of control-API
    tokens and delegation accept any client, as they always have)."""

    client_id: str
    client_secret: str | None
    """None: a public client, no secret checked at /token."""
    redirect_uris: list[str] = field(default_factory=list)
    allow_loopback: bool = False
    """Also accept any ``http://127.0.0.1|localhost|[::1]:PORT/...`` (Google's rule for
    desktop-app clients)."""
    name: str = "meetsync (emulated)"


@dataclass
class AuthRequest:
    """A consent page being shown: the validated authorization request."""

    id: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str | None
    access_type: str
    prompt: list[str]
    include_granted_scopes: bool
    login_hint: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    created: float


@dataclass
class AuthCode:
    """An authorization code: single use, short-lived, bound to client, redirect and PKCE."""

    code: str
    client_id: str
    redirect_uri: str
    email: str
    scopes: list[str]
    offline: bool
    force_consent: bool
    code_challenge: str | None
    code_challenge_method: str | None
    nonce: str | None
    expires: float
    used: bool = False


@dataclass
class Grant:
    """A user's authorization: a sign-in (one code exchange) or a control-API refresh token."""

    id: str
    email: str
    source: str
    """``authorization_code`` or ``control`` (``POST /_emulator/users``)."""
    client_id: str | None
    """Bound client (sign-in); None: any client may refresh (control-API tokens)."""
    scopes: list[str] | None
    """Granted scopes; None: a control-API token, which gets whatever a refresh asks."""
    created: float
    refresh_token: str | None = None
    revoked: bool = False
    revoked_at: float | None = None
    revoked_by: str | None = None


@dataclass
class ParticipantSession:
    """One join of a participant from one device (``participantSessions``)."""

    id: str
    start_ts: float
    end_ts: float | None = None


@dataclass
class Participant:
    """Someone in a conference: a signed-in user (``email``), a guest or a phone caller."""

    id: str
    kind: str
    """``signedin``, ``anonymous`` or ``phone``."""
    display_name: str
    email: str | None = None
    sessions: list[ParticipantSession] = field(default_factory=list)

    @property
    def in_call(self) -> bool:
        return any(s.end_ts is None for s in self.sessions)


@dataclass
class TranscriptEntry:
    id: str
    participant_id: str
    text: str
    language_code: str
    start_ts: float
    end_ts: float


@dataclass
class Artifact:
    """A recording, transcript or smart note of a conference."""

    id: str
    kind: str
    """``recording``, ``transcript`` or ``smart_note``."""
    start_ts: float
    end_ts: float | None = None
    state: str = "STARTED"
    """STARTED, ENDED or FILE_GENERATED, as Meet reports it."""
    file_id: str | None = None
    entries: list[TranscriptEntry] = field(default_factory=list)


@dataclass
class ConferenceRecord:
    id: str
    start_ts: float
    end_ts: float | None = None
    ended_by: str | None = None
    space_id: str = ""
    participants: dict[str, Participant] = field(default_factory=dict)
    artifacts: list[Artifact] = field(default_factory=list)


@dataclass
class Space:
    id: str
    meeting_code: str
    owner: str
    config: JSON
    created_ts: float
    conferences: list[ConferenceRecord] = field(default_factory=list)
    created_by_app: bool = False
    """Made through the Meet API (``spaces.create``), not by Calendar: what the
    ``meetings.space.created`` scope covers for conference records and subscriptions."""

    @property
    def active(self) -> ConferenceRecord | None:
        if self.conferences and self.conferences[-1].end_ts is None:
            return self.conferences[-1]
        return None


@dataclass
class Channel:
    id: str
    resource_id: str
    resource_uri: str
    token: str | None
    address: str
    expiration_ms: int
    user: str
    calendar_uid: str
    number: int = 1
    stopped: bool = False


@dataclass
class Subscription:
    """A Workspace Events subscription (``subscriptions/{id}``)."""

    id: str
    uid: str
    target: str
    event_types: list[str]
    topic: str
    authority: str
    """The email of the user who authorized it."""
    created: float
    updated: float
    expire_ts: float
    payload_options: JSON | None = None
    state: str = "ACTIVE"
    suspension_reason: str | None = None
    grant_id: str | None = None
    """The sign-in grant of the token that authorized it (revoking that grant suspends it);
    None for delegation and control-API tokens."""
    all_owned_spaces: bool = False
    """Authorized with ``meetings.space.readonly``: a user target covers every space the
    user owns, not only spaces made through the Meet API."""
    generation: int = 0
    """Bumped by every expiry change: lifecycle tasks of an older generation do nothing."""
    etag_seq: int = 0


@dataclass
class Fault:
    status: int
    reason: str | None
    message: str | None
    count: int | None
    method: str | None
    path: str | None
    api: str | None
    query: str | None = None
    """Only requests carrying this query parameter match (e.g. `pageToken`)."""
    delay_ms: int = 0
    """Answer this much later; with status 0 the answer itself is the normal one (latency)."""


@dataclass
class IssuedSecrets:
    """Every credential the emulator handed out since the process started (kept across
    resets), so a test can scan logs for any of them; see ``GET /_emulator/secrets``."""

    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    channel_tokens: set[str] = field(default_factory=set)
    """Tokens callers registered on watch channels: echoed in every notification."""
    signed_jwts: set[str] = field(default_factory=set)
    """signJwt results: a delegation assertion is exchangeable for an access token."""
    authorization_codes: set[str] = field(default_factory=set)
    """Sign-in codes; listed under ``refresh_tokens`` (a grant exchanged at /token)."""
    id_tokens: set[str] = field(default_factory=set)
    """ID tokens (RS256 JWTs); listed under ``signed_jwts``."""

    def view(self) -> JSON:
        """Four kinds (the set existing scans and tests expect); every credential is in
        one of them: codes with refresh tokens, ID tokens with signed JWTs."""
        return {
            "access_tokens": sorted(self.access_tokens),
            "refresh_tokens": sorted(self.refresh_tokens | self.authorization_codes),
            "channel_tokens": sorted(self.channel_tokens),
            "signed_jwts": sorted(self.signed_jwts | self.id_tokens),
        }


@dataclass
class RateLimit:
    per_minute: int
    status: int
    hits: deque[float] = field(default_factory=deque)


class Emulator:
    """The whole emulated world; handlers mutate it while holding ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.clock = Clock()
        self.scheduler = Scheduler(self.clock)
        self.push = PushDispatcher(self.clock, self.channel_live)
        self.delivery = EventDelivery(self.clock, self._pubsub_host, self._endpoint_failed)
        self.signing_key = secrets.token_bytes(32)
        self.signing_key_id = secrets.token_hex(20)
        self.issued = IssuedSecrets()
        """Not cleared by `reset`: a leak scan must cover the whole process lifetime."""
        self.id_token_keys = KeyRing()
        """Not rotated by `reset`: relying parties cache the published keys."""
        self._clear()

    def _clear(self) -> None:
        self.config: JSON = dict(DEFAULT_CONFIG)
        self.config["pubsub_emulator_host"] = os.environ.get("PUBSUB_EMULATOR_HOST") or None
        self.users: dict[str, User] = {}
        self.calendars_by_uid: dict[str, CalendarData] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.spaces: dict[str, Space] = {}
        self.space_by_code: dict[str, str] = {}
        self.channels: dict[str, Channel] = {}
        self.faults: list[Fault] = []
        self.rate_limits: dict[str, RateLimit] = {}
        self.requests: list[JSON] = []
        self.seq = 0
        self.oauth_clients: dict[str, OAuthClient] = {
            DEFAULT_CLIENT_ID: OAuthClient(
                DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, [], allow_loopback=True
            )
        }
        self.auth_requests: dict[str, AuthRequest] = {}
        self.auth_codes: dict[str, AuthCode] = {}
        self.grants: dict[str, Grant] = {}
        self.grant_by_refresh: dict[str, str] = {}
        self.next_consent_scopes: list[str] | None = None
        """Set by ``POST /_emulator/oauth/consent``: the next Allow grants only these
        (plus sign-in scopes), as a user unticking boxes on the consent screen."""
        self.subscriptions: dict[str, Subscription] = {}
        self.operations: dict[str, JSON] = {}
        self.quota_hits: dict[str, deque[float]] = {}
        """Sliding windows (emulator time) of Workspace Events reads and writes."""

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        self.push.shutdown()
        self.delivery.shutdown()

    def reset(self) -> None:
        """Back to an empty world: users, data, channels, faults, config, clock, log."""
        with self.lock:
            self._clear()
            self.scheduler.clear()
            self.push.reset()
            self.delivery.reset()
            self.clock.reset()

    def _pubsub_host(self) -> str | None:
        host = self.config.get("pubsub_emulator_host")
        return str(host) if host else None

    def _endpoint_failed(self, subscription: str, reason: str) -> None:
        """Pub/Sub refused a publish for good (topic gone, no permission): suspend."""
        from emulator import subscriptions  # imported here: subscriptions imports state

        subscriptions.endpoint_failed(self, subscription, reason)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def channel_live(self, channel_id: str) -> bool:
        """Whether a channel may still deliver (exists, not stopped, not expired)."""
        with self.lock:
            ch = self.channels.get(channel_id)
            return bool(ch and not ch.stopped and ch.expiration_ms > self.clock.now() * 1000)

    def notify_channels(self, cal: CalendarData, state: str = "exists") -> None:
        """Queue a notification to every live channel watching ``cal``."""
        now_ms = self.clock.now() * 1000
        for ch in self.channels.values():
            if ch.calendar_uid != cal.uid or ch.stopped or ch.expiration_ms <= now_ms:
                continue
            ch.number += self.push.number_step()
            self.push.send(
                channel_id=ch.id,
                number=ch.number,
                state=state,
                address=ch.address,
                resource_id=ch.resource_id,
                resource_uri=ch.resource_uri,
                token=ch.token,
                expiration_ms=ch.expiration_ms,
            )
