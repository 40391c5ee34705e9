"""Google sign-in (authorization-code flow): consent page, code exchange, ID tokens."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers
from google.auth import jwt

from tests.emulator.signin_support import (
    CALENDAR,
    CLIENT_ID,
    CLIENT_SECRET,
    EMAIL,
    MEET,
    REDIRECT,
    SignIn,
    pkce_pair,
    query_of,
)
from tests.emulator.support import Harness, make_credentials, run

A = "alice@example.com"
B = "bob@example.com"
AUTH_DRIVE = "https://www.googleapis.com/auth/drive"


@pytest.fixture
def s(h: Harness) -> SignIn:
    return SignIn(h)


def _b64int(text: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


def _jwks_pems(s: SignIn) -> dict[str, str]:
    """The JWK Set at /oauth2/v3/certs as {kid: PEM public key} for google.auth.jwt."""
    jwks = s.http.get(f"{s.h.url}/oauth2/v3/certs", timeout=5).json()
    out = {}
    for key in jwks["keys"]:
        assert set(key) == {"kty", "alg", "use", "kid", "n", "e"}
        assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
        public = RSAPublicNumbers(_b64int(key["e"]), _b64int(key["n"])).public_key()
        pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        out[key["kid"]] = pem.decode()
    return out


def test_allow_gives_a_code_whose_exchange_yields_working_tokens(h: Harness, s: SignIn) -> None:
    h.add_user(A)
    verifier, challenge = pkce_pair()
    params = s.auth_params(
        login_hint=A, nonce="n-0S6_WzA2Mj", code_challenge=challenge, code_challenge_method="S256"
    )
    page = s.consent(**params)
    assert page.action == "/o/oauth2/v2/auth/decision"
    assert page.by_id("allow").get("value") == "allow"
    assert page.by_id("deny").get("value") == "deny"
    assert "alice@example.com" in page.text and not page.ids("account-")  # no chooser
    assert sorted(page.ids("scope-")) == [
        "scope-calendar",
        "scope-meetings-space-created",
        "scope-openid",
        "scope-userinfo-email",
    ]
    assert page.by_id("scope-openid").has("disabled")  # sign-in scopes cannot be unticked

    redirect = s.post(page, page.submit("allow"))
    assert redirect.status_code == 302
    back = query_of(redirect.headers["Location"])
    assert set(back) == {"code", "state", "scope"}
    assert back["state"] == params["state"]
    assert set(back["scope"].split()) == {"openid", EMAIL, CALENDAR, MEET}

    resp = s.exchange(back["code"], code_verifier=verifier)
    assert resp.status_code == 200, resp.text
    tokens = resp.json()
    assert set(tokens) == {
        "access_token",
        "expires_in",
        "refresh_token",
        "scope",
        "token_type",
        "id_token",
    }
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert set(tokens["scope"].split()) == set(back["scope"].split())

    claims = s.verify(tokens["id_token"])
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["aud"] == claims["azp"] == CLIENT_ID
    assert claims["sub"].isdigit() and len(claims["sub"]) == 21
    assert claims["email"] == A and claims["email_verified"] is True
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["exp"] - claims["iat"] == 3600
    digest = hashlib.sha256(tokens["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    # the same token verifies with the JWK Set (keys picked by the header's kid)
    header = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[0] + "=="))
    assert header["alg"] == "RS256"
    pems = _jwks_pems(s)
    assert header["kid"] in pems
    decoded = jwt.decode(  # type: ignore[no-untyped-call]
        tokens["id_token"], certs=pems, audience=CLIENT_ID
    )
    assert decoded["sub"] == claims["sub"]
    with pytest.raises(ValueError, match="audience"):
        jwt.decode(  # type: ignore[no-untyped-call]
            tokens["id_token"], certs=pems, audience="someone-else"
        )

    # the access token works like any other against Calendar and Meet
    bare = make_credentials(token=tokens["access_token"])
    assert run(h.calendar(A, credentials=bare).calendars().get(calendarId="primary"))["id"] == A
    assert run(h.meet(A, credentials=bare).spaces().create(body={}))["name"]
    # the refresh token works with the usual refresh flow (google-auth Credentials)
    refreshing = make_credentials(
        token=None,
        refresh_token=tokens["refresh_token"],
        token_uri=f"{h.url}/token",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
    )
    run(h.calendar(A, credentials=refreshing).events().list(calendarId="primary"))
    assert h.control("GET", "/users")[0]["client_ids"] == [CLIENT_ID]

    listed = h.control("GET", "/secrets")
    everything = {v for values in listed.values() for v in values}
    assert {back["code"], tokens["access_token"], tokens["refresh_token"]} <= everything
    assert tokens["id_token"] in everything and refreshing.token in everything


def test_account_chooser_lists_users_and_the_pick_signs_in(h: Harness, s: SignIn) -> None:
    h.add_user(A)
    h.add_user(B)
    page = s.consent()
    assert page.ids("account-") == ["account-alice-example-com", "account-bob-example-com"]
    assert page.by_id("account-bob-example-com").get("value") == B
    back = s.post(page, page.submit("allow", pick="account-bob-example-com"))
    code = query_of(back.headers["Location"])["code"]
    claims = s.verify(s.exchange(code).json()["id_token"])
    assert claims["email"] == B
    other = s.verify(s.tokens(login_hint=A)["id_token"])
    assert other["email"] == A and other["sub"] != claims["sub"]
    again = s.verify(s.tokens(login_hint=A)["id_token"])
    assert again["sub"] == other["sub"]  # stable per user
    switch = s.consent(login_hint=A, prompt="select_account")
    assert switch.ids("account-") == ["account-alice-example-com", "account-bob-example-com"]
    assert switch.by_id("account-alice-example-com").has("checked")  # the hint, preselected
    picked = s.post(switch, switch.submit("allow", pick="account-bob-example-com"))
    code = query_of(picked.headers["Location"])["code"]
    assert s.verify(s.exchange(code).json()["id_token"])["email"] == B


def test_deny_redirects_with_access_denied(h: Harness, s: SignIn) -> None:
    h.add_user(A)
    back = s.authorize(button="deny", login_hint=A, state="xyz")
    assert back == {"error": "access_denied", "state": "xyz"}
    grants = h.control("GET", "/oauth/grants")
    assert [g["source"] for g in grants] == ["control"]  # add_user's; none from the sign-in


def test_codes_are_single_use_short_lived_and_bound(h: Harness, s: SignIn) -> None:
    h.add_user(A)
    verifier, challenge = pkce_pair()

    def error_of(resp: Any) -> tuple[int, str]:
        return resp.status_code, resp.json()["error"]

    code = s.authorize(code_challenge=challenge, code_challenge_method="S256", login_hint=A)["code"]
    assert error_of(s.exchange(code, code_verifier=verifier + "x")) == (400, "invalid_grant")
    assert error_of(s.exchange(code)) == (400, "invalid_grant")  # verifier missing
    other = "http://127.0.0.1:9999/elsewhere"
    assert error_of(s.exchange(code, code_verifier=verifier, redirect_uri=other)) == (
        400,
        "redirect_uri_mismatch",
    )
    assert error_of(s.exchange(code, code_verifier=verifier, client_secret="wrong")) == (
        401,
        "invalid_client",
    )
    assert error_of(s.exchange(code, code_verifier=verifier, client_id="nobody")) == (
        401,
        "invalid_client",
    )
    assert s.exchange(code, code_verifier=verifier).status_code == 200
    reused = s.exchange(code, code_verifier=verifier)
    assert reused.status_code == 400
    assert reused.json() == {
        "error": "invalid_grant",
        "error_description": "Code was already redeemed.",
    }
    assert error_of(s.exchange("4/0Anonsense")) == (400, "invalid_grant")

    late = s.authorize(code_challenge=challenge, code_challenge_method="S256", login_hint=A)["code"]
    h.advance(601)  # codes live 10 minutes of emulator time
    assert error_of(s.exchange(late, code_verifier=verifier)) == (400, "invalid_grant")

    plain = s.authorize(code_challenge=verifier, code_challenge_method="plain", login_hint=A)
    assert s.exchange(plain["code"], code_verifier=verifier).status_code == 200


def test_authorization_errors_page_or_redirect_as_google_does(h: Harness, s: SignIn) -> None:
    h.add_user(A)
    for overrides, status, error in (
        ({"client_id": "unknown.apps.googleusercontent.com"}, 401, "invalid_client"),
        ({"client_id": None}, 400, "invalid_request"),
        ({"redirect_uri": "https://evil.example.com/cb"}, 400, "redirect_uri_mismatch"),
        ({"redirect_uri": None}, 400, "invalid_request"),
        ({"login_hint": "stranger@example.com"}, 400, "account_not_found"),
    ):
        page = s.get_auth(**overrides)
        assert page.status_code == status, overrides
        assert "Location" not in page.headers, overrides
        assert f'<code id="error">{error}</code>' in page.text, overrides

    for overrides, error in (
        ({"response_type": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": None}, "invalid_request"),
        ({"scope": "openid calendar-everything"}, "invalid_scope"),
        ({"access_type": "forever"}, "invalid_request"),
        ({"prompt": "none consent"}, "invalid_request"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "S512"}, "invalid_request"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request"),
        ({"include_granted_scopes": "maybe"}, "invalid_request"),
    ):
        resp = s.get_auth(state="st-1", **overrides)
        assert resp.status_code == 302, overrides
        back = query_of(resp.headers["Location"])
        assert resp.headers["Location"].startswith(REDIRECT + "?"), overrides
        assert (back["error"], back["state"]) == (error, "st-1"), overrides


def test_registered_clients_and_redirect_uris(h: Harness, s: SignIn) -> None:
    h.add_user(A)
    web = "https://app.example.com/oauth2/callback"
    client = h.control(
        "POST",
        "/oauth/clients",
        {
            "client_id": "web.apps.googleusercontent.com",
            "client_secret": "sek",
            "redirect_uris": [web],
        },
    )
    assert client == {
        "client_id": "web.apps.googleusercontent.com",
        "has_secret": True,
        "redirect_uris": [web],
        "allow_loopback": False,
        "name": "meetsync (emulated)",
    }
    listed = {c["client_id"]: c for c in h.control("GET", "/oauth/clients")}
    assert listed[CLIENT_ID]["allow_loopback"] is True  # the default client
    cid = client["client_id"]
    assert s.get_auth(client_id=cid, redirect_uri=REDIRECT).status_code == 400  # not loopback
    assert s.get_auth(client_id=cid, redirect_uri=web + "/").status_code == 400  # exact match
    code = s.authorize(client_id=cid, redirect_uri=web, login_hint=A)["code"]
    exchanged = s.exchange(code, client_id=cid, client_secret="sek", redirect_uri=web)
    assert exchanged.status_code == 200
    # loopback on any port and path for the default (desktop-style) client
    for uri in ("http://localhost:5000/cb", "http://[::1]:7000/x", "http://127.0.0.1:1/"):
        assert s.get_auth(redirect_uri=uri).status_code == 200, uri
    assert s.get_auth(redirect_uri="https://127.0.0.1:8443/cb").status_code == 400


def test_refresh_tokens_follow_access_type_and_prompt(h: Harness, s: SignIn) -> None:
    h.add_user(A)
    assert "refresh_token" not in s.tokens(login_hint=A, access_type="online")
    first = s.tokens(login_hint=A)
    assert first["refresh_token"]
    assert "refresh_token" not in s.tokens(login_hint=A)  # granted before: no new one
    forced = s.tokens(login_hint=A, prompt="consent")
    assert forced["refresh_token"] not in (None, first["refresh_token"])
    assert "id_token" not in s.tokens(login_hint=A, scope=CALENDAR)  # no openid, no id_token

    # a sign-in's refresh token belongs to its client and its granted scopes
    other = {"client_id": "other.apps.googleusercontent.com", "client_secret": "o"}
    h.control("POST", "/oauth/clients", other)
    stolen = s.refresh(first["refresh_token"], **other)
    assert (stolen.status_code, stolen.json()["error"]) == (400, "unauthorized_client")
    unknown = s.refresh(first["refresh_token"], client_id="nobody")
    assert (unknown.status_code, unknown.json()["error"]) == (401, "invalid_client")
    assert s.refresh(first["refresh_token"], client_secret="wrong").status_code == 401
    narrower = s.refresh(first["refresh_token"], scope=CALENDAR)
    assert narrower.status_code == 200 and narrower.json()["scope"] == CALENDAR
    wider = s.refresh(first["refresh_token"], scope=f"{CALENDAR} {AUTH_DRIVE}")
    assert (wider.status_code, wider.json()["error"]) == (400, "invalid_scope")
    renewed = s.refresh(first["refresh_token"]).json()
    assert set(renewed) == {"access_token", "expires_in", "scope", "token_type", "id_token"}
    assert s.verify(renewed["id_token"])["email"] == A


def test_include_granted_scopes_and_silent_prompt(h: Harness, s: SignIn) -> None:
    h.add_user(A)
    silent = s.get_auth(login_hint=A, prompt="none", scope=CALENDAR)
    assert query_of(silent.headers["Location"])["error"] == "consent_required"
    assert query_of(s.get_auth(prompt="none").headers["Location"])["error"] == "login_required"
    s.tokens(login_hint=A, scope=f"openid {CALENDAR}")
    more = s.authorize(login_hint=A, scope=MEET, include_granted_scopes="true")
    assert set(more["scope"].split()) == {"openid", CALENDAR, MEET}
    only = s.authorize(login_hint=A, scope=MEET)
    assert only["scope"] == MEET
    silent = s.get_auth(login_hint=A, prompt="none", scope=CALENDAR, state="s")
    back = query_of(silent.headers["Location"])
    assert back["scope"] == CALENDAR and back["state"] == "s"
    assert s.exchange(back["code"]).status_code == 200


def test_discovery_document_and_key_rotation(h: Harness, s: SignIn) -> None:
    h.add_user(A)
    doc = s.http.get(f"{h.url}/.well-known/openid-configuration", timeout=5).json()
    assert doc["issuer"] == "https://accounts.google.com"
    assert doc["authorization_endpoint"] == f"{h.url}/o/oauth2/v2/auth"
    assert doc["jwks_uri"] == f"{h.url}/oauth2/v3/certs"
    assert doc["revocation_endpoint"] == f"{h.url}/revoke"
    old = s.tokens(login_hint=A)["id_token"]
    keys = h.control("POST", "/oauth/keys/rotate")
    assert len(keys["kids"]) == 2 and keys["current"] == keys["kids"][0]
    new = s.tokens(login_hint=A)["id_token"]
    assert s.verify(old)["email"] == s.verify(new)["email"] == A  # both still published
    assert set(_jwks_pems(s)) == set(keys["kids"])
    h.configure(id_token_issuer=h.url)
    assert s.verify(s.tokens(login_hint=A)["id_token"])["iss"] == h.url


def test_auth_url_is_not_logged_with_secrets_and_post_is_accepted(h: Harness, s: SignIn) -> None:
    h.add_user(A)
    body = urlencode(s.auth_params(login_hint=A))
    resp = s.http.post(
        f"{h.url}/o/oauth2/v2/auth",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert resp.status_code == 200 and 'id="allow"' in resp.text
    logged = [r for r in h.requests_log() if r["path"].startswith("/o/oauth2")]
    assert [(r["api"], r["status"]) for r in logged] == [("oauth", 200)]
