"""Attacks on the public connect flow: forged, reused and foreign states (login CSRF), open
redirects, binding one user's tokens to another, and codes or ID tokens in the logs."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest
import requests

from devstack.browser import Browser, query_of, with_query
from shared.domain.signin import StateCodec
from tests.e2e.support import Env
from tests.security.leaks import Leak, assert_no_leaks, find_leaks, remember, session_secrets

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"


def answer(browser: Browser, url: str) -> tuple[int, str]:
    response = browser.get(url, json=True)
    return response.status_code, str(response.json().get("error", {}).get("reason", ""))


def unchanged(env: Env, *emails: str) -> None:
    """The seeded users are still the delegation users they were; nobody else exists."""
    for email in emails:
        user = env.store.get_user(email)
        assert user is not None and (user.auth_mode, user.version) == ("delegation", 0), user
    assert env.store.get_user(CAROL) is None


def _payload(state: str) -> dict[str, object]:
    body = state.split(".")[0]
    data: dict[str, object] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return data


def _with_payload(state: str, data: dict[str, object]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{body}.{state.split('.')[1]}"


def test_forged_states_are_refused(env: Env) -> None:
    browser = Browser(env.stack)
    callback = browser.sign_in(login_hint=ALICE)
    state = query_of(callback)["state"]
    other_key = StateCodec("not-the-deployments-key", 600)
    foreign, _, _ = other_key.issue(login_hint=ALICE, return_to="", now=dt.datetime.now(dt.UTC))
    forgeries = {
        "hint changed, old signature": _with_payload(state, {**_payload(state), "h": BOB}),
        "expiry pushed, old signature": _with_payload(state, {**_payload(state), "e": 2**40}),
        "signed with another key": foreign,
        "no signature": state.split(".")[0],
        "garbage": "A" * 40 + "." + "B" * 43,
        "huge": "A" * 5000,
    }
    for name, forged in forgeries.items():
        status, reason = answer(browser, with_query(callback, state=forged))
        assert (status, reason) == (400, "state_invalid"), name
    assert answer(browser, with_query(callback, state=None)) == (400, "state_missing")
    unchanged(env, ALICE, BOB)
    # the genuine callback was never used up by the forgeries
    assert browser.get(callback, json=True).json()["email"] == ALICE


def test_a_state_is_accepted_once_even_after_a_deny(env: Env) -> None:
    browser = Browser(env.stack)
    denied = browser.sign_in("deny", login_hint=ALICE)
    cookie = browser.http.cookies["meetsync-connect"]
    assert answer(browser, denied) == (403, "access_denied")
    # the same state again, now with a code obtained elsewhere: used already
    code = query_of(Browser(env.stack).sign_in(login_hint=ALICE))["code"]
    browser.http.cookies.set("meetsync-connect", cookie, domain="127.0.0.1", path="/")
    replay = with_query(denied, error=None, code=code)
    assert answer(browser, replay) == (400, "state_replayed")
    unchanged(env, ALICE)


def test_login_csrf_a_callback_from_another_browser_binds_nothing(env: Env) -> None:
    """Mallory (carol at Google) signs in with her own account and sends the callback link
    to alice, whose browser has a sign-in of its own going: alice must not end up connected
    as mallory, nor mallory bound to anything."""
    env.emu("POST", "users", {"email": CAROL})
    mallory = Browser(env.stack)
    link = mallory.sign_in(login_hint=CAROL)
    alice = Browser(env.stack)
    alice.start(login_hint=ALICE)
    assert answer(alice, link) == (400, "state_foreign")
    assert answer(Browser(env.stack), link) == (400, "state_foreign")  # no cookie at all
    unchanged(env, ALICE, BOB)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example.net/",
        "//evil.example.net/settings",
        "https://app.meetsync.test.evil.example.net/settings",
        "https://app.meetsync.test@evil.example.net/settings",
        "https://evil.example.net@app.meetsync.test/settings",
        "https://app.meetsync.test/settings-but-not-really",
        "https://app.meetsync.test/other",
        "http://app.meetsync.test/settings",
        "https://app.meetsync.test:444/settings",
        "https:/\\evil.example.net/",
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "/\\evil.example.net",
    ],
)
def test_open_redirects_are_refused(env: Env, target: str) -> None:
    response = requests.get(
        f"{env.stack.function_urls['connect']}/connect",
        params={"return_to": target},
        headers={"Accept": "application/json"},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 400 and "Location" not in response.headers
    assert response.json()["error"]["field"] == "return_to"


def test_a_return_to_added_to_the_callback_is_ignored(env: Env) -> None:
    browser = Browser(env.stack)
    callback = with_query(browser.sign_in(login_hint=ALICE), return_to="https://evil.example.net/")
    response = browser.get(callback)
    assert response.status_code == 200 and "Location" not in response.headers


def test_alices_callback_can_never_bind_bobs_tokens(env: Env) -> None:
    alice, bob = Browser(env.stack), Browser(env.stack)
    alice_link = alice.sign_in(login_hint=ALICE)
    bob_link = bob.sign_in(login_hint=BOB)
    # bob's code in alice's callback (her state, her cookie): PKCE binds the code to bob's
    swapped = with_query(alice_link, code=query_of(bob_link)["code"])
    assert answer(alice, swapped) == (400, "invalid_grant")
    unchanged(env, ALICE, BOB)
    # alice's link edited to sign bob in at Google: the ID token says bob, not alice
    edited = with_query(alice.authorize(login_hint=ALICE), login_hint=BOB)
    assert answer(alice, alice.click(alice.consent(edited), "allow")) == (
        403,
        "login_hint_mismatch",
    )
    unchanged(env, ALICE, BOB)
    # an email in the query means nothing: alice's own flow connects alice only
    done = alice.get(with_query(alice.sign_in(login_hint=ALICE), email=BOB), json=True).json()
    assert done["email"] == ALICE
    unchanged(env, BOB)
    # and bob's genuine callback, untouched by the swap, connects bob as bob
    assert bob.get(bob_link, json=True).json()["email"] == BOB
    bob_user, alice_user = env.store.get_user(BOB), env.store.get_user(ALICE)
    assert bob_user is not None and alice_user is not None
    assert bob_user.refresh_token_enc != alice_user.refresh_token_enc


def test_codes_id_tokens_and_the_state_cookie_never_reach_a_log(env: Env, tmp_path: Path) -> None:
    browser = Browser(env.stack)
    callback = browser.sign_in(login_hint=ALICE)
    cookie = browser.http.cookies["meetsync-connect"]
    remember("connect state cookies", cookie)
    assert browser.get(callback).status_code == 200
    code = query_of(callback)["code"]
    env.call("users", "DELETE", f"/users/{ALICE}")  # a revocation: the token in a form body

    secrets = session_secrets(env.stack)
    kinds = {kind for kind, values in secrets.items() if code in values}
    assert kinds, "the scan does not look for authorization codes"
    assert secrets["signed_jwts"], "the scan does not look for ID tokens"
    assert cookie in secrets["connect state cookies"]
    (tmp_path / "probe.log").write_text(f'{{"message":"callback","code":"{code}"}}\n')
    assert find_leaks([tmp_path / "probe.log"], secrets) == [
        Leak(tmp_path / "probe.log", kinds.pop(), 1)
    ]
    assert_no_leaks(env.stack.log_dir, secrets)
