"""Webhook: valid Calendar push notifications per second, and their latency, at 1 and 16
concurrent senders, against a no-op functions-framework function served the same way."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from tests.bench.common import (
    NOOP_SOURCE,
    NOOP_TARGET,
    Connection,
    Ctx,
    Result,
    function_process,
    median,
    percentile,
)

ALICE = "alice@example.com"
CONCURRENCY = (1, 16)
TARGET_RATIO = 0.5


@dataclass(frozen=True, slots=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    sent: int
    errors: int


class Numbers:
    """Growing message numbers shared by every sender (as Google's grow per channel)."""

    def __init__(self, start: int) -> None:
        self._count = itertools.count(start)
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        with self._lock:
            return next(self._count)


def blast(
    url: str,
    headers: Mapping[str, str],
    *,
    senders: int,
    seconds: float,
    numbers: Numbers,
    expect: int,
) -> Load:
    """`senders` threads, each on its own keep-alive connection, POST for `seconds`."""
    latencies: list[list[float]] = [[] for _ in range(senders)]
    errors = [0] * senders
    ready = threading.Barrier(senders + 1)
    stop_at = [0.0]

    def sender(i: int) -> None:
        conn = Connection(url)
        mine, errs = latencies[i], 0
        ready.wait()
        deadline = stop_at[0]
        try:
            while True:
                began = time.perf_counter()
                if began >= deadline:
                    break
                h = dict(headers)
                h["X-Goog-Message-Number"] = str(next(numbers))
                try:
                    status, _ = conn.request("POST", "/", b"", h)
                except OSError:
                    errs += 1
                    continue
                mine.append(time.perf_counter() - began)
                if status != expect:
                    errs += 1
        finally:
            conn.close()
            errors[i] = errs

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    ready.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    flat = [x for xs in latencies for x in xs]
    return Load(
        rps=len(flat) / elapsed,
        p50_ms=percentile(flat, 50) * 1000,
        p99_ms=percentile(flat, 99) * 1000,
        sent=len(flat),
        errors=sum(errors),
    )


def run(ctx: Ctx, *, runs: int = 3, seconds: float = 2.0) -> Result:
    stack = ctx.stack
    channel_id = str(ctx.watch(ALICE)["channelId"])
    headers = ctx.channel_headers(channel_id)
    numbers = Numbers(ctx.stored_channel(channel_id).last_message_number + 1_000)
    webhook = stack.function_urls["calendar_webhook"]
    notes = [
        f"{seconds:.0f} s of load per run after a 0.5 s warm-up; each sender is a thread "
        "with its own keep-alive http.client connection; webhook and floor runs alternate.",
        "During this benchmark the worker's push subscription is switched to pull and then "
        "recreated empty, so the sync worker does not consume the notifications' signals "
        "(in the cloud it runs on other instances); the Firestore and Pub/Sub emulators "
        "still share the 2 cores with the senders and the function.",
    ]
    figures: dict[str, list[float]] = {}
    floor: dict[str, list[float]] = {}
    errors = 0
    ctx.set_worker_push(None)
    try:
        with function_process(
            "noop",
            source=NOOP_SOURCE,
            target=NOOP_TARGET,
            env=stack.function_env(),
            log_dir=stack.log_dir,
        ) as noop:
            for senders in CONCURRENCY:
                for url, expect in ((webhook, 202), (noop, 204)):
                    blast(
                        url, headers, senders=senders, seconds=0.5, numbers=numbers, expect=expect
                    )
                for n in range(runs):
                    order = [(webhook, 202, figures), (noop, 204, floor)]
                    for url, expect, into in order if n % 2 == 0 else order[::-1]:
                        load = blast(
                            url,
                            headers,
                            senders=senders,
                            seconds=seconds,
                            numbers=numbers,
                            expect=expect,
                        )
                        if url == webhook:
                            errors += load.errors
                        for key, value in (
                            (f"rps_c{senders}", load.rps),
                            (f"p50_ms_c{senders}", load.p50_ms),
                            (f"p99_ms_c{senders}", load.p99_ms),
                        ):
                            into.setdefault(key, []).append(value)
    finally:
        ctx.recreate_worker_subscription()
    med = {k: median(v) for k, v in figures.items()}
    med_floor = {k: median(v) for k, v in floor.items()}
    ratios = {s: med[f"rps_c{s}"] / med_floor[f"rps_c{s}"] for s in CONCURRENCY}
    worst = min(ratios.values())
    med["non_202_answers"] = float(errors)
    notes.append(
        "throughput ratio to floor: "
        + ", ".join(f"{r:.2f} at {s} sender(s)" for s, r in ratios.items())
    )
    return Result(
        name="webhook",
        runs=runs,
        figures=med,
        floor=med_floor,
        ratio=worst,
        ratio_of="throughput / floor throughput (the lower of 1 and 16 senders)",
        target=f">= {TARGET_RATIO} x floor throughput at 1 and 16 senders, every answer 202",
        met=worst >= TARGET_RATIO and errors == 0,
        notes=notes,
    )
