"""Google sign-in: the authorization endpoint, its consent page, and the published keys.

``GET /o/oauth2/v2/auth`` validates the request as Google does: a missing or unknown
``client_id`` or a ``redirect_uri`` not registered for the client is an HTML error
page (never a redirect: the redirect target is not trusted yet); every other problem
redirects to ``redirect_uri`` with ``error`` and ``state``. A valid request gets a
plain-HTML consent page (no JavaScript): the account (from ``login_hint``) or a
chooser of the emulator's users, the scopes as checkboxes (granular consent; sign-in
scopes cannot be unticked), and the ``allow`` / ``deny`` buttons, which post to
``/o/oauth2/v2/auth/decision``. Allow redirects with ``code``, ``state`` and the
granted ``scope``; Deny with ``error=access_denied``. The code is exchanged at
``POST /token`` (``oauth.py``).
"""

from __future__ import annotations

import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from emulator import oauth, scopes
from emulator.errors import oauth_error
from emulator.state import AuthCode, AuthRequest, Emulator, OAuthClient, User
from emulator.wire import Request, Response, json_response

JSON = dict[str, Any]

AUTH_PATH = "/o/oauth2/v2/auth"
DECISION_PATH = AUTH_PATH + "/decision"
JWKS_PATH = "/oauth2/v3/certs"
PEM_CERTS_PATH = "/oauth2/v1/certs"
REVOKE_PATH = "/revoke"
DISCOVERY_PATH = "/.well-known/openid-configuration"
PATHS = frozenset(
    {AUTH_PATH, DECISION_PATH, JWKS_PATH, PEM_CERTS_PATH, REVOKE_PATH, DISCOVERY_PATH}
)
"""Everything this module answers (``server.classify`` files them under ``oauth``)."""

PENDING_TTL = 3600
"""A consent page can be answered for an hour of emulator time."""
_PROMPTS = {"none", "consent", "select_account"}
_CHALLENGE = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class _Redirect(Exception):
    """A validation failure reported to the client by redirect."""

    def __init__(self, error: str, description: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.description = description


# -- responses ---------------------------------------------------------------------------


def _html(body: str, status: int = 200, title: str = "Sign in - Google Accounts") -> Response:
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}"
        "li{margin:.4em 0}button{margin-right:1em;padding:.4em 1.2em}</style>"
        f"</head><body>\n{body}\n</body></html>\n"
    )
    return Response(
        status,
        page.encode(),
        {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
    )


def error_page(status: int, error: str, description: str) -> Response:
    """Google's "Access blocked" page: shown, never redirected."""
    body = (
        "<h1>Access blocked: this app's request is invalid</h1>\n"
        f'<p>Error {status}: <code id="error">{html.escape(error)}</code></p>\n'
        f'<p id="error-description">{html.escape(description)}</p>'
    )
    return _html(body, status, title="Error " + str(status) + " (" + error + ")")


def _redirect(uri: str, params: dict[str, str | None]) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    sep = "&" if urlsplit(uri).query else "?"
    return Response(302, b"", {"Location": uri + sep + query, "Cache-Control": "no-store"})


def _error_redirect(uri: str, state: str | None, error: str, description: str | None) -> Response:
    return _redirect(uri, {"error": error, "error_description": description, "state": state})


# -- validation ---------------------------------------------------------------------------


def redirect_allowed(client: OAuthClient, uri: str) -> bool:
    """Exact match with a registered URI, or any loopback URI for a loopback client."""
    if uri in client.redirect_uris:
        return True
    if not client.allow_loopback:
        return False
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS and not parts.fragment


def _params(req: Request) -> dict[str, str]:
    merged = {k: v[-1] for k, v in req.query.items()}
    if req.method == "POST":
        body = parse_qs(req.body.decode(errors="replace"), keep_blank_values=True)
        merged.update({k: v[-1] for k, v in body.items()})
    return merged


def find_user(emu: Emulator, hint: str) -> User | None:
    """The user a ``login_hint`` names: an email (any case) or a ``sub``."""
    for user in emu.users.values():
        if user.email.lower() == hint.strip().lower() or oauth.user_sub(user.email) == hint:
            return user
    return None


def _validate(emu: Emulator, p: dict[str, str], client: OAuthClient, uri: str) -> AuthRequest:
    """Everything after client and redirect URI; failures become redirects."""
    response_type = p.get("response_type")
    if not response_type:
        raise _Redirect("invalid_request", "Missing required parameter: response_type")
    if response_type != "code":
        raise _Redirect("unsupported_response_type", f"Invalid response_type: {response_type}")
    requested = scopes.parse(p.get("scope"))
    if not requested:
        raise _Redirect("invalid_request", "Missing required parameter: scope")
    bad = scopes.invalid(requested)
    if bad:
        raise _Redirect("invalid_scope", f"Some requested scopes were invalid. {{invalid={bad}}}")
    access_type = p.get("access_type") or "online"
    if access_type not in ("online", "offline"):
        raise _Redirect("invalid_request", f"Invalid access_type: {access_type}")
    prompt = (p.get("prompt") or "").split()
    if set(prompt) - _PROMPTS or ("none" in prompt and len(prompt) > 1):
        raise _Redirect("invalid_request", f"Invalid prompt: {p.get('prompt')}")
    include = (p.get("include_granted_scopes") or "false").lower()
    if include not in ("true", "false"):
        raise _Redirect("invalid_request", f"Invalid include_granted_scopes: {include}")
    challenge, method = p.get("code_challenge") or None, p.get("code_challenge_method") or None
    if method and not challenge:
        raise _Redirect("invalid_request", "Missing required parameter: code_challenge")
    if challenge:
        method = method or "plain"
        if method not in ("S256", "plain"):
            raise _Redirect("invalid_request", f"Invalid code_challenge_method: {method}")
        if not _CHALLENGE.match(challenge):
            raise _Redirect("invalid_request", "Invalid code_challenge")
    return AuthRequest(
        id=secrets.token_urlsafe(18),
        client_id=client.client_id,
        redirect_uri=uri,
        scopes=requested,
        state=p.get("state"),
        access_type=access_type,
        prompt=prompt,
        include_granted_scopes=include == "true",
        login_hint=p.get("login_hint") or None,
        code_challenge=challenge,
        code_challenge_method=method if challenge else None,
        nonce=p.get("nonce") or None,
        created=emu.clock.now(),
    )


# -- granting -----------------------------------------------------------------------------


def _previously_granted(emu: Emulator, email: str, client_id: str) -> list[str]:
    out: list[str] = []
    for grant in emu.grants.values():
        if grant.email == email and grant.client_id == client_id and not grant.revoked:
            out += [s for s in grant.scopes or [] if s not in out]
    return out


def _issue_code(emu: Emulator, ar: AuthRequest, email: str, granted: list[str]) -> Response:
    if ar.include_granted_scopes:
        granted = granted + [
            s for s in _previously_granted(emu, email, ar.client_id) if s not in granted
        ]
    code = AuthCode(
        code="4/0Aemu-" + secrets.token_urlsafe(40),
        client_id=ar.client_id,
        redirect_uri=ar.redirect_uri,
        email=email,
        scopes=granted,
        offline=ar.access_type == "offline",
        force_consent="consent" in ar.prompt,
        code_challenge=ar.code_challenge,
        code_challenge_method=ar.code_challenge_method,
        nonce=ar.nonce,
        expires=emu.clock.now() + float(emu.config["authorization_code_ttl_seconds"]),
    )
    emu.auth_codes[code.code] = code
    emu.issued.authorization_codes.add(code.code)
    emu.users[email].revoked = False  # a new authorization, as POST /_emulator/users
    return _redirect(
        ar.redirect_uri, {"state": ar.state, "code": code.code, "scope": scopes.join(granted)}
    )


def _silent(emu: Emulator, ar: AuthRequest) -> Response:
    """``prompt=none``: a code only when the hinted user already granted every scope."""
    user = find_user(emu, ar.login_hint) if ar.login_hint else None
    if user is None:
        raise _Redirect("login_required", "The user must sign in.")
    if not set(ar.scopes) <= set(_previously_granted(emu, user.email, ar.client_id)):
        raise _Redirect("consent_required", "The user must consent.")
    return _issue_code(emu, ar, user.email, ar.scopes)


def authorize(emu: Emulator, req: Request) -> Response:
    """``GET /o/oauth2/v2/auth``: an error page, an error redirect, or the consent page."""
    p = _params(req)
    client_id = p.get("client_id")
    with emu.lock:
        if not client_id:
            return error_page(400, "invalid_request", "Missing required parameter: client_id")
        client = emu.oauth_clients.get(client_id)
        if client is None:
            return error_page(401, "invalid_client", "The OAuth client was not found.")
        uri = p.get("redirect_uri")
        if not uri:
            return error_page(400, "invalid_request", "Missing required parameter: redirect_uri")
        if not redirect_allowed(client, uri):
            return error_page(
                400,
                "redirect_uri_mismatch",
                f"redirect_uri={uri} is not registered for the OAuth client {client_id}.",
            )
        try:
            ar = _validate(emu, p, client, uri)
            if "none" in ar.prompt:
                return _silent(emu, ar)
        except _Redirect as exc:
            return _error_redirect(uri, p.get("state"), exc.error, exc.description)
        fixed: User | None = None
        if ar.login_hint:
            fixed = find_user(emu, ar.login_hint)
            if fixed is None:
                return error_page(
                    400, "account_not_found", f"Couldn't find your Google Account: {ar.login_hint}"
                )
        now = emu.clock.now()
        for key in [k for k, v in emu.auth_requests.items() if v.created + PENDING_TTL <= now]:
            del emu.auth_requests[key]  # pages nobody answered
        emu.auth_requests[ar.id] = ar
        users = sorted(emu.users)
        choose = fixed is None or "select_account" in ar.prompt
        return _html(_consent_body(client, ar, fixed.email if fixed else None, users, choose))


def _account_id(email: str) -> str:
    return "account-" + re.sub(r"[^a-z0-9]+", "-", email.lower()).strip("-")


def _consent_body(
    client: OAuthClient, ar: AuthRequest, hinted: str | None, users: list[str], choose: bool
) -> str:
    e = html.escape
    out = [
        "<h1>Sign in with Google</h1>",
        f'<p><b id="client-name">{e(client.name)}</b> wants to access your Google Account.</p>',
        f'<form id="consent" method="post" action="{DECISION_PATH}">',
        f'<input type="hidden" name="auth_request" value="{e(ar.id)}">',
        '<input type="hidden" name="scope_choice" value="1">',
    ]
    if choose:
        out.append('<fieldset id="accounts"><legend>Choose an account</legend>')
        if not users:
            out.append('<p id="no-accounts">No accounts (add one: POST /_emulator/users).</p>')
        for email in users:
            aid = _account_id(email)
            checked = " checked" if email == hinted else ""
            out.append(
                f'<div><input type="radio" name="account" id="{aid}" value="{e(email)}"'
                f' required{checked}> <label for="{aid}">{e(email)}</label></div>'
            )
        out.append("</fieldset>")
    else:
        assert hinted is not None
        out.append(f'<p>Signing in as <b id="account" data-email="{e(hinted)}">{e(hinted)}</b></p>')
        out.append(f'<input type="hidden" name="account" value="{e(hinted)}">')
    out.append(f"<p>{e(client.name)} wants to:</p>")
    out.append('<ul id="scopes">')
    for scope in ar.scopes:
        sid = "scope-" + scopes.slug(scope)
        fixed = " disabled" if scope in scopes.IDENTITY else ""
        out.append(
            f'<li><input type="checkbox" name="scope" id="{sid}" value="{e(scope)}"'
            f' checked{fixed}> <label for="{sid}">{e(scopes.describe(scope))}'
            f" <small><code>{e(scope)}</code></small></label></li>"
        )
    out.append("</ul>")
    out.append(
        '<p><button type="submit" name="action" value="deny" id="deny" formnovalidate>'
        "Deny</button>"
        '<button type="submit" name="action" value="allow" id="allow">Allow</button></p>'
    )
    out.append("</form>")
    return "\n".join(out)


def decide(emu: Emulator, req: Request) -> tuple[Response, str | None]:
    """``POST /o/oauth2/v2/auth/decision``: the consent page's Allow or Deny."""
    form = parse_qs(req.body.decode(errors="replace"), keep_blank_values=True)

    def one(name: str) -> str | None:
        values = form.get(name)
        return values[-1] if values else None

    with emu.lock:
        ar = emu.auth_requests.get(one("auth_request") or "")
        if ar is None or ar.created + PENDING_TTL <= emu.clock.now():
            return error_page(
                400, "invalid_request", "This sign-in request has expired or was answered."
            ), None
        action = one("action")
        if action == "deny":
            del emu.auth_requests[ar.id]
            return _error_redirect(ar.redirect_uri, ar.state, "access_denied", None), None
        if action != "allow":
            return error_page(400, "invalid_request", "action must be allow or deny"), None
        hinted = find_user(emu, ar.login_hint) if ar.login_hint else None
        chosen = one("account") if hinted is None or "select_account" in ar.prompt else None
        user = find_user(emu, chosen) if chosen else hinted
        if user is None:
            return error_page(400, "invalid_request", "Choose an account to continue."), None
        del emu.auth_requests[ar.id]
        identity = [s for s in ar.scopes if s in scopes.IDENTITY]
        if emu.next_consent_scopes is not None:
            keep = set(emu.next_consent_scopes)
            emu.next_consent_scopes = None
        elif one("scope_choice"):
            keep = {scopes.normalise(s) for s in form.get("scope", [])}
        else:
            keep = set(ar.scopes)
        granted = [s for s in ar.scopes if s in keep or s in identity]
        if not granted:
            return _error_redirect(ar.redirect_uri, ar.state, "access_denied", None), user.email
        return _issue_code(emu, ar, user.email, granted), user.email


# -- published metadata -------------------------------------------------------------------


def discovery(emu: Emulator, req: Request) -> JSON:
    """The OpenID Connect discovery document, endpoints on this emulator."""
    base = "http://" + (req.header("host") or "127.0.0.1")
    return {
        "issuer": str(emu.config["id_token_issuer"]),
        "authorization_endpoint": base + AUTH_PATH,
        "token_endpoint": base + "/token",
        "revocation_endpoint": base + REVOKE_PATH,
        "jwks_uri": base + JWKS_PATH,
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": [
            "aud",
            "email",
            "email_verified",
            "exp",
            "iat",
            "iss",
            "name",
            "given_name",
            "sub",
            "azp",
            "at_hash",
            "nonce",
        ],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
        ],
    }


def _certs(payload: JSON | dict[str, str]) -> Response:
    resp = json_response(payload)
    resp.headers["Cache-Control"] = "public, max-age=3600, must-revalidate, no-transform"
    return resp


def handle(emu: Emulator, req: Request) -> tuple[Response, str | None]:
    """Route the sign-in paths in :data:`PATHS`; answers the response and its user."""
    path, method = req.path, req.method
    if path == AUTH_PATH and method in ("GET", "POST"):
        return authorize(emu, req), None
    if path == DECISION_PATH and method == "POST":
        return decide(emu, req)
    if path == REVOKE_PATH and method == "POST":
        return oauth.revoke_endpoint(emu, req)
    if method == "GET" and path == JWKS_PATH:
        return _certs(emu.id_token_keys.jwks()), None
    if method == "GET" and path == PEM_CERTS_PATH:
        return _certs(emu.id_token_keys.pem_certs()), None
    if method == "GET" and path == DISCOVERY_PATH:
        return json_response(discovery(emu, req)), None
    raise oauth_error(405, "invalid_request", f"Method not allowed: {method} {path}")
