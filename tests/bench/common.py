"""What every benchmark shares: the result record, statistics, polling, control calls,
and starting one more function (the no-op floor) the way the stack starts its own."""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
from google.cloud import firestore

from devstack.stack import ROOT, Proc, Stack, free_port
from shared.domain.models import Channel
from shared.store.firestore import Store

_T = TypeVar("_T")
BENCH_DIR = ROOT / ".bench"
FUNCTIONS_FRAMEWORK = str(Path(sys.executable).parent / "functions-framework")
NOOP_SOURCE = "tests/bench/noop.py"
NOOP_TARGET = "noop"


@dataclass
class Result:
    """One benchmark's line in `.bench/results.json`."""

    name: str
    runs: int
    """How many repeated runs each figure is the median of."""
    figures: dict[str, float]
    floor: dict[str, float]
    ratio: float | None
    """The figure the target is about divided by its floor (None when there is no floor)."""
    ratio_of: str
    target: str
    met: bool
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "runs": self.runs,
            "figures": {k: _round(v) for k, v in self.figures.items()},
            "floor": {k: _round(v) for k, v in self.floor.items()},
            "ratio_to_floor": None if self.ratio is None else round(self.ratio, 3),
            "ratio_of": self.ratio_of,
            "target": self.target,
            "met": self.met,
            "notes": self.notes,
        }


def _round(value: float) -> float:
    return round(value, 4) if abs(value) < 10 else round(value, 1)


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def wait_for(
    check: Callable[[], _T | None], *, timeout: float, what: str, interval: float = 0.05
) -> _T:
    """Poll `check` until it returns something truthy; raise naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last: _T | None = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last {last!r}")
        time.sleep(interval)


class Ctx:
    """The running stack as the benchmarks see it: control calls, functions, Firestore."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = requests.Session()
        self.store = Store(firestore.Client(project=stack.project))

    def emu(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(
            method, f"{self.stack.workspace_url}/_emulator/{path}", json=body, timeout=30
        )
        if response.status_code >= 300:
            raise RuntimeError(f"emulator {method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def call(
        self, function: str, method: str, path: str, body: Any = None, **kw: Any
    ) -> requests.Response:
        url = f"{self.stack.function_urls[function]}{path}"
        return self.http.request(method, url, json=body, timeout=60, **kw)

    def access_token(self, email: str) -> str:
        return str(self.emu("POST", f"users/{quote(email)}/token", {})["access_token"])

    def watch(self, email: str) -> dict[str, Any]:
        response = self.call(
            "watch_calendar", "POST", "/calendars", {"user": email, "calendarId": "primary"}
        )
        if response.status_code not in (200, 201):
            raise RuntimeError(f"watch {email}: {response.status_code} {response.text}")
        return dict(response.json())

    def channel_headers(self, channel_id: str) -> dict[str, str]:
        """The headers Google sends for one `exists` notification of the channel (the
        message number is filled in per request), read from the emulator's channel."""
        channel = next(c for c in self.emu("GET", "channels") if c["id"] == channel_id)
        owner = str(channel["user"])
        return {
            "X-Goog-Channel-ID": channel_id,
            "X-Goog-Resource-ID": str(channel["resource_id"]),
            "X-Goog-Resource-State": "exists",
            "X-Goog-Resource-URI": (
                f"https://www.googleapis.com/calendar/v3/calendars/{quote(owner, safe='@')}"
                "/events?alt=json"
            ),
            "X-Goog-Channel-Token": str(channel["token"]),
            "X-Goog-Channel-Expiration": time.strftime(
                "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(int(channel["expiration"]) / 1000)
            ),
            "User-Agent": "APIs-Google",
            "Content-Length": "0",
        }

    def stored_channel(self, channel_id: str) -> Channel:
        channel = self.store.get_channel(channel_id)
        if channel is None:
            raise RuntimeError(f"channel {channel_id} not stored")
        return channel

    def set_worker_push(self, endpoint: str | None) -> None:
        """Point the worker's subscription at `endpoint`, or make it a pull subscription."""
        stack = self.stack
        url = (
            f"http://{stack.pubsub_host}/v1/projects/{stack.project}"
            "/subscriptions/sync-worker:modifyPushConfig"
        )
        config = {"pushEndpoint": endpoint} if endpoint else {}
        response = self.http.post(url, json={"pushConfig": config}, timeout=10)
        response.raise_for_status()

    def recreate_worker_subscription(self) -> None:
        """Drop the subscription (and any backlog it holds) and make it again, as the stack does."""
        stack = self.stack
        url = f"http://{stack.pubsub_host}/v1/projects/{stack.project}/subscriptions/sync-worker"
        self.http.delete(url, timeout=10)
        stack.create_worker_subscription()


class Connection:
    """One keep-alive HTTP/1.1 connection (http.client: the cheapest client in Python)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=timeout
        )

    def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        try:
            self.conn.request(method, path, body=body, headers=dict(headers or {}))
            response = self.conn.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()  # reconnect on the next request
            raise

    def close(self) -> None:
        self.conn.close()


def spawn_function(
    name: str,
    *,
    source: str,
    target: str,
    env: dict[str, str],
    log_dir: Path,
    port: int | None = None,
) -> tuple[Proc, str]:
    """Start a function under the functions-framework CLI exactly as the stack does."""
    port = port or free_port()
    args = [FUNCTIONS_FRAMEWORK, "--target", target, "--source", source, "--host", "127.0.0.1"]
    proc = Proc(name, [*args, "--port", str(port)], env, log_dir / f"{name}.log")
    proc.start()
    return proc, f"http://127.0.0.1:{port}"


def answered(url: str) -> bool:
    """True once anything answers HTTP at `url` (the stack's readiness rule)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
    try:
        conn.request("GET", parts.path or "/")
        conn.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        conn.close()


@contextlib.contextmanager
def function_process(
    name: str, *, source: str, target: str, env: dict[str, str], log_dir: Path
) -> Iterator[str]:
    """A function served for the duration of the block; yields its URL once it answers."""
    proc, url = spawn_function(name, source=source, target=target, env=env, log_dir=log_dir)
    try:
        wait_for(
            lambda: answered(f"{url}/_ready") or (not proc.alive() and _died(proc)),
            timeout=60,
            what=f"{name} to answer",
            interval=0.02,
        )
        yield url
    finally:
        proc.stop()


def _died(proc: Proc) -> bool:
    raise proc.fail("exited during start-up")


def log_lines(path: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """JSON log records appended to `path` after byte `offset`, and the new offset."""
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    records = []
    for line in data[:end].splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    return records, offset + end
