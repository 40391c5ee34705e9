"""Benchmark: create_meeting latency and Google calls per meeting, against a local stack.

Run with `.venv/bin/python -m tests.bench_create_meeting [--runs 20]`. Starts the whole
stack (Firestore and Pub/Sub emulators, workspace emulator, functions), then for each
conference-ready delay (0 and 500 ms by default) creates meetings one after another
through the HTTP function and reports the median and p90 latency, the Calendar + Meet
calls per meeting (from the emulator's request log) and the target
`delay + 2 emulator round trips + 50 ms`, with the round trip measured on the spot.
Not collected by pytest (no `test_` prefix).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from devstack.stack import Stack, http

BODY: dict[str, Any] = {
    "organizer": "alice@example.com",
    "summary": "Bench",
    "start": "2026-12-01T10:00:00Z",
    "end": "2026-12-01T11:00:00Z",
}


def _emu(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    status, raw = http(method, f"{stack.workspace_url}/_emulator/{path}", body)
    if status >= 300:
        raise RuntimeError(f"{method} {path}: {status} {raw[:200]!r}")
    return json.loads(raw) if raw else None


def round_trip_ms(stack: Stack, samples: int = 50) -> float:
    """Median of one authorised Calendar events.get against the emulator (keep-alive)."""
    token = _emu(stack, "POST", "users/alice@example.com/token", {})["access_token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    url = f"{stack.workspace_url}/calendar/v3/calendars/primary"
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        session.get(url, timeout=10).raise_for_status()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def run(stack: Stack, delay_ms: int, runs: int) -> dict[str, Any]:
    _emu(stack, "POST", "config", {"conference_delay_ms": delay_ms})
    url = f"{stack.function_urls['create_meeting']}/meetings"
    session = requests.Session()
    session.post(url, json=BODY, timeout=60).raise_for_status()  # warm the instance
    _emu(stack, "DELETE", "requests")
    latencies, statuses = [], []
    for _ in range(runs):
        began = time.perf_counter()
        response = session.post(
            url, json=BODY, headers={"Idempotency-Key": uuid.uuid4().hex}, timeout=60
        )
        latencies.append((time.perf_counter() - began) * 1000)
        statuses.append(response.json().get("status"))
    log = _emu(stack, "GET", "requests")
    google = [r for r in log if r.get("api") in ("calendar", "meet")]
    return {
        "delay_ms": delay_ms,
        "runs": runs,
        "ready": statuses.count("ready"),
        "median_ms": round(statistics.median(latencies), 1),
        "p90_ms": round(sorted(latencies)[int(0.9 * (runs - 1))], 1),
        "calls_per_meeting": round(len(google) / runs, 2),
        "calendar_per_meeting": round(sum(r["api"] == "calendar" for r in google) / runs, 2),
        "meet_per_meeting": round(sum(r["api"] == "meet" for r in google) / runs, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--delays", type=int, nargs="+", default=[0, 500])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as logs, Stack(log_dir=Path(logs)) as stack:
        rt = round_trip_ms(stack)
        print(json.dumps({"emulator_round_trip_ms": round(rt, 2)}))
        for delay in args.delays:
            result = run(stack, delay, args.runs)
            result["target_ms"] = round(delay + 2 * rt + 50, 1)
            result["within_target"] = result["median_ms"] <= result["target_ms"]
            print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
