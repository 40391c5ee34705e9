"""The webhook's channel cache: one read per channel per `ttl`, never holding what
must be re-read (unknown or stopped channels)."""

from __future__ import annotations

import datetime as dt

from shared.domain.models import Channel, ChannelState
from shared.services.signals import ChannelCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _channel(channel_id: str, state: str = ChannelState.ACTIVE) -> Channel:
    expires = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    return Channel(channel_id, "k", "r", "h", expires, state=state)


class Store:
    def __init__(self, *channels: Channel) -> None:
        self.channels = {c.id: c for c in channels}
        self.reads: list[str] = []

    def get(self, channel_id: str) -> Channel | None:
        self.reads.append(channel_id)
        return self.channels.get(channel_id)


def test_a_live_channel_is_read_once_per_ttl() -> None:
    store, clock = Store(_channel("a")), Clock()
    cache = ChannelCache(store.get, ttl=30, clock=clock)
    assert all(cache.get("a") is not None for _ in range(50))
    assert store.reads == ["a"]
    clock.now += 30.1
    cache.get("a")
    assert store.reads == ["a", "a"]


def test_unknown_and_stopped_channels_are_read_every_time() -> None:
    store = Store(_channel("s", ChannelState.STOPPED))
    cache = ChannelCache(store.get, ttl=30, clock=Clock())
    for _ in range(3):
        assert cache.get("nope") is None
        assert cache.get("s") is not None
    assert store.reads == ["nope", "s"] * 3


def test_ttl_zero_reads_every_time_and_the_cache_is_bounded() -> None:
    store = Store(*(_channel(str(n)) for n in range(10)))
    off = ChannelCache(store.get, ttl=0, clock=Clock())
    off.get("1")
    off.get("1")
    assert store.reads == ["1", "1"]
    store.reads.clear()
    small = ChannelCache(store.get, ttl=30, max_entries=3, clock=Clock())
    for n in range(10):
        small.get(str(n))
    assert len(small._held) <= 3
    small.get("9")
    assert store.reads == [str(n) for n in range(10)]  # the newest is still held
