"""The connect flow (`shared.services.onboarding`) on the in-memory adapters: what Google is
asked for, what a good callback stores, and every refusal storing nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from shared.domain.errors import IdentityError, TransientError
from shared.domain.models import CalendarStatus, ChannelState, User, calendar_key
from shared.domain.ports import SignIn
from shared.domain.refusals import Kind, Refusal
from shared.domain.signin import PRODUCT_SCOPES, StateCodec, pkce_challenge
from shared.services.users import mark_revoked
from tests.unit.onboarding_support import (
    ALICE,
    APP,
    BOB,
    REDIRECT,
    SOURCE,
    World,
    query_of,
    world,
)


def refused(call: Callable[[], object]) -> Refusal:
    with pytest.raises(Refusal) as raised:
        call()
    return raised.value


def assert_nothing_stored(w: World, email: str = ALICE) -> None:
    assert w.store.get_user(email) is None
    assert w.sink.events == []
    assert w.calendar.channels == {}


def test_connect_asks_google_for_every_product_scope_offline_with_pkce() -> None:
    w = world()
    started = w.flow.start(ALICE, APP)
    assert started.location.startswith("https://accounts.example.com/o/oauth2/v2/auth?")
    params = query_of(started.location)
    assert params["scope"].split() == [*PRODUCT_SCOPES, "openid", "email"]
    assert params["client_id"] == "client-1"
    assert params["redirect_uri"] == REDIRECT
    assert params["response_type"] == "code"
    assert (params["access_type"], params["prompt"]) == ("offline", "consent")
    assert params["include_granted_scopes"] == "true"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert params["login_hint"] == ALICE
    # the cookie binds the state to this browser; https callback: a __Host- cookie
    cookie = started.cookie
    assert (cookie.name, cookie.secure, cookie.path, cookie.max_age) == (
        "__Host-meetsync-connect",
        True,
        "/",
        600,
    )
    assert cookie.value and cookie.value not in started.location
    assert w.store.ops["write"] == 0  # nothing is stored until the callback


def test_a_plain_http_callback_gets_a_plain_cookie() -> None:
    cookie = (
        world(redirect_uri="http://127.0.0.1:8080/oauth/callback").flow.start(None, None).cookie
    )
    assert (cookie.name, cookie.secure) == ("meetsync-connect", False)


def test_allow_stores_the_sealed_token_marks_active_watches_primary_and_announces() -> None:
    w = world()
    query, cookie = w.sign_in(ALICE, login_hint=ALICE)
    done = w.flow.finish({**query, "email": BOB}, cookie)  # a query email is ignored
    assert done.email == ALICE and done.return_to is None
    user = w.store.get_user(ALICE)
    assert user is not None
    assert (user.auth_mode, user.status, user.version) == ("refresh_token", "active", 1)
    refresh = next(iter(w.oauth.live))
    assert user.refresh_token_enc != refresh and w.vault.open(user.refresh_token_enc) == refresh
    assert set(PRODUCT_SCOPES) <= set(user.scopes)
    assert w.store.get_user(BOB) is None
    key = calendar_key(ALICE, "primary")
    assert [c["calendar"] for c in w.calendar.channels.values()] == [key]
    assert w.synced == [key]
    assert w.types() == ["user.connected"]
    event = w.sink.events[0]
    assert (event["subject"], event["source"]) == (f"users/{ALICE}", SOURCE)
    assert "refresh_token_enc" not in json.dumps(event) and refresh not in json.dumps(event)
    assert w.store.users[ALICE].outbox == []  # sent, then dropped from the record


def test_return_to_on_the_allow_list_is_where_the_browser_goes_back() -> None:
    w = world()
    query, cookie = w.sign_in(ALICE, return_to=APP + "/calendars?tab=1")
    assert w.flow.finish(query, cookie).return_to == APP + "/calendars?tab=1"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example.net/",
        "//evil.example.net/settings",
        "https://app.example.com.evil.example.net/settings",
        "https://app.example.com@evil.example.net/settings",
        "https://app.example.com/settings-evil",
        "https://app.example.com/other",
        "http://app.example.com/settings",
        "https://app.example.com:8443/settings",
        "javascript:alert(1)",
        "https://app.example.com\\@evil.example.net/settings",
        "/settings",
    ],
)
def test_return_to_off_the_allow_list_is_refused_at_connect(target: str) -> None:
    w = world()
    refusal = refused(lambda: w.flow.start(None, target))
    assert (refusal.kind, refusal.field) == (Kind.INVALID, "return_to")


def test_return_to_no_longer_allowed_at_the_callback_gets_the_success_page() -> None:
    w = world()
    query, cookie = w.sign_in(ALICE, return_to=APP)
    w.flow._config = world(allowlist=()).flow._config  # the allow-list changed meanwhile
    assert w.flow.finish(query, cookie).return_to is None


def _tampered(state: str) -> str:
    body, _, mac = state.partition(".")
    data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    data["h"] = BOB
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{forged}.{mac}"


FAILURES: dict[str, tuple[Callable[[World], tuple[dict[str, str], str | None]], Kind, str]] = {}


def failure(kind: Kind, reason: str) -> Callable[..., object]:
    def register(
        make: Callable[[World], tuple[dict[str, str], str | None]],
    ) -> Callable[[World], tuple[dict[str, str], str | None]]:
        FAILURES[make.__name__] = (make, kind, reason)
        return make

    return register


@failure(Kind.FORBIDDEN, "access_denied")
def denied(w: World) -> tuple[dict[str, str], str | None]:
    started = w.flow.start(ALICE, None)
    return {"state": query_of(started.location)["state"], "error": "access_denied"}, (
        started.cookie.value
    )


@failure(Kind.INVALID, "state_invalid")
def forged_state(w: World) -> tuple[dict[str, str], str | None]:
    query, cookie = w.sign_in(ALICE, login_hint=ALICE)
    return {**query, "state": _tampered(query["state"])}, cookie


@failure(Kind.INVALID, "state_invalid")
def state_signed_with_another_key(w: World) -> tuple[dict[str, str], str | None]:
    other = world()
    other.flow._codec = StateCodec("another-key", 600)
    started = other.flow.start(None, None)
    code = w.oauth.grant(ALICE, challenge="x" * 43, redirect_uri=REDIRECT)
    return {"state": query_of(started.location)["state"], "code": code}, started.cookie.value


@failure(Kind.INVALID, "state_missing")
def no_state(w: World) -> tuple[dict[str, str], str | None]:
    query, cookie = w.sign_in(ALICE)
    return {"code": query["code"]}, cookie


@failure(Kind.INVALID, "state_expired")
def expired_state(w: World) -> tuple[dict[str, str], str | None]:
    query, cookie = w.sign_in(ALICE)
    w.clock.advance(601)
    return query, cookie


@failure(Kind.INVALID, "state_foreign")
def state_from_another_browser(w: World) -> tuple[dict[str, str], str | None]:
    query, _ = w.sign_in(ALICE)
    _, other_cookie = w.sign_in(ALICE)
    return query, other_cookie


@failure(Kind.INVALID, "state_foreign")
def no_cookie(w: World) -> tuple[dict[str, str], str | None]:
    query, _ = w.sign_in(ALICE)
    return query, None


@failure(Kind.INVALID, "invalid_grant")
def someone_elses_code(w: World) -> tuple[dict[str, str], str | None]:
    """Alice's state and cookie with the code Bob's sign-in got: PKCE does not match."""
    alice, cookie = w.sign_in(ALICE)
    bob, _ = w.sign_in(BOB)
    return {**alice, "code": bob["code"]}, cookie


@failure(Kind.INVALID, "no_refresh_token")
def no_offline_access(w: World) -> tuple[dict[str, str], str | None]:
    return w.sign_in(ALICE, offline=False)


@failure(Kind.FORBIDDEN, "scope_not_granted")
def calendar_unticked(w: World) -> tuple[dict[str, str], str | None]:
    return w.sign_in(ALICE, scopes=(PRODUCT_SCOPES[1], PRODUCT_SCOPES[2], "openid", "email"))


@failure(Kind.FORBIDDEN, "login_hint_mismatch")
def signed_in_as_someone_else(w: World) -> tuple[dict[str, str], str | None]:
    return w.sign_in(BOB, login_hint=ALICE)


@failure(Kind.FORBIDDEN, "email_unverified")
def unverified_email(w: World) -> tuple[dict[str, str], str | None]:
    return w.sign_in(ALICE, email_verified=False)


@failure(Kind.INVALID, "google_error")
def google_error(w: World) -> tuple[dict[str, str], str | None]:
    query, cookie = w.sign_in(ALICE)
    return {"state": query["state"], "error": "invalid_scope"}, cookie


@pytest.mark.parametrize("name", sorted(FAILURES))
def test_every_failed_callback_is_refused_and_stores_nothing(name: str) -> None:
    w = world()
    make, kind, reason = FAILURES[name]
    query, cookie = make(w)
    refusal = refused(lambda: w.flow.finish(query, cookie))
    assert (refusal.kind, refusal.reason) == (kind, reason), refusal.message
    assert_nothing_stored(w)
    assert w.store.get_user(BOB) is None
    assert w.oauth.revoked == []  # nothing revoked: that would end an earlier grant too


def test_a_state_is_accepted_once() -> None:
    w = world()
    query, cookie = w.sign_in(ALICE)
    w.flow.finish(query, cookie)
    before = w.store.get_user(ALICE)
    refusal = refused(lambda: w.flow.finish(query, cookie))
    assert refusal.reason == "state_replayed"
    assert w.store.get_user(ALICE) == before and w.types() == ["user.connected"]


def test_a_replayed_code_under_a_fresh_state_is_refused() -> None:
    w = world()
    first, cookie = w.sign_in(ALICE)
    w.flow.finish(first, cookie)
    fresh, fresh_cookie = w.sign_in(ALICE)
    refusal = refused(lambda: w.flow.finish({**fresh, "code": first["code"]}, fresh_cookie))
    assert (refusal.kind, refusal.reason) == (Kind.INVALID, "invalid_grant")
    assert w.types() == ["user.connected"]


def test_an_id_token_google_did_not_sign_is_unauthorised_and_stores_nothing() -> None:
    w = world()

    def forged(code: str, *, redirect_uri: str, code_verifier: str) -> SignIn:
        raise IdentityError("ID token rejected: Could not verify token signature.")

    w.oauth.exchange_code = forged  # type: ignore[method-assign]
    query, cookie = w.sign_in(ALICE)
    refusal = refused(lambda: w.flow.finish(query, cookie))
    assert (refusal.kind, refusal.reason) == (Kind.UNAUTHORISED, "id_token_invalid")
    assert_nothing_stored(w)


def test_an_unconfigured_deployment_refuses_and_logs_what_is_missing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = world(client_id="")
    refusal = refused(lambda: w.flow.start(None, None))
    assert refusal.kind is Kind.MISCONFIGURED and "OAUTH_CLIENT_ID" not in refusal.message
    w.flow._codec = None
    assert refused(lambda: w.flow.finish({}, None)).kind is Kind.MISCONFIGURED
    missing = [getattr(r, "missing", []) for r in caplog.records]
    assert ["OAUTH_CLIENT_ID"] in missing and ["OAUTH_CLIENT_ID", "STATE_SIGNING_KEY"] in missing


def test_a_bad_login_hint_is_refused_before_google() -> None:
    refusal = refused(lambda: world().flow.start("not an email", None))
    assert (refusal.kind, refusal.field) == (Kind.INVALID, "login_hint")


def test_a_revoked_user_reconnects_and_their_calendars_resume() -> None:
    w = world()
    w.connect(ALICE)
    w.channels.watch(ALICE, "team@group.calendar.google.com")
    primary, team = (
        calendar_key(ALICE, "primary"),
        calendar_key(ALICE, "team@group.calendar.google.com"),
    )
    # Google answered invalid_grant: a renewal marked the primary calendar, a meeting the user
    mark_revoked(w.store, ALICE, sink=w.sink, source=SOURCE)
    w.store.update_calendar(primary, {"status": CalendarStatus.AUTH_REVOKED.value})
    for channel in w.store.channels_for(primary):
        w.store.update_channel(channel.id, {"state": ChannelState.STOPPED.value})
    assert w.store.users[ALICE].status == "auth_revoked"
    w.synced.clear()

    user = w.connect(ALICE)
    assert (user.status, user.version) == ("active", 3)
    state = w.store.get_calendar(primary)
    assert state is not None and state.status == CalendarStatus.WATCHING
    live = [c for c in w.store.channels_for(primary) if c.state == ChannelState.ACTIVE]
    assert len(live) == 1  # a new channel for the given-up one
    assert sorted(w.synced) == sorted([primary, team])  # both caught up
    assert w.types() == ["user.connected", "user.auth_revoked", "user.connected"]
    assert len({e["id"] for e in w.sink.events}) == 3


def test_a_watch_failure_after_connect_leaves_the_user_connected_and_says_so() -> None:
    w = world()
    w.calendar.fail["events.watch"] = TransientError("Calendar down", status=503)
    query, cookie = w.sign_in(ALICE)
    done = w.flow.finish(query, cookie)
    assert done.result["watchError"] and done.result["status"] == "active"
    assert isinstance(w.store.get_user(ALICE), User)


def test_pkce_verifier_is_the_one_whose_challenge_went_to_google() -> None:
    w = world()
    started = w.flow.start(None, None)
    params = query_of(started.location)
    codec = w.flow._codec
    assert codec is not None
    state = codec.verify(params["state"], started.cookie.value, w.clock())
    assert pkce_challenge(codec.verifier(state, started.cookie.value)) == params["code_challenge"]
