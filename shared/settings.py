"""Settings read from the environment into one typed, immutable object.

Every variable the deployed functions read is declared here, once, so that the
Terraform contract test can check that infra sets exactly these names. A missing
or malformed variable raises `SettingsError` naming it, at first use rather than
at import time.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

AuthMode = Literal["delegation", "refresh_token"]
_T = TypeVar("_T")


class SettingsError(ValueError):
    """A configuration variable is missing or malformed."""


def _env(name: str, *, secret: bool = False, required: bool = False) -> dict[str, Any]:
    return {"env": name, "secret": secret, "required": required}


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration of every function; field metadata names the variable."""

    project: str = field(metadata=_env("GOOGLE_CLOUD_PROJECT", required=True))
    """Cloud project that owns the topics and the Firestore database."""

    auth_mode: AuthMode = field(default="delegation", metadata=_env("AUTH_MODE"))
    """The default auth mode of registrations (`POST /users`): domain-wide `delegation`, or
    `refresh_token` (users connect with Google sign-in). Each user keeps their own mode."""

    delegation_service_account: str = field(default="", metadata=_env("DELEGATION_SERVICE_ACCOUNT"))
    """Service account whose domain-wide delegation impersonates users (delegation mode)."""

    oauth_client_id: str = field(default="", metadata=_env("OAUTH_CLIENT_ID"))
    oauth_client_secret: str = field(
        default="", repr=False, metadata=_env("OAUTH_CLIENT_SECRET", secret=True)
    )
    token_encryption_key: str = field(
        default="", repr=False, metadata=_env("TOKEN_ENCRYPTION_KEY", secret=True)
    )
    """Fernet key that encrypts stored refresh tokens (refresh_token mode)."""

    calendar_api_root: str = field(
        default="https://www.googleapis.com/", metadata=_env("CALENDAR_API_ROOT")
    )
    meet_api_root: str = field(
        default="https://meet.googleapis.com/", metadata=_env("MEET_API_ROOT")
    )
    workspace_events_api_root: str = field(
        default="https://workspaceevents.googleapis.com/",
        metadata=_env("WORKSPACE_EVENTS_API_ROOT"),
    )
    """Google Workspace Events (the Meet events subscriptions)."""
    directory_api_root: str = field(
        default="https://admin.googleapis.com/", metadata=_env("DIRECTORY_API_ROOT")
    )
    """Admin SDK Directory (naming Meet participants by email)."""
    oauth_token_uri: str = field(
        default="https://oauth2.googleapis.com/token", metadata=_env("OAUTH_TOKEN_URI")
    )
    iam_credentials_root: str = field(
        default="https://iamcredentials.googleapis.com/", metadata=_env("IAM_CREDENTIALS_ROOT")
    )
    oauth_auth_uri: str = field(
        default="https://accounts.google.com/o/oauth2/v2/auth", metadata=_env("OAUTH_AUTH_URI")
    )
    """Google's authorization endpoint: where `GET /connect` sends the browser."""
    oauth_redirect_uri: str = field(default="", metadata=_env("OAUTH_REDIRECT_URI"))
    """The connect function's `/oauth/callback` address, registered on the OAuth client."""
    oauth_revoke_uri: str = field(
        default="https://oauth2.googleapis.com/revoke", metadata=_env("OAUTH_REVOKE_URI")
    )
    oauth_certs_uri: str = field(
        default="https://www.googleapis.com/oauth2/v3/certs", metadata=_env("OAUTH_CERTS_URI")
    )
    """Google's ID-token signing keys (a JWK Set; the x509 form at /oauth2/v1/certs works too)."""
    state_signing_key: str = field(
        default="", repr=False, metadata=_env("STATE_SIGNING_KEY", secret=True)
    )
    """HMAC key of the sign-in `state` (and its PKCE verifier): any long random string."""
    connect_return_to_allowlist: str = field(
        default="", metadata=_env("CONNECT_RETURN_TO_ALLOWLIST")
    )
    """Space- or comma-separated URLs a connect may return to (same origin, at or below the
    path); any other `return_to` gets the success page instead."""
    connect_watches_primary: bool = field(default=True, metadata=_env("CONNECT_WATCHES_PRIMARY"))
    """Watch the user's primary calendar as soon as they connect."""
    connect_state_ttl_seconds: int = field(default=600, metadata=_env("CONNECT_STATE_TTL_SECONDS"))
    """How long a sign-in started at `GET /connect` may take."""

    firestore_database: str = field(default="(default)", metadata=_env("FIRESTORE_DATABASE"))
    changes_topic: str = field(default="calendar-changes", metadata=_env("CHANGES_TOPIC"))
    meeting_events_topic: str = field(
        default="meeting-events", metadata=_env("MEETING_EVENTS_TOPIC")
    )
    maintenance_topic: str = field(default="maintenance", metadata=_env("MAINTENANCE_TOPIC"))
    """Shard jobs of the maintenance runs (renew, sweep), read by the `maintenance` function."""
    workspace_events_topic: str = field(
        default="workspace-events", metadata=_env("WORKSPACE_EVENTS_TOPIC")
    )
    """Where Google publishes the Meet events of our subscriptions (`meet_events` reads it)."""

    webhook_url: str = field(default="", metadata=_env("WEBHOOK_URL"))
    """Public address Google pushes calendar notifications to."""
    channel_ttl_seconds: int = field(default=604_800, metadata=_env("CHANNEL_TTL_SECONDS"))
    renew_window_seconds: int = field(default=172_800, metadata=_env("RENEW_WINDOW_SECONDS"))
    """Channels expiring within this window get a replacement."""
    channel_overlap_seconds: int = field(default=300, metadata=_env("CHANNEL_OVERLAP_SECONDS"))
    """How long an old channel stays live next to its replacement."""

    channel_cache_seconds: float = field(default=30.0, metadata=_env("CHANNEL_CACHE_SECONDS"))
    """How long the webhook holds a live channel's record (0: read it for every notification);
    a stopped channel is still accepted this long, costing one redundant sync at most."""

    sweep_age_seconds: int = field(default=21_600, metadata=_env("SWEEP_AGE_SECONDS"))
    """A calendar is swept (synced without a notification) once its last successful sync is
    this old, less up to a quarter of jitter: the bound on how long a dropped notification
    goes unnoticed. The sweep costs O(stale calendars), not O(all)."""
    calendar_budget_per_min: int = field(default=8_000, metadata=_env("CALENDAR_BUDGET_PER_MIN"))
    """This function's share of the project's Calendar budget, calls/min (Terraform splits
    `calendar_budget_per_min` over the functions by `calendar_budget_shares`; Google's quota
    is 10,000/min per project and 600/min per user)."""
    calendar_budget_instances: int = field(default=1, metadata=_env("CALENDAR_BUDGET_INSTANCES"))
    """This function's maximum instances: each instance's token bucket refills at
    CALENDAR_BUDGET_PER_MIN / this, so the project never exceeds the budget."""

    full_sync_days: int = field(default=30, metadata=_env("FULL_SYNC_DAYS"))
    """A full sync lists events ending after now minus this many days."""
    audit_hours: float = field(default=24.0, metadata=_env("AUDIT_HOURS"))
    """The audit re-reads each followed meeting's event at most once per this many hours
    (plus up to a quarter, spread at random) and corrects a record that disagrees with it
    (`shared.services.audit`): its Calendar calls are one per followed meeting per period."""
    lease_seconds: int = field(default=120, metadata=_env("LEASE_SECONDS"))
    sync_settle_seconds: float = field(default=0.3, metadata=_env("SYNC_SETTLE_SECONDS"))
    """A fresh signal's sync waits this long first, so the rest of a burst is covered by it."""
    max_message_age_seconds: int = field(default=86_400, metadata=_env("MAX_MESSAGE_AGE_SECONDS"))
    api_retries: int = field(default=5, metadata=_env("API_RETRIES"))

    pending_requeue_seconds: int = field(default=600, metadata=_env("PENDING_REQUEUE_SECONDS"))
    """A meeting still pending this long after its create gets a new completion job from the
    sweep (its own job was lost: an instance died before queueing it, or it was
    dead-lettered)."""
    conference_wait_seconds: float = field(default=8.0, metadata=_env("CONFERENCE_WAIT_SECONDS"))
    """Budget create_meeting spends waiting for a conference to leave `pending`."""
    max_attendees: int = field(default=100, metadata=_env("MAX_ATTENDEES"))
    max_body_bytes: int = field(default=65_536, metadata=_env("MAX_BODY_BYTES"))

    log_level: str = field(default="INFO", metadata=_env("LOG_LEVEL"))

    @classmethod
    def env_names(cls) -> frozenset[str]:
        """Every environment variable this object reads."""
        return frozenset(f.metadata["env"] for f in dataclasses.fields(cls))

    @classmethod
    def secret_env_names(cls) -> frozenset[str]:
        """Variables that carry secrets (deployed from Secret Manager, never logged)."""
        return frozenset(f.metadata["env"] for f in dataclasses.fields(cls) if f.metadata["secret"])

    @property
    def return_to_allowlist(self) -> tuple[str, ...]:
        return tuple(self.connect_return_to_allowlist.replace(",", " ").split())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and validate every variable; raise `SettingsError` naming the bad one."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name: str = f.metadata["env"]
            raw = env.get(name)
            if raw is None or raw == "":
                if f.metadata["required"]:
                    raise SettingsError(f"{name} is required but not set")
                continue
            parse = _PARSERS.get(f.type if isinstance(f.type, str) else "", _text)
            values[f.name] = parse(name, raw)
        settings = cls(**values)
        settings._check()
        return settings

    def _check(self) -> None:
        if self.auth_mode not in ("delegation", "refresh_token"):
            raise SettingsError(
                f"AUTH_MODE must be 'delegation' or 'refresh_token', got {self.auth_mode!r}"
            )
        if self.auth_mode == "delegation" and not self.delegation_service_account:
            raise SettingsError("DELEGATION_SERVICE_ACCOUNT is required when AUTH_MODE=delegation")
        if self.auth_mode == "refresh_token":
            for name, value in (
                ("OAUTH_CLIENT_ID", self.oauth_client_id),
                ("OAUTH_CLIENT_SECRET", self.oauth_client_secret),
                ("TOKEN_ENCRYPTION_KEY", self.token_encryption_key),
                ("STATE_SIGNING_KEY", self.state_signing_key),
                ("OAUTH_REDIRECT_URI", self.oauth_redirect_uri),
            ):
                if not value:
                    raise SettingsError(f"{name} is required when AUTH_MODE=refresh_token")
        for name, url in (
            ("CALENDAR_API_ROOT", self.calendar_api_root),
            ("MEET_API_ROOT", self.meet_api_root),
            ("WORKSPACE_EVENTS_API_ROOT", self.workspace_events_api_root),
            ("DIRECTORY_API_ROOT", self.directory_api_root),
            ("OAUTH_TOKEN_URI", self.oauth_token_uri),
            ("IAM_CREDENTIALS_ROOT", self.iam_credentials_root),
            ("OAUTH_AUTH_URI", self.oauth_auth_uri),
            ("OAUTH_REVOKE_URI", self.oauth_revoke_uri),
            ("OAUTH_CERTS_URI", self.oauth_certs_uri),
            *(("CONNECT_RETURN_TO_ALLOWLIST", u) for u in self.return_to_allowlist),
        ):
            if not url.startswith(("https://", "http://")):
                raise SettingsError(f"{name} must be an http(s) URL, got {url!r}")
        if self.oauth_redirect_uri and not self.oauth_redirect_uri.startswith(
            ("https://", "http://")
        ):
            raise SettingsError(
                f"OAUTH_REDIRECT_URI must be an http(s) URL, got {self.oauth_redirect_uri!r}"
            )
        if self.webhook_url and not self.webhook_url.startswith(("https://", "http://")):
            raise SettingsError(f"WEBHOOK_URL must be an http(s) URL, got {self.webhook_url!r}")
        if self.channel_overlap_seconds >= self.renew_window_seconds:
            raise SettingsError("CHANNEL_OVERLAP_SECONDS must be less than RENEW_WINDOW_SECONDS")


def _number(kind: Callable[[str], _T], positive: bool = True) -> Callable[[str, str], _T]:
    def parse(name: str, raw: str) -> _T:
        try:
            value = kind(raw)
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {raw!r}") from None
        if positive and value <= 0:  # type: ignore[operator]
            raise SettingsError(f"{name} must be positive, got {raw!r}")
        return value

    return parse


def _text(_name: str, raw: str) -> str:
    return raw


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise SettingsError(f"{name} must be true or false, got {raw!r}")
    return value in ("true", "1", "yes")


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "int": _number(int),
    "float": _number(float),
    "bool": _flag,
}
