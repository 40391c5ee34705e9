"""`make bench`: start one local stack, run the benchmarks, print a table, write
`.bench/results.json`.

    python -m tests.bench [--only webhook storm fullsync create_meeting coldstart]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence

from devstack.stack import Stack, StackError
from tests.bench import coldstart, create_meeting, fullsync, storm, webhook
from tests.bench.common import BENCH_DIR, Ctx, Result

BENCHMARKS: dict[str, Callable[[Ctx], Result]] = {
    "webhook": webhook.run,
    "storm": storm.run,
    "fullsync": fullsync.run,
    "create_meeting": create_meeting.run,
    "coldstart": coldstart.run,
}


def _fmt(value: float) -> str:
    if value != value:  # NaN
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(results: Sequence[Result]) -> str:
    """One row per figure: value, floor, and per benchmark its ratio, target and verdict."""
    rows = [("benchmark", "figure", "value", "floor", "runs")]
    for r in results:
        for key, value in r.figures.items():
            floor = r.floor.get(key)
            rows.append(
                (r.name, key, _fmt(value), "" if floor is None else _fmt(floor), str(r.runs))
            )
        for key, value in r.floor.items():
            if key not in r.figures:
                rows.append((r.name, f"(floor) {key}", "", _fmt(value), str(r.runs)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("")
    for r in results:
        ratio = "" if r.ratio is None else f"ratio {r.ratio:.2f} ({r.ratio_of}); "
        verdict = "MET" if r.met else "MISSED"
        lines.append(f"{r.name:<15} {verdict:<6} {ratio}target: {r.target}")
        lines.extend(f"{'':<15} - {note}" for note in r.notes)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    parser.add_argument("--out", default=str(BENCH_DIR / "results.json"))
    args = parser.parse_args(argv)
    began = time.monotonic()
    stack = Stack(log_dir=BENCH_DIR / "logs")
    print("starting the local stack ...", flush=True)
    try:
        stack.start()
    except StackError as exc:
        print(f"stack failed to start: {exc}", file=sys.stderr)
        return 1
    os.environ["FIRESTORE_EMULATOR_HOST"] = stack.firestore_host
    os.environ["PUBSUB_EMULATOR_HOST"] = stack.pubsub_host
    results: list[Result] = []
    failed: list[str] = []
    try:
        print(f"stack up in {stack.started_in:.1f}s; logs in {stack.log_dir}", flush=True)
        ctx = Ctx(stack)
        ctx.emu("POST", "config", {"conference_delay_ms": 0})
        for name in args.only:
            t0 = time.monotonic()
            print(f"running {name} ...", flush=True)
            load = os.getloadavg()[0]
            try:
                result = BENCHMARKS[name](ctx)
                result.notes.append(
                    f"1-minute load average when it started: {load:.1f} on "
                    f"{os.cpu_count()} cores (other work on the machine adds noise)."
                )
                results.append(result)
            except Exception:
                failed.append(name)
                traceback.print_exc()
            print(f"  {name} took {time.monotonic() - t0:.1f}s", flush=True)
    finally:
        stack.stop()
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump([r.to_json() for r in results], f, indent=2)
        f.write("\n")
    print()
    print(table(results))
    print(f"\nresults in {out}; total {time.monotonic() - began:.0f}s")
    if failed:
        print(f"benchmarks that failed to run: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
