"""Users connect themselves: Google sign-in (authorization code + PKCE) ending in a stored,
sealed refresh token.

`start` answers where to send the browser: Google's consent screen asking for every
product scope plus `openid email`, offline access and a fresh consent (so Google
issues a refresh token even to a user who granted before), with a signed state bound
to a cookie (`shared.domain.signin`). `finish` takes Google's redirect back: it checks
the state (signature, expiry, this browser, first use), exchanges the code, and binds
the tokens to the email of the verified ID token, never to anything in the query. Every
refusal happens before anything is stored; a connected user's calendars resume.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from shared import logs
from shared.domain import validate
from shared.domain.errors import AuthRevokedError, BadRequestError, IdentityError
from shared.domain.models import utcnow
from shared.domain.ports import Clock, OAuthPort, SignIn, StateStore, TokenVault
from shared.domain.refusals import Kind, Refusal
from shared.domain.signin import (
    PRODUCT_SCOPES,
    SIGN_IN_SCOPES,
    ConnectState,
    Cookie,
    StateCodec,
    StateError,
    pkce_challenge,
    return_to_allowed,
)
from shared.services.users import UserService

_log = logs.get(__name__)


@dataclass(frozen=True, slots=True)
class ConnectConfig:
    client_id: str
    auth_uri: str
    redirect_uri: str
    return_to_allowlist: tuple[str, ...]
    watch_primary: bool
    scopes: tuple[str, ...] = PRODUCT_SCOPES


@dataclass(frozen=True, slots=True)
class Started:
    location: str
    """Google's consent screen for this sign-in."""
    cookie: Cookie


@dataclass(frozen=True, slots=True)
class Connected:
    email: str
    return_to: str | None
    """Where to send the browser (allow-listed), or None for the success page."""
    result: dict[str, Any]


def _refuse(kind: Kind, message: str, reason: str, field: str) -> Refusal:
    """A refused callback: `reason` is the stable code the page shows (and tests match)."""
    return Refusal(kind, message, field, reason=reason)


class Onboarding:
    def __init__(
        self,
        *,
        config: ConnectConfig,
        codec: StateCodec | None,
        states: StateStore,
        oauth: OAuthPort,
        vault: TokenVault | None,
        users: UserService,
        now: Clock = utcnow,
    ) -> None:
        self._config = config
        self._codec = codec
        self._states = states
        self._oauth = oauth
        self._vault = vault
        self._users = users
        self._now = now

    @property
    def _secure(self) -> bool:
        return self._config.redirect_uri.startswith("https://")

    @property
    def cookie_name(self) -> str:
        """`__Host-` (Secure, host-only, path /) wherever the callback is https."""
        return "__Host-meetsync-connect" if self._secure else "meetsync-connect"

    def spent_cookie(self) -> Cookie:
        """Deletes the browser's sign-in cookie (a finished sign-in needs it no more)."""
        return Cookie(self.cookie_name, "", 0, self._secure)

    def _ready(self) -> tuple[StateCodec, TokenVault]:
        missing = [
            name
            for name, value in (
                ("OAUTH_CLIENT_ID", self._config.client_id),
                ("OAUTH_REDIRECT_URI", self._config.redirect_uri),
                ("STATE_SIGNING_KEY", self._codec),
                ("TOKEN_ENCRYPTION_KEY", self._vault),
            )
            if not value
        ]
        if missing or self._codec is None or self._vault is None:
            _log.error("Google sign-in is not configured", extra={"missing": missing})
            raise Refusal(Kind.MISCONFIGURED, "Google sign-in is not configured on this service")
        return self._codec, self._vault

    def start(self, login_hint: str | None, return_to: str | None) -> Started:
        """`GET /connect`: the consent screen to send the browser to, and its cookie."""
        codec, _ = self._ready()
        hint = validate.email(login_hint, "login_hint") if login_hint else ""
        if return_to and not return_to_allowed(return_to, self._config.return_to_allowlist):
            raise Refusal(Kind.INVALID, "return_to is not an allowed address", "return_to")
        state, secret, issued = codec.issue(
            login_hint=hint, return_to=return_to or "", now=self._now()
        )
        params = {
            "client_id": self._config.client_id,
            "redirect_uri": self._config.redirect_uri,
            "response_type": "code",
            "scope": " ".join((*self._config.scopes, *SIGN_IN_SCOPES)),
            "access_type": "offline",
            "prompt": "consent",
            "include_granted_scopes": "true",
            "state": state,
            "code_challenge": pkce_challenge(codec.verifier(issued, secret)),
            "code_challenge_method": "S256",
        }
        if hint:
            params["login_hint"] = hint
        cookie = Cookie(self.cookie_name, secret, codec.ttl_seconds, self._secure)
        return Started(f"{self._config.auth_uri}?{urlencode(params)}", cookie)

    def finish(self, query: Mapping[str, str], browser_secret: str | None) -> Connected:
        """`GET /oauth/callback`: check, exchange, verify, store; or a refusal, storing nothing."""
        codec, vault = self._ready()
        state = self._accept_state(codec, query.get("state"), browser_secret)
        error = query.get("error")
        if error == "access_denied":
            raise _refuse(
                Kind.FORBIDDEN, "you declined access; nothing was connected", error, "error"
            )
        if error:
            raise _refuse(
                Kind.INVALID, f"Google refused the sign-in ({error[:64]})", "google_error", "error"
            )
        code = query.get("code")
        if not code:
            raise _refuse(
                Kind.INVALID, "the sign-in answer carries no code", "code_missing", "code"
            )
        sign_in = self._exchange(code, codec.verifier(state, browser_secret or ""))
        email = self._check_identity(sign_in, state)
        user = self._users.connected(
            email, vault.seal(sign_in.refresh_token), sorted(sign_in.scopes)
        )
        watched = self._users.watch_after_connect(email, primary=self._config.watch_primary)
        _log.info("user connected", extra={"user": email, "resumed": watched["resumed"]})
        back = state.return_to
        allowed = bool(back) and return_to_allowed(back, self._config.return_to_allowlist)
        return Connected(email, back if allowed else None, {**user.public(), **watched})

    def _accept_state(
        self, codec: StateCodec, text: str | None, browser_secret: str | None
    ) -> ConnectState:
        """Ours, unexpired, this browser's, and first used now (whatever the answer is)."""
        try:
            state = codec.verify(text, browser_secret, self._now())
        except StateError as exc:
            raise _refuse(Kind.INVALID, exc.message, exc.reason, "state") from None
        if not self._states.claim_state(
            state.nonce, dt.datetime.fromtimestamp(state.expires, dt.UTC)
        ):
            raise _refuse(
                Kind.INVALID,
                "this sign-in was already used; please start again",
                "state_replayed",
                "state",
            )
        return state

    def _exchange(self, code: str, verifier: str) -> SignIn:
        try:
            return self._oauth.exchange_code(
                code, redirect_uri=self._config.redirect_uri, code_verifier=verifier
            )
        except (AuthRevokedError, BadRequestError) as exc:
            raise _refuse(
                Kind.INVALID,
                "Google refused the sign-in code (used, expired or not yours); please start again",
                exc.reason or "invalid_grant",
                "code",
            ) from None
        except IdentityError as exc:
            _log.warning("ID token rejected", extra={"error": str(exc)})
            raise _refuse(
                Kind.UNAUTHORISED,
                "Google's answer could not be verified",
                "id_token_invalid",
                "code",
            ) from None

    def _check_identity(self, sign_in: SignIn, state: ConnectState) -> str:
        """The verified email the tokens belong to, if it may connect with what it granted."""
        if not sign_in.email_verified:
            raise _refuse(
                Kind.FORBIDDEN,
                "this Google account's email is not verified",
                "email_unverified",
                "email",
            )
        email = validate.email(sign_in.email, "email")
        if state.login_hint and email != state.login_hint:
            raise _refuse(
                Kind.FORBIDDEN,
                f"you signed in as {email}, but this link was for {state.login_hint}",
                "login_hint_mismatch",
                "login_hint",
            )
        missing = [s for s in self._config.scopes if s not in sign_in.scopes]
        if missing:
            raise _refuse(
                Kind.FORBIDDEN,
                f"every requested permission is needed; not granted: {' '.join(missing)}",
                "scope_not_granted",
                "scope",
            )
        if not sign_in.refresh_token:
            raise _refuse(
                Kind.INVALID,
                "Google gave no offline access; please start again",
                "no_refresh_token",
                "code",
            )
        return email
