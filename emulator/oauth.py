"""OAuth token endpoint, revocation, IAM signJwt, and bearer-token checks.

Grants: refresh_token (user OAuth), jwt-bearer (domain-wide delegation, the assertion
signed through our signJwt so no key file is needed) and authorization_code (users
who sign in themselves; the consent page is in ``signin.py``). Access tokens are
bound to one user, carry their scopes (enforced per API, see ``scopes.py``) and
expire on the emulator clock. Every refresh token belongs to a :class:`Grant`, so
revoking it (``POST /revoke``) also kills the access tokens minted from it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qs

from emulator import directory, scopes, subscriptions
from emulator.errors import ApiError, calendar_auth_error, meet_error, oauth_error
from emulator.jwks import b64url
from emulator.state import AccessToken, AuthCode, Caller, Emulator, Grant, OAuthClient
from emulator.wire import Request, Response, json_response

JSON = dict[str, Any]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUTHORIZATION_CODE = "authorization_code"
DEFAULT_SCOPE = (
    "https://www.googleapis.com/auth/calendar "
    "https://www.googleapis.com/auth/meetings.space.created"
)
REVOKED = "Token has been expired or revoked."
ID_TOKEN_TTL = 3600
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_grant(
    emu: Emulator, email: str, source: str, client_id: str | None, granted: list[str] | None
) -> Grant:
    grant = Grant(
        id="grant-" + secrets.token_hex(8),
        email=email,
        source=source,
        client_id=client_id,
        scopes=granted,
        created=emu.clock.now(),
    )
    emu.grants[grant.id] = grant
    return grant


def _attach_refresh_token(emu: Emulator, grant: Grant) -> str:
    token = "1//emu-" + secrets.token_urlsafe(24)
    emu.refresh_tokens[token] = grant.email
    emu.issued.refresh_tokens.add(token)
    emu.grant_by_refresh[token] = grant.id
    grant.refresh_token = token
    return token


def new_refresh_token(emu: Emulator, email: str) -> str:
    """A refresh token of the control API (``POST /_emulator/users``): any client, any scope."""
    return _attach_refresh_token(emu, new_grant(emu, email, "control", None, None))


def revoke_grant(emu: Emulator, grant: Grant, by: str) -> None:
    """Kill the grant's refresh token and every access token minted from it; Workspace
    Events subscriptions it authorized are suspended."""
    if grant.refresh_token:
        emu.refresh_tokens.pop(grant.refresh_token, None)
    for tok in [t for t, a in emu.access_tokens.items() if a.grant_id == grant.id]:
        del emu.access_tokens[tok]
    if not grant.revoked:
        grant.revoked, grant.revoked_at, grant.revoked_by = True, emu.clock.now(), by
    subscriptions.authorization_revoked(emu, grant.email, {grant.id})


def revoke_user(
    emu: Emulator, email: str, *, access_tokens: bool = True, reason: str = "user revoked"
) -> None:
    """Kill every refresh token (and, unless told otherwise, access token) of ``email``;
    every Workspace Events subscription the user authorized is suspended."""
    subscriptions.authorization_revoked(emu, email, None)
    for grant in emu.grants.values():
        if grant.email == email and not grant.revoked:
            grant.revoked, grant.revoked_at, grant.revoked_by = True, emu.clock.now(), reason
    for tok in [t for t, e in emu.refresh_tokens.items() if e == email]:
        del emu.refresh_tokens[tok]
    if not access_tokens:
        return
    for tok in [t for t, a in emu.access_tokens.items() if a.email == email]:
        del emu.access_tokens[tok]


def issue_access_token(emu: Emulator, email: str, scope: str, grant_id: str | None = None) -> JSON:
    ttl = int(emu.config["access_token_ttl_seconds"])
    token = "ya29.emu-" + secrets.token_urlsafe(32)
    emu.access_tokens[token] = AccessToken(email, emu.clock.now() + ttl, scope, grant_id)
    emu.issued.access_tokens.add(token)
    return {"access_token": token, "expires_in": ttl, "token_type": "Bearer", "scope": scope}


def user_sub(email: str) -> str:
    """A stable 21-digit numeric user id (Google's ``sub`` shape), derived from the email:
    also the user's Directory id (Meet's ``users/{id}``)."""
    return directory.user_id(email)


def _at_hash(access_token: str) -> str:
    return b64url(hashlib.sha256(access_token.encode()).digest()[:16])


def mint_id_token(
    emu: Emulator,
    email: str,
    client_id: str,
    granted: list[str],
    access_token: str,
    nonce: str | None = None,
) -> str:
    """An RS256 ID token with the claims Google sets for the granted sign-in scopes."""
    now = int(emu.clock.now())
    claims: JSON = {
        "iss": str(emu.config["id_token_issuer"]),
        "azp": client_id,
        "aud": client_id,
        "sub": user_sub(email),
    }
    if scopes.EMAIL in granted:
        claims["email"] = email
        claims["email_verified"] = True
    claims["at_hash"] = _at_hash(access_token)
    if nonce:
        claims["nonce"] = nonce
    if scopes.PROFILE in granted:
        given = email.split("@")[0].split(".")[0].capitalize()
        claims["name"] = given
        claims["given_name"] = given
    claims["iat"] = now
    claims["exp"] = now + ID_TOKEN_TTL
    token = emu.id_token_keys.current.sign(claims)
    emu.issued.id_tokens.add(token)
    return token


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
    form = _form(req)
    grant = form.get("grant_type")
    with emu.lock:
        if grant == AUTHORIZATION_CODE:
            return _exchange_code(emu, req, form)
        if grant == "refresh_token":
            token = form.get("refresh_token", "")
            email = emu.refresh_tokens.get(token)
            if email is None or email not in emu.users:
                raise oauth_error(400, "invalid_grant", REVOKED)
            owner = emu.grants.get(emu.grant_by_refresh.get(token, ""))
            if owner is not None and owner.client_id is not None:
                return _refresh_sign_in(emu, req, form, owner), email
            if form.get("client_id"):
                emu.users[email].client_ids.add(form["client_id"])
            wanted = form.get("scope") or DEFAULT_SCOPE
            grant_id = owner.id if owner else None
            return json_response(issue_access_token(emu, email, wanted, grant_id)), email
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


def _form(req: Request) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(req.body.decode(errors="replace")).items()}


def _client_credentials(req: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """client_id and client_secret from HTTP Basic (client_secret_basic) or the form."""
    scheme, _, value = (req.header("authorization") or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            cid, _, secret = base64.b64decode(value.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise oauth_error(401, "invalid_client", "Unauthorized") from exc
        return cid or None, secret
    return form.get("client_id") or None, form.get("client_secret")


def authenticate_client(emu: Emulator, req: Request, form: dict[str, str]) -> OAuthClient:
    """The registered client making a sign-in token call, or invalid_request/invalid_client."""
    client_id, secret = _client_credentials(req, form)
    if not client_id:
        raise oauth_error(400, "invalid_request", "Could not determine client ID from request.")
    client = emu.oauth_clients.get(client_id)
    if client is None:
        raise oauth_error(401, "invalid_client", "The OAuth client was not found.")
    if client.client_secret is not None and not hmac.compare_digest(
        (secret or "").encode(), client.client_secret.encode()
    ):
        raise oauth_error(401, "invalid_client", "Unauthorized")
    return client


def _check_pkce(code: AuthCode, verifier: str | None) -> None:
    if code.code_challenge is None:
        return
    if not verifier:
        raise oauth_error(400, "invalid_grant", "Missing code verifier.")
    if code.code_challenge_method == "S256":
        derived = b64url(hashlib.sha256(verifier.encode()).digest())
    else:
        derived = verifier
    if not _VERIFIER.match(verifier) or not hmac.compare_digest(derived, code.code_challenge):
        raise oauth_error(400, "invalid_grant", "Invalid code verifier.")


def _prune_codes(emu: Emulator, now: float) -> None:
    """Forget codes expired over an hour ago (reuse of a recent one still says redeemed)."""
    for key in [k for k, c in emu.auth_codes.items() if c.expires < now - 3600]:
        del emu.auth_codes[key]


def _exchange_code(emu: Emulator, req: Request, form: dict[str, str]) -> tuple[Response, str]:
    """``grant_type=authorization_code``: the sign-in's tokens, once per code."""
    client = authenticate_client(emu, req, form)
    now = emu.clock.now()
    _prune_codes(emu, now)
    text = form.get("code")
    if not text:
        raise oauth_error(400, "invalid_request", "Missing required parameter: code")
    code = emu.auth_codes.get(text)
    if code is None:
        raise oauth_error(400, "invalid_grant", "Malformed auth code.")
    if code.client_id != client.client_id:
        raise oauth_error(400, "invalid_grant", "Bad Request")
    if code.used:
        raise oauth_error(400, "invalid_grant", "Code was already redeemed.")
    if code.expires <= now:
        raise oauth_error(400, "invalid_grant", "Code has expired.")
    redirect_uri = form.get("redirect_uri")
    if not redirect_uri:
        raise oauth_error(400, "invalid_request", "Missing parameter: redirect_uri")
    if redirect_uri != code.redirect_uri:
        raise oauth_error(400, "redirect_uri_mismatch", "Bad Request")
    _check_pkce(code, form.get("code_verifier"))
    user = emu.users.get(code.email)
    if user is None:
        raise oauth_error(400, "invalid_grant", "Account has been deleted")
    code.used = True
    had_refresh = any(
        g.email == code.email
        and g.client_id == client.client_id
        and not g.revoked
        and g.refresh_token is not None
        for g in emu.grants.values()
    )
    grant = new_grant(emu, code.email, AUTHORIZATION_CODE, client.client_id, code.scopes)
    user.client_ids.add(client.client_id)
    scope = scopes.join(code.scopes)
    access = issue_access_token(emu, code.email, scope, grant.id)
    body: JSON = {"access_token": access["access_token"], "expires_in": access["expires_in"]}
    if code.offline and (code.force_consent or not had_refresh):
        body["refresh_token"] = _attach_refresh_token(emu, grant)
    body["scope"] = scope
    body["token_type"] = "Bearer"
    if scopes.OPENID in code.scopes:
        body["id_token"] = mint_id_token(
            emu, code.email, client.client_id, code.scopes, access["access_token"], code.nonce
        )
    return json_response(body), code.email


def _refresh_sign_in(emu: Emulator, req: Request, form: dict[str, str], grant: Grant) -> Response:
    """Refresh of a sign-in's token: bound to its client, at most the granted scopes."""
    client = authenticate_client(emu, req, form)
    if client.client_id != grant.client_id:
        raise oauth_error(400, "unauthorized_client", "Unauthorized")
    granted = grant.scopes or []
    asked = scopes.parse(form.get("scope"))
    if asked and not set(asked) <= set(granted):
        raise oauth_error(400, "invalid_scope", "Bad Request")
    chosen = asked or granted
    body = issue_access_token(emu, grant.email, scopes.join(chosen), grant.id)
    if scopes.OPENID in chosen:
        body["id_token"] = mint_id_token(
            emu, grant.email, client.client_id, chosen, body["access_token"]
        )
    return json_response(body)


def revoke_endpoint(emu: Emulator, req: Request) -> tuple[Response, str | None]:
    """``POST /revoke`` with ``token`` (form or query): a refresh token (its grant, with
    the access tokens minted from it) or an access token (and its grant's refresh token)."""
    token = _form(req).get("token") or req.q("token")
    if not token:
        raise oauth_error(400, "invalid_request", "Missing required parameter: token")
    with emu.lock:
        email = emu.refresh_tokens.get(token)
        if email is not None:
            owner = emu.grants.get(emu.grant_by_refresh.get(token, ""))
            if owner is not None:
                revoke_grant(emu, owner, "revoke endpoint")
            else:
                del emu.refresh_tokens[token]
            return json_response({}), email
        info = emu.access_tokens.get(token)
        if info is not None and info.expires > emu.clock.now():
            owner = emu.grants.get(info.grant_id or "")
            if owner is not None:
                revoke_grant(emu, owner, "revoke endpoint")
            emu.access_tokens.pop(token, None)
            return json_response({}), info.email
    raise oauth_error(400, "invalid_token", "Token expired or revoked")


def authenticate(emu: Emulator, req: Request, api: str) -> str:
    """The user behind the request's bearer token, or the API's 401 (no or dead token) or
    403 (the token's scopes do not cover the call)."""
    return authenticate_caller(emu, req, api).email


def authenticate_caller(emu: Emulator, req: Request, api: str) -> Caller:
    """:func:`authenticate`, answering the caller with the token's scopes and grant."""
    header = req.header("authorization") or ""
    scheme, _, token = header.partition(" ")
    with emu.lock:
        info = emu.access_tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if info is None or info.expires <= emu.clock.now():
            raise meet_error(401) if api in ("meet", "events") else calendar_auth_error()
        scopes.require(info.scope, api, req)
        return Caller(info.email, frozenset(scopes.parse(info.scope)), info.grant_id)
