"""Accessors build once per instance, even when the first requests arrive together."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from shared.wiring import _once


def test_concurrent_first_calls_build_once_and_share_the_result() -> None:
    builds: list[object] = []
    started = threading.Barrier(8)
    release = threading.Event()

    @_once
    def client() -> object:
        builds.append(object())
        release.wait(timeout=5)  # every other thread is at the door meanwhile
        return builds[-1]

    def first_call() -> object:
        started.wait(timeout=5)
        if threading.current_thread().name.endswith("_7"):
            release.set()
        return client()

    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda _: first_call(), range(8)))
    assert len(builds) == 1 and all(g is builds[0] for g in got)


def test_an_accessor_may_build_the_ones_it_needs() -> None:
    @_once
    def inner() -> str:
        return "inner"

    @_once
    def outer() -> str:
        return inner() + "+outer"

    assert outer() == "inner+outer" and outer() is outer()
