"""The OAuth adapter (`shared.google.oauth`) and per-user credentials against the workspace
emulator on a thread: code exchange with the ID token verified by google-auth, revocation,
the delegation proof, and credentials that follow the user's record."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from cryptography.fernet import Fernet

from devstack.browser import click, query_of, read_consent
from emulator.server import RunningEmulator, start
from shared.domain.errors import AuthRevokedError, IdentityError
from shared.domain.models import User
from shared.domain.signin import PRODUCT_SCOPES, pkce_challenge
from shared.google.api import Apis, Backoff
from shared.google.credentials import DelegationProvider, StoredRefreshTokens, UserCredentials
from shared.google.oauth import GoogleOAuth, pem_keys
from shared.google.workspace import CalendarAdapter
from shared.memory import MemoryStore

ALICE, BOB = "alice@example.com", "bob@example.com"
CLIENT, SECRET = "client-1.apps.googleusercontent.com", "client-1-secret"
REDIRECT = "http://127.0.0.1:9/oauth/callback"  # never visited: the redirect is read
EVENT = {
    "summary": "x",
    "start": {"dateTime": "2026-12-01T10:00:00Z"},
    "end": {"dateTime": "2026-12-01T11:00:00Z"},
}


@pytest.fixture(scope="module")
def server() -> Iterator[RunningEmulator]:
    running = start()
    try:
        yield running
    finally:
        running.stop()


class Emu:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = requests.Session()

    def __call__(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.url}/_emulator/{path}", json=body, timeout=10)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def oauth(self, client_id: str = CLIENT) -> GoogleOAuth:
        return GoogleOAuth(
            token_uri=f"{self.url}/token",
            revoke_uri=f"{self.url}/revoke",
            certs_uri=f"{self.url}/oauth2/v3/certs",
            client_id=client_id,
            client_secret=SECRET,
            delegation=DelegationProvider(
                service_account="sa@p.iam.gserviceaccount.com",
                token_uri=f"{self.url}/token",
                iam_root=f"{self.url}/",
            ),
        )

    def code(self, email: str, verifier: str, **extra: str) -> str:
        """Sign in as `email` at the consent page and click Allow: the code."""
        params = {
            "client_id": CLIENT,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": " ".join((*PRODUCT_SCOPES, "openid", "email")),
            "access_type": "offline",
            "prompt": "consent",
            "login_hint": email,
            "state": "s",
            "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
            **extra,
        }
        page = read_consent(self.http, f"{self.url}/o/oauth2/v2/auth?{urlencode(params)}")
        return query_of(click(self.http, page, "allow"))["code"]

    def tokens(self, email: str) -> dict[str, Any]:
        """The raw token answer of a sign-in (to get at the ID token itself)."""
        verifier = secrets.token_urlsafe(48)
        form = {
            "grant_type": "authorization_code",
            "code": self.code(email, verifier),
            "redirect_uri": REDIRECT,
            "client_id": CLIENT,
            "client_secret": SECRET,
            "code_verifier": verifier,
        }
        body: dict[str, Any] = requests.post(f"{self.url}/token", data=form, timeout=10).json()
        return body


@pytest.fixture
def emu(server: RunningEmulator) -> Emu:
    control = Emu(server.url)
    control("POST", "reset", {})
    control(
        "POST",
        "oauth/clients",
        {"client_id": CLIENT, "client_secret": SECRET, "redirect_uris": [REDIRECT]},
    )
    for email in (ALICE, BOB):
        control("POST", "users", {"email": email})
    return control


def test_an_exchange_verifies_the_id_token_and_reads_what_was_granted(emu: Emu) -> None:
    verifier = secrets.token_urlsafe(48)
    sign_in = emu.oauth().exchange_code(
        emu.code(ALICE, verifier), redirect_uri=REDIRECT, code_verifier=verifier
    )
    assert (sign_in.email, sign_in.email_verified) == (ALICE, True)
    assert set(PRODUCT_SCOPES) <= sign_in.scopes
    assert sign_in.refresh_token.startswith("1//")
    assert sign_in.refresh_token not in repr(sign_in)


def test_a_code_is_good_once_and_only_with_its_verifier(emu: Emu) -> None:
    verifier = secrets.token_urlsafe(48)
    code = emu.code(ALICE, verifier)
    oauth = emu.oauth()
    with pytest.raises(AuthRevokedError) as wrong:
        oauth.exchange_code(code, redirect_uri=REDIRECT, code_verifier=secrets.token_urlsafe(48))
    assert wrong.value.reason == "invalid_grant"
    oauth.exchange_code(code, redirect_uri=REDIRECT, code_verifier=verifier)
    with pytest.raises(AuthRevokedError) as replayed:
        oauth.exchange_code(code, redirect_uri=REDIRECT, code_verifier=verifier)
    assert replayed.value.reason == "invalid_grant"


def _resigned(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = BOB
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_id_tokens_are_checked_for_signature_audience_issuer_and_time(emu: Emu) -> None:
    token = str(emu.tokens(ALICE)["id_token"])
    oauth = emu.oauth()
    assert oauth.verify_id_token(token)["email"] == ALICE
    for bad in (_resigned(token), token[:-4] + "AAAA", "not.a.jwt", "", token + ".x"):
        with pytest.raises(IdentityError) as rejected:
            oauth.verify_id_token(bad)
        assert token.split(".")[1] not in str(rejected.value)  # the reason may be logged
    with pytest.raises(IdentityError, match="audience"):
        emu.oauth("someone-else.apps.googleusercontent.com").verify_id_token(token)
    emu("POST", "oauth/keys/rotate", {})  # the previous key stays published
    assert oauth.verify_id_token(token)["sub"]
    emu("POST", "config", {"id_token_issuer": "https://accounts.evil.example"})
    with pytest.raises(IdentityError, match="not issued by Google"):
        oauth.verify_id_token(str(emu.tokens(ALICE)["id_token"]))
    emu("POST", "config", {"id_token_issuer": "https://accounts.google.com"})
    emu("POST", "clock", {"advance_seconds": 7200})  # issued two hours ahead of us
    with pytest.raises(IdentityError):
        oauth.verify_id_token(str(emu.tokens(ALICE)["id_token"]))


def test_both_published_key_forms_give_the_same_keys(emu: Emu) -> None:
    v3 = requests.get(f"{emu.url}/oauth2/v3/certs", timeout=5).json()
    v1 = requests.get(f"{emu.url}/oauth2/v1/certs", timeout=5).json()
    assert set(pem_keys(v3)) == set(pem_keys(v1)) and pem_keys(v1) == v1


def test_revoking_a_refresh_token_ends_the_grant_and_twice_is_harmless(emu: Emu) -> None:
    refresh = str(emu.tokens(ALICE)["refresh_token"])
    oauth = emu.oauth()
    assert oauth.revoke(refresh) is True
    assert oauth.revoke(refresh) is False
    grants = emu("GET", f"oauth/grants?email={ALICE}")
    [grant] = [g for g in grants if g["source"] == "authorization_code"]
    assert grant["revoked"] and grant["revoked_by"] == "revoke endpoint"


def test_delegation_is_proven_by_minting_a_token(emu: Emu) -> None:
    oauth = emu.oauth()
    oauth.prove_delegation(ALICE)
    with pytest.raises(AuthRevokedError) as unknown:
        oauth.prove_delegation("nobody@example.com")
    assert unknown.value.reason == "invalid_grant"
    emu("POST", f"users/{BOB}/revoke", {})  # the admin withdrew domain-wide delegation
    with pytest.raises(AuthRevokedError) as withdrawn:
        oauth.prove_delegation(BOB)
    assert withdrawn.value.reason == "unauthorized_client"


def test_credentials_follow_each_users_record_without_a_restart(emu: Emu) -> None:
    key = Fernet.generate_key().decode()
    store = MemoryStore()
    vault = StoredRefreshTokens(store, key)
    first = str(emu.tokens(ALICE)["refresh_token"])
    store.put_user(
        User(email=ALICE, auth_mode="refresh_token", refresh_token_enc=vault.seal(first))
    )
    store.put_user(User(email=BOB, auth_mode="delegation"))
    credentials = UserCredentials(
        users=store,
        default_mode="delegation",
        delegation=DelegationProvider(
            service_account="sa@p.iam.gserviceaccount.com",
            token_uri=f"{emu.url}/token",
            iam_root=f"{emu.url}/",
        ),
        vault=vault,
        token_uri=f"{emu.url}/token",
        client_id=CLIENT,
        client_secret=SECRET,
    )
    calendar = CalendarAdapter(
        Apis(
            calendar_root=f"{emu.url}/",
            meet_root=f"{emu.url}/",
            credentials=credentials,
            backoff=Backoff(retries=1, base=0.01),
        )
    )
    emu("DELETE", "requests")
    calendar.insert_event(ALICE, "primary", EVENT)
    calendar.insert_event(BOB, "primary", EVENT)
    log = [(r["api"], r["user"]) for r in emu("GET", "requests")]
    assert log == [
        ("oauth", ALICE),  # alice's refresh token
        ("calendar", ALICE),
        ("iam", None),  # bob: delegation, signed through IAM
        ("oauth", BOB),
        ("calendar", BOB),
    ]

    # alice revokes the app, then reconnects: a new refresh token in her record, the
    # same (cached) credentials pick it up on the 401
    emu.oauth().revoke(first)
    second = str(emu.tokens(ALICE)["refresh_token"])
    store.put_user(
        User(email=ALICE, auth_mode="refresh_token", refresh_token_enc=vault.seal(second))
    )
    assert calendar.insert_event(ALICE, "primary", EVENT)["id"]
