"""Per-user Google credentials: domain-wide delegation or a stored refresh token.

Every provider hands out `google.oauth2.credentials.Credentials` that refresh
themselves, cached per user for the life of the instance so an access token is
reused until it expires. `UserCredentials` is the one the functions use: each user
has their own mode (delegation users and users who connected with Google sign-in
live side by side), read from the user's record at each refresh. Delegation signs
the JWT through the IAM Credentials `signJwt` API, so no service-account key file
exists anywhere. google-auth and requests are imported when the first credentials
or session are made.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from shared.domain.errors import ApiError, AuthRevokedError, TransientError
from shared.domain.models import AuthMode
from shared.domain.ports import UserStore
from shared.domain.signin import PRODUCT_SCOPES
from shared.google.errors import from_response

if TYPE_CHECKING:
    import google.auth.credentials
    import google.auth.transport
    import requests
    from google.oauth2.credentials import Credentials

SCOPES: tuple[str, ...] = PRODUCT_SCOPES
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_DEFAULT_IAM_ROOT = "https://iamcredentials.googleapis.com/"
_TIMEOUT = 30.0


class CredentialsProvider(Protocol):
    """Gives the credentials to act as one user."""

    def for_user(self, email: str) -> google.auth.credentials.Credentials: ...


class _Cache:
    """Credentials per user, built once; thread-safe."""

    def __init__(self, build: Callable[[str], Credentials]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._by_user: dict[str, Credentials] = {}

    def get(self, email: str) -> Credentials:
        key = email.lower()
        with self._lock:
            creds = self._by_user.get(key)
            if creds is None:
                creds = self._by_user[key] = self._build(key)
            return creds

    def forget(self, email: str) -> None:
        with self._lock:
            self._by_user.pop(email.lower(), None)


class StoredRefreshTokens:
    """Refresh tokens as stored on the user record: Fernet-encrypted with the deployment's
    key, decrypted only when credentials are built (never logged, never cached in clear)."""

    def __init__(self, users: UserStore, key: str) -> None:
        from cryptography.fernet import Fernet

        self._users = users
        self._fernet = Fernet(key.encode())

    def lookup(self, email: str) -> str | None:
        user = self._users.get_user(email)
        if user is None or not user.refresh_token_enc:
            return None
        return self.open(user.refresh_token_enc)

    def seal(self, refresh_token: str) -> str:
        """The stored form of a refresh token."""
        return self._fernet.encrypt(refresh_token.encode()).decode()

    def open(self, sealed: str) -> str:
        """The refresh token of its stored form."""
        return self._fernet.decrypt(sealed.encode()).decode()


class RefreshTokenProvider:
    """Users who authorised our OAuth client; their refresh tokens are looked up on demand."""

    def __init__(
        self,
        *,
        token_uri: str,
        client_id: str,
        client_secret: str,
        lookup: Callable[[str], str | None],
        scopes: Sequence[str] = SCOPES,
    ) -> None:
        self._token_uri = token_uri
        self._client_id = client_id
        self._client_secret = client_secret
        self._lookup = lookup
        self._scopes = list(scopes)
        self._cache = _Cache(self._build)

    def _build(self, email: str) -> Credentials:
        from google.oauth2.credentials import Credentials

        refresh_token = self._lookup(email)
        if not refresh_token:
            raise AuthRevokedError(f"no stored authorization for {email}", status=401)
        return Credentials(  # type: ignore[no-untyped-call]
            token=None,
            refresh_token=refresh_token,
            token_uri=self._token_uri,
            client_id=self._client_id,
            client_secret=self._client_secret,
            scopes=self._scopes,
        )

    def for_user(self, email: str) -> Credentials:
        return self._cache.get(email)

    def forget(self, email: str) -> None:
        """Drop cached credentials, e.g. after the user re-authorised."""
        self._cache.forget(email)


class DelegationProvider:
    """Domain-wide delegation: a service account impersonates users via signed JWTs."""

    def __init__(
        self,
        *,
        service_account: str,
        token_uri: str,
        iam_root: str = _DEFAULT_IAM_ROOT,
        scopes: Sequence[str] = SCOPES,
        signer_session: requests.Session | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._service_account = service_account
        self._token_uri = token_uri
        self._iam_root = iam_root.rstrip("/") + "/"
        self._scopes = " ".join(scopes)
        self._signer_session = signer_session
        self._session_lock = threading.Lock()
        self._now = now
        self._cache = _Cache(self._build)

    def _session(self) -> requests.Session:
        """The session that calls IAM Credentials: ADC in the cloud, plain locally."""
        with self._session_lock:
            if self._signer_session is None:
                import requests

                if self._iam_root == _DEFAULT_IAM_ROOT:
                    import google.auth
                    from google.auth.transport.requests import AuthorizedSession

                    adc, _ = google.auth.default(
                        scopes=["https://www.googleapis.com/auth/cloud-platform"]
                    )
                    self._signer_session = AuthorizedSession(adc)  # type: ignore[no-untyped-call]
                else:  # an emulated IAM endpoint takes unauthenticated calls
                    self._signer_session = requests.Session()
            return self._signer_session

    def _post(self, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        import requests

        try:
            response = self._session().post(url, timeout=_TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise TransientError(f"{what}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise from_response(response.status_code, response.content, what=what)
        data: dict[str, Any] = response.json()
        return data

    def token_for(self, email: str) -> tuple[str, dt.datetime]:
        """A fresh access token as `email` and its expiry (naive UTC, as google-auth wants);
        raises the `ApiError` Google answered (`unauthorized_client`: delegation not
        authorised; `invalid_grant`: no such user)."""
        now = self._now()
        claims = {
            "iss": self._service_account,
            "sub": email,
            "scope": self._scopes,
            "aud": self._token_uri,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + 3600,
        }
        signed = self._post(
            f"{self._iam_root}v1/projects/-/serviceAccounts/{self._service_account}:signJwt",
            "iam.signJwt",
            json={"payload": json.dumps(claims)},
        )
        token = self._post(
            self._token_uri,
            "oauth.token",
            data={"grant_type": _JWT_BEARER, "assertion": signed["signedJwt"]},
        )
        expires_in = int(token.get("expires_in", 3600))
        # google-auth compares expiry as naive UTC.
        expiry = (now + dt.timedelta(seconds=expires_in)).replace(tzinfo=None)
        return str(token["access_token"]), expiry

    def _build(self, email: str) -> Credentials:
        from google.oauth2.credentials import Credentials

        def refresh(_request: google.auth.transport.Request, scopes: Any) -> tuple[str, Any]:
            return self.token_for(email)

        return Credentials(token=None, refresh_handler=refresh)  # type: ignore[no-untyped-call]

    def for_user(self, email: str) -> Credentials:
        return self._cache.get(email)


class UserCredentials:
    """Credentials by each user's own auth mode: delegation, or their stored refresh token.

    The mode and the refresh token are read from the user's record when an access token
    is minted (about hourly per user and instance, and after a 401), not on every call:
    a user who reconnected (a new refresh token) or was registered for delegation is
    served by warm instances without a restart. A user with no record gets the
    deployment's default mode."""

    def __init__(
        self,
        *,
        users: UserStore,
        default_mode: str,
        delegation: DelegationProvider | None,
        vault: StoredRefreshTokens | None,
        token_uri: str,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str] = SCOPES,
    ) -> None:
        self._users = users
        self._default_mode = default_mode
        self._delegation = delegation
        self._vault = vault
        self._token_uri = token_uri
        self._client_id = client_id
        self._client_secret = client_secret
        self._scopes = list(scopes)
        self._cache = _Cache(self._build)

    def _build(self, email: str) -> Credentials:
        from google.oauth2.credentials import Credentials

        def refresh(request: google.auth.transport.Request, scopes: Any) -> tuple[str, Any]:
            return self._mint(email, request)

        return Credentials(token=None, refresh_handler=refresh)  # type: ignore[no-untyped-call]

    def _mint(self, email: str, request: google.auth.transport.Request) -> tuple[str, Any]:
        from google.oauth2.credentials import Credentials

        user = self._users.get_user(email)
        mode = user.auth_mode if user is not None else self._default_mode
        if mode == AuthMode.DELEGATION:
            if self._delegation is None:
                raise ApiError(
                    f"{email} is a delegation user but DELEGATION_SERVICE_ACCOUNT is not set",
                    reason="delegation_not_configured",
                )
            return self._delegation.token_for(email)
        if user is None or not user.refresh_token_enc or self._vault is None:
            raise AuthRevokedError(f"no stored authorization for {email}", status=401)
        user_creds = Credentials(  # type: ignore[no-untyped-call]
            token=None,
            refresh_token=self._vault.open(user.refresh_token_enc),
            token_uri=self._token_uri,
            client_id=self._client_id,
            client_secret=self._client_secret,
            scopes=self._scopes,
        )
        user_creds.refresh(request)  # type: ignore[no-untyped-call]
        return str(user_creds.token), user_creds.expiry

    def for_user(self, email: str) -> Credentials:
        return self._cache.get(email)
