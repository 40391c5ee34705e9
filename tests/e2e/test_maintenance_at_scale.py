"""Renewal and the sweep fanned out over the `maintenance` topic, on the local stack with
500 watched calendars: two overlapping renewal runs replace every channel exactly once,
a later run stops every old channel, and a sweep syncs exactly the stale calendars."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from devstack.driver import Env
from devstack.stack import http, wait_until
from shared.domain.models import CalendarState, ChannelState, User, calendar_key

CALENDARS = 500
LIFETIME = 90


def watch_many(env: Env, count: int) -> list[str]:
    """`count` users, known to the workspace emulator and registered, each with their
    primary calendar watched through `watch_calendar`; their calendar keys."""
    emails = [f"scale{n:03d}@example.com" for n in range(count)]

    def add(email: str) -> str:
        status, body = http("POST", f"{env.stack.workspace_url}/_emulator/users", {"email": email})
        assert status < 300, body
        env.store.put_user(User(email=email, auth_mode="delegation"))
        env.watch(email)
        return calendar_key(email, "primary")

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(add, emails))


def test_renewal_and_sweep_fan_out_over_500_calendars(env: Env) -> None:
    # every channel the emulator grants lives 90 s, far less than the 2-day renewal window:
    # each is due half its life before it expires (so its replacement is not due at once)
    env.emu("POST", "config", {"channel_max_ttl_seconds": LIFETIME})
    keys = watch_many(env, CALENDARS)
    first = {c["id"]: c for c in env.emu("GET", "channels")}
    assert len(first) == CALENDARS and not any(c["stopped"] for c in first.values())
    latest = max(c.created_at for key in keys for c in env.store.channels_for(key))
    due = latest + dt.timedelta(seconds=LIFETIME / 2)
    wait_until(lambda: dt.datetime.now(dt.UTC) >= due, timeout=LIFETIME, what="every channel due")

    # two runs at once (a scheduler retry while the first still runs): each channel is
    # claimed by one of them only
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda _: env.renew(), range(2)))
    took = time.monotonic() - began
    renewed = Counter(c for run in runs for c in run["renewed"])
    assert set(renewed) == set(first) and set(renewed.values()) == {1}, renewed.most_common(3)
    channels = env.emu("GET", "channels")
    per_calendar = Counter(c["user"] for c in channels)
    assert len(channels) == 2 * CALENDARS and set(per_calendar.values()) == {2}
    for key in keys:
        stored = env.store.channels_for(key)
        old = [c for c in stored if c.id in first]
        new = [c for c in stored if c.id not in first]
        assert len(old) == 1 and len(new) == 1, key
        assert old[0].replaced_by == new[0].id, key
        # stopped already if the overlap (2 s here) ended before the other run's stop stage
        assert old[0].state in (ChannelState.STOPPING, ChannelState.STOPPED)
        assert new[0].state == ChannelState.ACTIVE
    print(f"two overlapping renewal runs over {CALENDARS} calendars: {took:.1f} s")

    # past the overlap (2 s here) a run stops every old channel, at Google too
    overlap_ends = max(
        c.stop_after for key in keys for c in env.store.channels_for(key) if c.stop_after
    )
    wait_until(
        lambda: dt.datetime.now(dt.UTC) >= overlap_ends, timeout=30, what="the overlap to end"
    )
    stopped = Counter(c for run in [*runs, env.renew()] for c in run["stopped"])
    assert set(stopped) == set(first) and set(stopped.values()) == {1}
    at_google = {c["id"]: c for c in env.emu("GET", "channels")}
    assert all(at_google[c]["stopped"] for c in first)
    assert sum(not c["stopped"] for c in at_google.values()) == CALENDARS

    # the sweep: only calendars whose last successful sync is older than the sweep age
    stale = set(random.Random(7).sample(keys, 37))
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=7)
    for key in stale:
        env.store.update_calendar(key, {"next_sweep_at": long_ago})
    before: dict[str, CalendarState] = {k: env.calendar_state_of(k) for k in keys}
    answer = env.sweep(stale_only=True)
    assert set(answer["enqueued"]) == stale

    def synced(key: str) -> bool:
        return env.calendar_state_of(key).syncs > before[key].syncs

    wait_until(lambda: all(synced(k) for k in stale), timeout=60, what="stale calendars synced")
    assert not any(synced(k) for k in set(keys) - stale)
    for key in stale:  # each sync put its next sweep a sweep age (less jitter) away
        next_sweep = env.calendar_state_of(key).next_sweep_at
        assert next_sweep is not None and next_sweep > dt.datetime.now(dt.UTC)
