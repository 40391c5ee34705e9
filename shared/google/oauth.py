"""Google's OAuth endpoints for onboarding: code exchange with ID-token checks, revocation,
and the delegation proof.

The ID token is verified with google-auth (`google.auth.jwt.decode`: RS256 signature by
the key its `kid` names, `aud` = our client id, `iat`/`exp`), against the keys fetched
from OAUTH_CERTS_URI on each exchange (Google rotates them; an exchange is rare). The
JWK Set Google publishes at /oauth2/v3/certs is turned into PEM public keys with
`cryptography`; the x509 form of /oauth2/v1/certs is used as is. The issuer must be
Google's. Nothing here logs a code, a token or an ID token.
"""

from __future__ import annotations

import base64
import threading
from typing import TYPE_CHECKING, Any

from shared.domain.errors import ApiError, IdentityError, TransientError
from shared.domain.ports import SignIn
from shared.google.errors import from_response

if TYPE_CHECKING:
    import requests

    from shared.google.credentials import DelegationProvider

GOOGLE_ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})
_TIMEOUT = 30.0
_CLOCK_SKEW_SECONDS = 60


def _int(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def _why(exc: Exception) -> str:
    """google-auth's reason, unless it quotes the token (its malformed-segment messages do):
    what ends up in a log line never holds a piece of an ID token."""
    text = str(exc)
    if "segment" in text.lower() or len(text) > 200:
        return type(exc).__name__
    return f"{type(exc).__name__}: {text}"


def pem_keys(certs: dict[str, Any]) -> dict[str, str]:
    """{kid: PEM} from either form Google publishes: a JWK Set (`{"keys": [...]}`, RSA
    keys only) or `{kid: x509 certificate}`."""
    if "keys" not in certs:
        return {str(k): str(v) for k, v in certs.items()}
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

    out: dict[str, str] = {}
    for jwk in certs["keys"]:
        if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
            continue
        public = RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
        pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        out[str(jwk["kid"])] = pem.decode()
    return out


class GoogleOAuth:
    """The `OAuthPort` on Google (or the workspace emulator, which serves the same paths)."""

    def __init__(
        self,
        *,
        token_uri: str,
        revoke_uri: str,
        certs_uri: str,
        client_id: str,
        client_secret: str,
        delegation: DelegationProvider | None,
        session: requests.Session | None = None,
    ) -> None:
        self._token_uri = token_uri
        self._revoke_uri = revoke_uri
        self._certs_uri = certs_uri
        self._client_id = client_id
        self._client_secret = client_secret
        self._delegation = delegation
        self._session = session
        self._lock = threading.Lock()

    def _http(self) -> requests.Session:
        with self._lock:
            if self._session is None:
                import requests

                self._session = requests.Session()
            return self._session

    def _call(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        import requests

        try:
            return self._http().request(method, url, timeout=_TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise TransientError(f"{what}: {type(exc).__name__}") from exc

    def exchange_code(self, code: str, *, redirect_uri: str, code_verifier: str) -> SignIn:
        response = self._call(
            "POST",
            self._token_uri,
            "oauth.token (authorization_code)",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "code_verifier": code_verifier,
            },
        )
        if response.status_code != 200:
            raise from_response(response.status_code, response.content, what="oauth.token")
        body: dict[str, Any] = response.json()
        claims = self.verify_id_token(str(body.get("id_token") or ""))
        return SignIn(
            email=str(claims.get("email") or ""),
            email_verified=claims.get("email_verified") is True,
            scopes=frozenset(str(body.get("scope") or "").split()),
            refresh_token=str(body.get("refresh_token") or ""),
        )

    def verify_id_token(self, id_token: str) -> dict[str, Any]:
        """The claims of a Google ID token for our client, or IdentityError."""
        if not id_token:
            raise IdentityError("Google answered without an ID token (was openid asked for?)")
        import google.auth.exceptions
        from google.auth import jwt

        response = self._call("GET", self._certs_uri, "oauth.certs")
        if response.status_code != 200:
            raise TransientError(f"oauth.certs: HTTP {response.status_code}")
        try:
            claims: dict[str, Any] = jwt.decode(  # type: ignore[no-untyped-call]
                id_token,
                certs=pem_keys(response.json()),
                audience=self._client_id,
                clock_skew_in_seconds=_CLOCK_SKEW_SECONDS,
            )
        except (ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as exc:
            raise IdentityError(f"ID token rejected: {_why(exc)}") from None
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise IdentityError("ID token rejected: not issued by Google")
        return claims

    def revoke(self, token: str) -> bool:
        response = self._call("POST", self._revoke_uri, "oauth.revoke", data={"token": token})
        if response.status_code == 200:
            return True
        error = from_response(response.status_code, response.content, what="oauth.revoke")
        if error.reason == "invalid_token":
            return False
        raise error

    def prove_delegation(self, email: str) -> None:
        if self._delegation is None:
            raise ApiError(
                "domain-wide delegation is not configured (DELEGATION_SERVICE_ACCOUNT)",
                reason="delegation_not_configured",
            )
        self._delegation.token_for(email)
