"""Webhook: valid Calendar push notifications per second, and their latency, at 1 and 16
concurrent senders, against a floor served the same way: a bare functions-framework
function making the same one confirmed publish (`publish_floor.py`: same client settings,
topic, emulator, payload size, ordering key and attributes). The product answers 2xx only
once Pub/Sub has the signal, so that publish is the least it can cost; a no-op function's
figures are kept beside it for reference."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.domain.ports import Message
from shared.services.signals import SignalService, parse_notification
from shared.settings import Settings
from shared.store.pubsub import Publisher
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
TARGET_RATIO = 0.8
FLOOR_SOURCE = "tests/bench/publish_floor.py"
FLOOR_TARGET = "publish_floor"


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


class _Capture:
    """A `Publisher` that keeps what it was asked to publish instead of publishing it."""

    def __init__(self) -> None:
        self.made: dict[str, Any] = {}

    def publish(
        self,
        topic: str,
        data: Any,
        *,
        ordering_key: str = "",
        attributes: dict[str, str] | None = None,
    ) -> str:
        self.made = {"topic": topic, "data": data, "key": ordering_key, "attrs": attributes}
        return "captured"

    def publish_many(self, topic: str, messages: Sequence[Message]) -> list[str]:
        return [
            self.publish(topic, m.data, ordering_key=m.ordering_key, attributes=m.attributes)
            for m in messages
        ]


def signal_publish(
    ctx: Ctx, channel_id: str, headers: Mapping[str, str], number: int
) -> dict[str, str]:
    """The environment of `publish_floor.py`: the publish the webhook makes for a notification
    with these headers, taken from the product's own signal service (topic from the
    functions' settings, payload encoded as `shared/store/pubsub.py` encodes it), and the
    batch settings and message ordering of the product's publisher client."""
    product = Publisher(ctx.stack.project).client
    try:
        batch = list(product.batch_settings)
        ordering = bool(product.publisher_options.enable_message_ordering)
    finally:
        product.stop()
    channel = ctx.stored_channel(channel_id)
    capture = _Capture()
    service = SignalService(
        get_channel=lambda _: channel,
        publisher=capture,
        topic=Settings.from_env(ctx.stack.function_env()).changes_topic,
    )
    accepted = service.accept(parse_notification({**headers, "X-Goog-Message-Number": str(number)}))
    made = capture.made
    if not accepted.enqueued or not made.get("key"):
        raise RuntimeError(f"the signal service published no keyed signal: {made!r}")
    payload = json.dumps(made["data"], separators=(",", ":"), default=str).encode()
    return {
        "BENCH_PUBLISH_TOPIC": str(made["topic"]),
        "BENCH_PUBLISH_BYTES": str(len(payload)),
        "BENCH_PUBLISH_ORDERING_KEY": str(made["key"]),
        "BENCH_PUBLISH_ATTRIBUTES": json.dumps(made["attrs"] or {}),
        "BENCH_PUBLISH_BATCH": json.dumps(batch),
        "BENCH_PUBLISH_ORDERING": "1" if ordering else "0",
    }


def run(ctx: Ctx, *, runs: int = 3, seconds: float = 2.0) -> Result:
    stack = ctx.stack
    channel_id = str(ctx.watch(ALICE)["channelId"])
    headers = ctx.channel_headers(channel_id)
    numbers = Numbers(ctx.stored_channel(channel_id).last_message_number + 1_000)
    publish_env = signal_publish(ctx, channel_id, headers, next(numbers))
    webhook = stack.function_urls["calendar_webhook"]
    notes = [
        f"{seconds:.0f} s of load per run after a 0.5 s warm-up; each sender is a thread "
        "with its own keep-alive http.client connection; webhook, floor and no-op runs "
        "alternate (each in each position once every 3 runs).",
        "floor = `tests/bench/publish_floor.py`: a bare functions-framework function making "
        "the webhook's one confirmed publish (a PublisherClient with the product's batch "
        f"settings [max_bytes, max_latency, max_messages] = {publish_env['BENCH_PUBLISH_BATCH']} "
        f"and message ordering {'on' if publish_env['BENCH_PUBLISH_ORDERING'] == '1' else 'off'}) "
        f"to topic {publish_env['BENCH_PUBLISH_TOPIC']} on the same emulator: "
        f"{publish_env['BENCH_PUBLISH_BYTES']} bytes, ordering key and attributes as the "
        "webhook's signal; it answers 202 once Pub/Sub returned the message id. "
        "(floor) noop_* = a no-op function (204), for reference only.",
        "During this benchmark the worker's push subscription is switched to pull and then "
        "recreated empty, so the sync worker does not consume the notifications' signals "
        "(in the cloud it runs on other instances); the Firestore and Pub/Sub emulators "
        "still share the 2 cores with the senders and the function.",
    ]
    samples: dict[str, dict[str, list[float]]] = {"webhook": {}, "floor": {}, "noop": {}}
    errors = {"webhook": 0, "floor": 0, "noop": 0}
    ctx.set_worker_push(None)
    try:
        with (
            function_process(
                "noop",
                source=NOOP_SOURCE,
                target=NOOP_TARGET,
                env=stack.function_env(),
                log_dir=stack.log_dir,
            ) as noop,
            function_process(
                "publish_floor",
                source=FLOOR_SOURCE,
                target=FLOOR_TARGET,
                env={**stack.function_env(), **publish_env},
                log_dir=stack.log_dir,
            ) as floor_url,
        ):
            targets = [("webhook", webhook, 202), ("floor", floor_url, 202), ("noop", noop, 204)]
            for senders in CONCURRENCY:
                for _, url, expect in targets:
                    blast(
                        url, headers, senders=senders, seconds=0.5, numbers=numbers, expect=expect
                    )
                for n in range(runs):
                    for name, url, expect in targets[n % 3 :] + targets[: n % 3]:
                        load = blast(
                            url,
                            headers,
                            senders=senders,
                            seconds=seconds,
                            numbers=numbers,
                            expect=expect,
                        )
                        errors[name] += load.errors
                        for key, value in (
                            (f"rps_c{senders}", load.rps),
                            (f"p50_ms_c{senders}", load.p50_ms),
                            (f"p99_ms_c{senders}", load.p99_ms),
                        ):
                            samples[name].setdefault(key, []).append(value)
    finally:
        ctx.recreate_worker_subscription()
    med = {k: median(v) for k, v in samples["webhook"].items()}
    med_floor = {k: median(v) for k, v in samples["floor"].items()}
    med_noop = {k: median(v) for k, v in samples["noop"].items()}
    ratios = {s: med[f"rps_c{s}"] / med_floor[f"rps_c{s}"] for s in CONCURRENCY}
    noop_ratios = {s: med[f"rps_c{s}"] / med_noop[f"rps_c{s}"] for s in CONCURRENCY}
    floor_noop = {s: med_floor[f"rps_c{s}"] / med_noop[f"rps_c{s}"] for s in CONCURRENCY}
    worst = min(ratios.values())
    med["non_202_answers"] = float(errors["webhook"])
    med_floor["non_202_answers"] = float(errors["floor"])
    med_floor.update({f"noop_{k}": v for k, v in med_noop.items()})
    notes.append(
        "throughput ratio to the floor (confirmed publish): "
        + ", ".join(f"{r:.2f} at {s} sender(s)" for s, r in ratios.items())
    )
    notes.append(
        "for reference, throughput ratio to the no-op: "
        + ", ".join(f"{r:.2f} at {s} sender(s)" for s, r in noop_ratios.items())
        + "; the floor's own: "
        + ", ".join(f"{r:.2f} at {s} sender(s)" for s, r in floor_noop.items())
    )
    if errors["noop"]:
        notes.append(f"the no-op answered {errors['noop']} requests with other than 204")
    return Result(
        name="webhook",
        runs=runs,
        figures=med,
        floor=med_floor,
        ratio=worst,
        ratio_of="throughput / floor throughput (one confirmed publish; the lower of 1 and "
        "16 senders)",
        target=f">= {TARGET_RATIO} x floor throughput at 1 and 16 senders, every answer 202 "
        "(the floor's too)",
        met=worst >= TARGET_RATIO and errors["webhook"] == 0 and errors["floor"] == 0,
        notes=notes,
    )
