"""Users of the product: who may act, how they are registered, revoked, connected, disconnected.

Every use case that acts for a user checks here that the user is registered and
active, so an unknown user and a revoked grant are refused the same way
everywhere (`FORBIDDEN` and `CONFLICT`, naming the request field).

Each user has their own auth mode. An operator registers a Workspace user for
domain-wide delegation (`register`: proven by minting a token first, nothing stored
if Google refuses); a user connects themselves with Google sign-in
(`shared.services.onboarding`, which ends in `connected`). Every status change
(`user.connected`, `user.auth_revoked`, `user.disconnected`) is stored with its
CloudEvent in one conditional write and published after it, as meetings do
(`shared.services.outbox`): stored changes are announced at least once, with one id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

from shared import logs
from shared.domain import validate
from shared.domain.errors import ApiError, AuthRevokedError
from shared.domain.models import AuthMode, ChannelState, User, UserStatus, utcnow
from shared.domain.ports import (
    CalendarStore,
    ChannelStore,
    Clock,
    EventSink,
    OAuthPort,
    TokenVault,
    UserRecords,
    UserStore,
)
from shared.domain.refusals import Kind, Refusal
from shared.domain.signin import user_event

_log = logs.get(__name__)

CONNECTED = "user.connected"
AUTH_REVOKED = "user.auth_revoked"
DISCONNECTED = "user.disconnected"


def active_user(store: UserStore, email: str, field: str) -> User:
    """The registered, active user `email`, or a refusal naming `field`."""
    user = store.get_user(email)
    if user is None:
        raise Refusal(Kind.FORBIDDEN, f"{email} is not a user of this product", field)
    if user.status == UserStatus.AUTH_REVOKED:
        raise Refusal(
            Kind.CONFLICT,
            f"authorization of {email} was revoked: the user must re-authorize",
            field,
        )
    if user.status != UserStatus.ACTIVE:
        raise Refusal(Kind.FORBIDDEN, f"{email} is not an active user of this product", field)
    return user


def change_user(
    store: UserRecords,
    email: str,
    change: Callable[[User | None], User | None],
    kind: str,
    *,
    source: str,
    now: Clock = utcnow,
) -> User | None:
    """Apply `change` (None: nothing to do) with the version bumped and a `kind` event queued
    on the record, in one conditional write; the stored record, or None if unchanged."""

    def decide(current: User | None) -> tuple[User | None, User | None]:
        updated = change(dataclasses.replace(current) if current else None)
        if updated is None:
            return None, None
        when = now()
        updated.email = updated.email.lower()
        updated.version = (current.version if current else 0) + 1
        updated.updated_at = when
        pending = list(current.outbox) if current else []
        updated.outbox = [*pending, user_event(updated, kind, when, source)]
        return updated, updated

    return store.modify_user(email, decide)


def announce(store: UserRecords, sink: EventSink, user: User) -> None:
    """Publish the user's pending events, oldest first, then drop them from the record.
    A publish failure propagates (the user's next change sends them again)."""
    if not user.outbox:
        return
    for event in user.outbox:
        sink.emit(event, ordering_key=f"users/{user.email}")
    sent = {str(e["id"]) for e in user.outbox}

    def drop(current: User | None) -> tuple[None, User | None]:
        if current is None or not any(str(e["id"]) in sent for e in current.outbox):
            return None, None
        return None, dataclasses.replace(
            current, outbox=[e for e in current.outbox if str(e["id"]) not in sent]
        )

    store.modify_user(user.email, drop)


def mark_revoked(
    store: UserStore, email: str, *, sink: EventSink | None = None, source: str = ""
) -> None:
    """Google answered invalid_grant: the user must re-authorize. With a store that keeps
    user announcements (every real one), `user.auth_revoked` is queued with the change and
    sent now when a sink is given, else with the user's next change; a bare `UserStore`
    (a test fake) only gets the status. Best effort: the caller's answer matters more."""
    _log.warning("user authorization revoked", extra={"user": email})

    def revoke(user: User | None) -> User | None:
        if user is None or user.status != UserStatus.ACTIVE:
            return None
        user.status = UserStatus.AUTH_REVOKED
        return user

    try:
        if not isinstance(store, UserRecords):
            store.set_user_status(email, UserStatus.AUTH_REVOKED)
            return
        user = change_user(store, email, revoke, AUTH_REVOKED, source=source)
        if user is not None and sink is not None:
            announce(store, sink, user)
    except Exception:
        _log.exception("could not mark user auth_revoked")


class Watching(Protocol):
    """What the user use cases ask of the channel service."""

    def watch(self, user: str, calendar_id: str) -> dict[str, Any]: ...

    def resume(self, owner: str) -> list[str]: ...

    def stop_all(self, owner: str) -> list[str]: ...


class SpaceUpkeep(Protocol):
    """What the user use cases ask of the meetings' Workspace Events subscriptions
    (`shared.services.live.Subscriptions`)."""

    def resume(self, owner: str) -> list[str]: ...

    def release_all(self, owner: str) -> list[str]: ...


class UsersStore(UserRecords, CalendarStore, ChannelStore, Protocol):
    """The repositories the user use cases read."""


class UserService:
    def __init__(
        self,
        *,
        store: UsersStore,
        oauth: OAuthPort,
        channels: Watching,
        sink: EventSink,
        vault: TokenVault | None,
        source: str,
        default_mode: str,
        now: Clock = utcnow,
        spaces: SpaceUpkeep | None = None,
    ) -> None:
        self._store = store
        self._spaces = spaces
        self._oauth = oauth
        self._channels = channels
        self._sink = sink
        self._vault = vault
        self._source = source
        self._default_mode = default_mode
        self._now = now

    def _change(self, email: str, change: Callable[[User | None], User | None], kind: str) -> User:
        """Store a status change, announce it; the user as stored (unchanged if no change)."""
        changed = change_user(self._store, email, change, kind, source=self._source, now=self._now)
        user = changed or self._store.get_user(email)
        if user is None:
            raise Refusal(Kind.NOT_FOUND, f"{email} is not a user of this product", "email")
        announce(self._store, self._sink, user)
        return user

    # -- operators -------------------------------------------------------------------------

    def register(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """`POST /users {"email", "authMode": "delegation"}`: (the user, created?). Proves that
        delegation works for the user before storing anything; a registered user whose
        grant lapsed is active again, their calendars watched again."""
        email = validate.email(body.get("email"), "email")
        mode = body.get("authMode", self._default_mode)
        if mode == AuthMode.REFRESH_TOKEN:
            raise Refusal(
                Kind.INVALID,
                "refresh_token users connect themselves with Google sign-in at GET /connect",
                "authMode",
            )
        if mode != AuthMode.DELEGATION:
            raise Refusal(Kind.INVALID, "authMode must be 'delegation'", "authMode")
        existing = self._store.get_user(email)
        if (
            existing is not None
            and existing.auth_mode == AuthMode.REFRESH_TOKEN
            and existing.status == UserStatus.ACTIVE
        ):
            raise Refusal(
                Kind.CONFLICT,
                f"{email} is connected with Google sign-in; disconnect them first",
                "email",
            )
        try:
            self._oauth.prove_delegation(email)
        except AuthRevokedError as exc:
            raise Refusal(
                Kind.FORBIDDEN,
                f"Google refused domain-wide delegation for {email} ({exc.reason}): authorise"
                " the client id in the Workspace admin console, for a user of the domain",
                "email",
                reason=exc.reason,
            ) from None

        def activate(user: User | None) -> User | None:
            if user is not None and (user.auth_mode, user.status) == (
                AuthMode.DELEGATION,
                UserStatus.ACTIVE,
            ):
                return None
            fresh = user or User(email=email)
            fresh.auth_mode, fresh.status = AuthMode.DELEGATION, UserStatus.ACTIVE
            fresh.refresh_token_enc, fresh.scopes = "", []
            return fresh

        self._change(email, activate, CONNECTED)
        if existing is not None and existing.status != UserStatus.ACTIVE:
            self._channels.resume(email)
            self._resume_spaces(email)
        return self.describe(email), existing is None

    def _resume_spaces(self, email: str) -> None:
        """Reactivate the user's suspended meeting subscriptions; never fails the caller."""
        if self._spaces is None:
            return
        try:
            resumed = self._spaces.resume(email)
        except (ApiError, Refusal) as exc:
            _log.warning("resuming subscriptions failed", extra={"user": email, "error": str(exc)})
            return
        if resumed:
            _log.info("subscriptions resumed", extra={"user": email, "meetings": len(resumed)})

    def describe(self, email_text: str) -> dict[str, Any]:
        """`GET /users/{email}`: mode, status and the calendars' health; never a token."""
        email = validate.email(email_text, "email")
        user = self._store.get_user(email)
        if user is None:
            raise Refusal(Kind.NOT_FOUND, f"{email} is not a user of this product", "email")
        calendars = []
        for state in sorted(self._store.calendars_of(email), key=lambda c: c.key):
            live = [
                c.expiration
                for c in self._store.channels_for(state.key)
                if c.state != ChannelState.STOPPED
            ]
            finished = state.last_sync_finished
            calendars.append(
                {
                    "calendarId": state.calendar_id,
                    "status": state.status,
                    "statusReason": state.status_reason or None,
                    "lastSyncedAt": finished.isoformat() if finished else None,
                    "channelExpiration": max(live).isoformat() if live else None,
                }
            )
        return {**user.public(), "calendars": calendars}

    def disconnect(self, email_text: str) -> dict[str, Any]:
        """`DELETE /users/{email}`: stop every channel of the user's calendars, revoke and
        delete the stored refresh token; meeting records stay. Idempotent: once done, a
        second call has nothing to do. Channels are stopped first, while the grant works."""
        email = validate.email(email_text, "email")
        user = self._store.get_user(email)
        if user is None:
            raise Refusal(Kind.NOT_FOUND, f"{email} is not a user of this product", "email")
        announce(self._store, self._sink, user)  # anything an earlier call left unsent
        stopped = self._channels.stop_all(email)
        if self._spaces is not None:  # while the grant still works
            try:
                released = self._spaces.release_all(email)
                _log.info("subscriptions deleted", extra={"user": email, "meetings": len(released)})
            except ApiError as exc:
                _log.warning(
                    "deleting subscriptions failed", extra={"user": email, "error": str(exc)}
                )
        revoked = False
        if user.refresh_token_enc and self._vault is not None:
            try:
                revoked = self._oauth.revoke(self._vault.open(user.refresh_token_enc))
            except AuthRevokedError:
                revoked = False  # already dead at Google
        if user.status == UserStatus.DISCONNECTED and not stopped and not user.refresh_token_enc:
            return {**user.public(), "stoppedChannels": [], "tokenRevoked": False, "changed": False}

        def forget(current: User | None) -> User | None:
            if current is None:
                return None
            current.status, current.refresh_token_enc = UserStatus.DISCONNECTED, ""
            return current

        user = self._change(email, forget, DISCONNECTED)
        _log.info(
            "user disconnected",
            extra={"user": email, "channels": len(stopped), "revoked": revoked},
        )
        return {
            **user.public(),
            "stoppedChannels": stopped,
            "tokenRevoked": revoked,
            "changed": True,
        }

    # -- Google sign-in ----------------------------------------------------------------------

    def connected(self, email: str, sealed_token: str, scopes: list[str]) -> User:
        """The user signed in and consented: store the sealed refresh token, mark them an
        active refresh_token user and announce it (every time: a reconnect is news)."""

        def connect(user: User | None) -> User:
            fresh = user or User(email=email)
            fresh.auth_mode, fresh.status = AuthMode.REFRESH_TOKEN, UserStatus.ACTIVE
            fresh.refresh_token_enc, fresh.scopes = sealed_token, sorted(scopes)
            return fresh

        return self._change(email, connect, CONNECTED)

    def watch_after_connect(self, email: str, *, primary: bool) -> dict[str, Any]:
        """Resume the calendars watched before the grant lapsed, and watch the primary one
        when configured. The connection stands if this fails: the failure is reported."""
        self._resume_spaces(email)
        try:
            resumed = self._channels.resume(email)
            if primary:
                self._channels.watch(email, "primary")
        except (ApiError, Refusal) as exc:
            _log.warning("watching after connect failed", extra={"user": email, "error": str(exc)})
            return {"resumed": [], "watchError": str(exc)}
        return {"resumed": resumed, "watchError": None}
