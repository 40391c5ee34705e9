"""Google sign-in on the local stack: a user connects at `connect`, Google (the workspace
emulator) asks for consent, the callback stores the sealed token and watches the primary
calendar. Every failure is a 4xx page storing nothing; a revoked user reconnects and their
calendars resume watching."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import requests

from devstack.browser import Browser, query_of, with_query
from devstack.stack import RETURN_TO_ALLOWED
from shared.domain.models import calendar_key
from shared.domain.signin import StateCodec
from tests.e2e.support import Env

ALICE, CAROL = "alice@example.com", "carol@example.com"
"""Carol exists at Google (the emulator) but not yet in the product."""


@pytest.fixture
def carol(env: Env) -> str:
    env.emu("POST", "users", {"email": CAROL})
    return CAROL


def user_events(env: Env, subscription: str, email: str, count: int) -> list[dict[str, Any]]:
    events = env.events_until(
        subscription,
        lambda seen: len([e for e in seen if e["subject"] == f"users/{email}"]) >= count,
    )
    return [e for e in events if e["subject"] == f"users/{email}"]


def live_channels(env: Env, email: str) -> list[dict[str, Any]]:
    return [c for c in env.emu("GET", "channels") if c["user"] == email and not c["stopped"]]


def test_allow_connects_watches_primary_announces_and_meetings_work(env: Env, carol: str) -> None:
    subscription = env.subscribe()
    browser = Browser(env.stack)
    callback = browser.sign_in(login_hint=carol)
    page = browser.get(callback)
    assert page.status_code == 200, page.text
    assert 'id="connected"' in page.text and carol in page.text
    assert "meetsync-connect=;" in page.headers["Set-Cookie"]  # the cookie is spent

    user = env.store.get_user(carol)
    assert user is not None
    assert (user.auth_mode, user.status) == ("refresh_token", "active")
    issued = env.emu("GET", "secrets")["refresh_tokens"]
    assert user.refresh_token_enc and user.refresh_token_enc not in issued  # sealed
    assert len(live_channels(env, carol)) == 1
    [event] = user_events(env, subscription, carol, 1)
    assert event["type"] == "user.connected" and event["data"]["authMode"] == "refresh_token"

    shown = env.call("users", "GET", f"/users/{carol}").json()
    assert [c["status"] for c in shown["calendars"]] == ["watching"]
    assert shown["calendars"][0]["lastSyncedAt"]
    # the product now acts as carol with her own refresh token
    env.emu("DELETE", "requests")
    meeting = env.create_meeting(carol, "Connected")
    assert meeting["status"] in ("ready", "pending")
    assert not [r for r in env.emu("GET", "requests") if r["api"] == "iam"]


def test_deny_is_a_403_page_and_stores_nothing(env: Env, carol: str) -> None:
    browser = Browser(env.stack)
    callback = browser.sign_in("deny", login_hint=carol)
    assert query_of(callback)["error"] == "access_denied"
    page = browser.get(callback)
    assert page.status_code == 403 and page.headers["Content-Type"].startswith("text/html")
    assert 'id="reason">access_denied<' in page.text
    assert env.store.get_user(carol) is None and live_channels(env, carol) == []


def _expired_state(env: Env, browser: Browser) -> str:
    """A state signed with the deployment's key but issued an hour ago, its cookie set."""
    codec = StateCodec(env.stack.oauth_secrets["STATE_SIGNING_KEY"], 600)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    state, secret, _ = codec.issue(login_hint=CAROL, return_to="", now=past)
    browser.http.cookies.set("meetsync-connect", secret, domain="127.0.0.1", path="/")
    callback = f"{env.stack.function_urls['connect']}/oauth/callback"
    return f"{callback}?state={state}&code=4%2F0Aemu-whatever"


def _expired_code(env: Env, browser: Browser) -> str:
    callback = browser.sign_in(login_hint=CAROL)
    env.emu("POST", "clock", {"advance_seconds": 601})  # codes live 10 minutes
    return callback


def _offline_refused(env: Env, browser: Browser) -> str:
    auth = with_query(browser.authorize(login_hint=CAROL), access_type=None, prompt=None)
    return browser.click(browser.consent(auth), "allow")


def _calendar_unticked(env: Env, browser: Browser) -> str:
    page = browser.consent(browser.authorize(login_hint=CAROL))
    return browser.click(page, "allow", untick=("scope-calendar-events",))


def _someone_else_signed_in(env: Env, browser: Browser) -> str:
    auth = with_query(browser.authorize(login_hint=CAROL), login_hint=ALICE)
    return browser.click(browser.consent(auth), "allow")


def _forged_state(env: Env, browser: Browser) -> str:
    callback = browser.sign_in(login_hint=CAROL)
    state = query_of(callback)["state"]
    return with_query(callback, state=state[:10] + ("A" if state[10] != "A" else "B") + state[11:])


def _foreign_browser(env: Env, browser: Browser) -> str:
    callback = Browser(env.stack).sign_in(login_hint=CAROL)
    browser.start()  # this browser has a sign-in cookie of its own
    return callback


FAILURES: dict[str, tuple[Callable[[Env, Browser], str], int, str]] = {
    "state forged": (_forged_state, 400, "state_invalid"),
    "state expired": (_expired_state, 400, "state_expired"),
    "state from another browser": (_foreign_browser, 400, "state_foreign"),
    "code expired": (_expired_code, 400, "invalid_grant"),
    "no refresh token": (_offline_refused, 400, "no_refresh_token"),
    "calendar scope not granted": (_calendar_unticked, 403, "scope_not_granted"),
    "email not the login_hint": (_someone_else_signed_in, 403, "login_hint_mismatch"),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_every_failure_is_a_4xx_and_stores_nothing(env: Env, carol: str, case: str) -> None:
    make, status, reason = FAILURES[case]
    browser = Browser(env.stack)
    callback = make(env, browser)
    alice_before = env.store.get_user(ALICE)
    subscription = env.subscribe()
    answer = browser.get(callback, json=True)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["reason"] == reason
    assert env.store.get_user(carol) is None
    assert env.store.get_user(ALICE) == alice_before
    assert live_channels(env, carol) == []
    assert env.pull(subscription) == []
    again = browser.get(callback)  # as a browser sees it: a page
    assert 400 <= again.status_code < 500 and again.headers["Content-Type"].startswith("text/html")


def test_replaying_a_used_callback_is_refused_and_changes_nothing(env: Env, carol: str) -> None:
    browser = Browser(env.stack)
    callback = browser.sign_in(login_hint=carol)
    cookie = browser.http.cookies["meetsync-connect"]
    assert browser.get(callback).status_code == 200
    before = env.store.get_user(carol)
    assert browser.get(callback, json=True).status_code == 400  # the cookie was spent
    # even with the cookie kept (a copy of the browser), the state is accepted once
    browser.http.cookies.set("meetsync-connect", cookie, domain="127.0.0.1", path="/")
    replay = browser.get(callback, json=True)
    assert replay.status_code == 400 and replay.json()["error"]["reason"] == "state_replayed"
    assert env.store.get_user(carol) == before


def test_a_code_replayed_under_a_fresh_state_is_refused_and_changes_nothing(
    env: Env, carol: str
) -> None:
    browser = Browser(env.stack)
    first = browser.sign_in(login_hint=carol)
    assert browser.get(first).status_code == 200
    before, channels = env.store.get_user(carol), live_channels(env, carol)
    replay = with_query(browser.sign_in(login_hint=carol), code=query_of(first)["code"])
    answer = browser.get(replay, json=True)
    assert answer.status_code == 400 and answer.json()["error"]["reason"] == "invalid_grant"
    assert env.store.get_user(carol) == before and live_channels(env, carol) == channels


def test_return_to_on_the_allow_list_gets_the_browser_back(env: Env, carol: str) -> None:
    browser = Browser(env.stack)
    back = browser.get(browser.sign_in(login_hint=carol, return_to=RETURN_TO_ALLOWED + "?x=1"))
    assert back.status_code == 302 and back.headers["Location"] == RETURN_TO_ALLOWED + "?x=1"


def test_a_revoked_user_reconnects_and_their_calendar_resumes_watching(
    env: Env, carol: str
) -> None:
    env.emu("POST", "config", {"channel_max_ttl_seconds": 3600})  # inside the renew window
    Browser(env.stack).connect(carol)
    key = calendar_key(carol, "primary")
    env.age_channels(key)  # opened long ago: within the renewal window now
    subscription = env.subscribe()
    env.emu("POST", f"users/{carol}/revoke", {})  # carol removes the app at Google

    report = env.renew()
    assert report["auth_revoked"] == [key]
    state = env.calendar_state(carol)
    assert state.status == "auth_revoked"
    user = env.store.get_user(carol)
    assert user is not None and user.status == "auth_revoked"
    refused = env.call(
        "create_meeting",
        "POST",
        "/meetings",
        {"organizer": carol, "summary": "x", "start": "2026-12-01T10:00:00Z",
         "end": "2026-12-01T11:00:00Z"},
    )  # fmt: skip
    assert refused.status_code == 409

    connected = Browser(env.stack).connect(carol)
    assert connected["status"] == "active" and connected["resumed"] == [carol]
    assert env.calendar_state(carol).status == "watching"
    assert len(live_channels(env, carol)) >= 1
    events = user_events(env, subscription, carol, 2)
    assert [e["type"] for e in events] == ["user.auth_revoked", "user.connected"]
    assert env.create_meeting(carol, "Back")["status"] in ("ready", "pending")


def test_connect_refuses_a_return_to_off_the_allow_list(env: Env) -> None:
    response = requests.get(
        f"{env.stack.function_urls['connect']}/connect",
        params={"return_to": "https://evil.example.net/"},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 400 and "Location" not in response.headers
