"""OAuth token endpoint, IAM signJwt, and bearer-token checks.

Both grants real code uses are supported: refresh_token (user OAuth) and jwt-bearer
(domain-wide delegation, the assertion signed through our signJwt so no key file is
needed). Access tokens are bound to one user and expire on the emulator clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any
from urllib.parse import parse_qs

from emulator.errors import ApiError, calendar_auth_error, meet_error, oauth_error
from emulator.state import AccessToken, Emulator
from emulator.wire import Request, Response, json_response

JSON = dict[str, Any]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_SCOPE = (
    "https://www.googleapis.com/auth/calendar "
    "https://www.googleapis.com/auth/meetings.space.created"
)
REVOKED = "Token has been expired or revoked."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_refresh_token(emu: Emulator, email: str) -> str:
    token = "1//emu-" + secrets.token_urlsafe(24)
    emu.refresh_tokens[token] = email
    emu.issued.refresh_tokens.add(token)
    return token


def revoke_user(emu: Emulator, email: str, *, access_tokens: bool = True) -> None:
    """Kill every refresh token (and, unless told otherwise, access token) of ``email``."""
    for tok in [t for t, e in emu.refresh_tokens.items() if e == email]:
        del emu.refresh_tokens[tok]
    if not access_tokens:
        return
    for tok in [t for t, a in emu.access_tokens.items() if a.email == email]:
        del emu.access_tokens[tok]


def issue_access_token(emu: Emulator, email: str, scope: str) -> JSON:
    ttl = int(emu.config["access_token_ttl_seconds"])
    token = "ya29.emu-" + secrets.token_urlsafe(32)
    emu.access_tokens[token] = AccessToken(email, emu.clock.now() + ttl, scope)
    emu.issued.access_tokens.add(token)
    return {"access_token": token, "expires_in": ttl, "token_type": "Bearer", "scope": scope}


def sign_jwt(emu: Emulator, req: Request, service_account: str) -> Response:
    """IAM Credentials ``signJwt``: sign the caller's claims with the emulator key."""
    try:
        payload = req.json()["payload"]
        claims = json.loads(payload)
        if not isinstance(claims, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError) as exc:
        raise meet_error(400, "Invalid JWT payload.") from exc
    header = {"alg": "HS256", "typ": "JWT", "kid": emu.signing_key_id}
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(payload.encode())
    sig = hmac.new(emu.signing_key, signing_input.encode(), hashlib.sha256).digest()
    signed = signing_input + "." + _b64(sig)
    with emu.lock:
        emu.issued.signed_jwts.add(signed)
    return json_response({"keyId": emu.signing_key_id, "signedJwt": signed})


def _verify_assertion(emu: Emulator, assertion: str) -> JSON:
    try:
        head, body, sig = assertion.split(".")
        expected = hmac.new(emu.signing_key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(sig)):
            raise oauth_error(400, "invalid_grant", "Invalid JWT Signature.")
        claims = json.loads(_unb64(body))
    except ApiError:
        raise
    except ValueError as exc:
        raise oauth_error(400, "invalid_grant", "Invalid JWT: malformed assertion.") from exc
    if not isinstance(claims, dict):
        raise oauth_error(400, "invalid_grant", "Invalid JWT: malformed assertion.")
    return claims


def token_endpoint(emu: Emulator, req: Request) -> tuple[Response, str | None]:
    """``POST /token``; answers the response and the user it was for."""
    form = {k: v[-1] for k, v in parse_qs(req.body.decode(errors="replace")).items()}
    grant = form.get("grant_type")
    with emu.lock:
        if grant == "refresh_token":
            token = form.get("refresh_token", "")
            email = emu.refresh_tokens.get(token)
            if email is None or email not in emu.users:
                raise oauth_error(400, "invalid_grant", REVOKED)
            if form.get("client_id"):
                emu.users[email].client_ids.add(form["client_id"])
            return json_response(
                issue_access_token(emu, email, form.get("scope") or DEFAULT_SCOPE)
            ), email
        if grant == JWT_BEARER:
            claims = _verify_assertion(emu, form.get("assertion", ""))
            now = emu.clock.now()
            sub, iss = claims.get("sub"), claims.get("iss")
            if not iss:
                raise oauth_error(400, "invalid_grant", "Invalid JWT: missing iss claim.")
            if not isinstance(sub, str) or sub not in emu.users:
                raise oauth_error(400, "invalid_grant", "Invalid email or User ID")
            if emu.users[sub].revoked:  # what Google answers once delegation is withdrawn
                raise oauth_error(
                    400,
                    "unauthorized_client",
                    "Client is unauthorized to retrieve access tokens using this method.",
                )
            if not str(claims.get("aud", "")).endswith("/token"):
                raise oauth_error(400, "invalid_grant", "Invalid JWT: bad audience.")
            exp, iat = claims.get("exp"), claims.get("iat", now)
            if (
                not isinstance(exp, (int, float))
                or not isinstance(iat, (int, float))
                or exp <= now
                or exp - iat > 3600
            ):
                raise oauth_error(
                    400,
                    "invalid_grant",
                    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a"
                    " reasonable timeframe. Check your iat and exp values in the JWT claim.",
                )
            scope = claims.get("scope")
            if not isinstance(scope, str) or not scope.strip():
                raise oauth_error(
                    400, "invalid_scope", "Invalid OAuth scope or ID token audience provided."
                )
            return json_response(issue_access_token(emu, sub, scope)), sub
    if not grant:
        raise oauth_error(400, "invalid_request", "Missing required parameter: grant_type")
    raise oauth_error(400, "unsupported_grant_type", "Invalid grant_type: " + grant)


def authenticate(emu: Emulator, req: Request, api: str) -> str:
    """The user behind the request's bearer token, or the API's 401."""
    header = req.header("authorization") or ""
    scheme, _, token = header.partition(" ")
    with emu.lock:
        info = emu.access_tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if info is None or info.expires <= emu.clock.now():
            raise meet_error(401) if api == "meet" else calendar_auth_error()
        return info.email
