"""The user and connect use cases on the in-memory adapters, with a clock the test moves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from shared.domain.models import User
from shared.domain.signin import PRODUCT_SCOPES, StateCodec
from shared.memory import MemoryCalendar, MemoryOAuth, MemorySink, MemoryStore, MemoryVault
from shared.services.channels import ChannelConfig, ChannelService
from shared.services.onboarding import ConnectConfig, Onboarding
from shared.services.users import UserService

T0 = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
ALICE, BOB = "alice@example.com", "bob@example.com"
REDIRECT = "https://connect.example.com/oauth/callback"
APP = "https://app.example.com/settings"
SOURCE = "//meetsync.unit/meetings"
KEY = "k" * 43


@dataclass
class Clock:
    now: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@dataclass
class World:
    store: MemoryStore
    calendar: MemoryCalendar
    oauth: MemoryOAuth
    sink: MemorySink
    vault: MemoryVault
    clock: Clock
    channels: ChannelService
    users: UserService
    flow: Onboarding
    synced: list[str] = field(default_factory=list)

    def types(self) -> list[str]:
        return [str(e["type"]) for e in self.sink.events]

    def sign_in(
        self,
        email: str,
        *,
        login_hint: str | None = None,
        return_to: str | None = None,
        scopes: Iterable[str] = (*PRODUCT_SCOPES, "openid", "email"),
        offline: bool = True,
        email_verified: bool = True,
    ) -> tuple[dict[str, str], str]:
        """/connect, then Allow at "Google" as `email`: (the callback's query, the cookie)."""
        started = self.flow.start(login_hint, return_to)
        params = query_of(started.location)
        code = self.oauth.grant(
            email,
            challenge=params["code_challenge"],
            redirect_uri=params["redirect_uri"],
            scopes=scopes,
            offline=offline,
            email_verified=email_verified,
        )
        return {"state": params["state"], "code": code}, started.cookie.value

    def connect(self, email: str, **kwargs: Any) -> User:
        query, cookie = self.sign_in(email, **kwargs)
        self.flow.finish(query, cookie)
        user = self.store.get_user(email)
        assert user is not None
        return user


def query_of(url: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


def world(
    *,
    redirect_uri: str = REDIRECT,
    allowlist: tuple[str, ...] = (APP,),
    watch_primary: bool = True,
    ttl: int = 600,
    client_id: str = "client-1",
    default_mode: str = "delegation",
) -> World:
    store, calendar, clock = MemoryStore(), MemoryCalendar(), Clock()
    oauth, sink, vault = MemoryOAuth(), MemorySink(), MemoryVault()
    synced: list[str] = []
    channels = ChannelService(
        store=store,
        calendar=calendar,
        config=ChannelConfig(
            webhook_url="https://hooks.example.com/calendar",
            ttl_seconds=604_800,
            renew_window_seconds=172_800,
            overlap_seconds=300,
        ),
        initial_sync=synced.append,
        now=clock,
        sink=sink,
        source=SOURCE,
    )
    users = UserService(
        store=store,
        oauth=oauth,
        channels=channels,
        sink=sink,
        vault=vault,
        source=SOURCE,
        default_mode=default_mode,
        now=clock,
    )
    flow = Onboarding(
        config=ConnectConfig(
            client_id=client_id,
            auth_uri="https://accounts.example.com/o/oauth2/v2/auth",
            redirect_uri=redirect_uri,
            return_to_allowlist=allowlist,
            watch_primary=watch_primary,
        ),
        codec=StateCodec(KEY, ttl),
        states=store,
        oauth=oauth,
        vault=vault,
        users=users,
        now=clock,
    )
    return World(store, calendar, oauth, sink, vault, clock, channels, users, flow, synced)
