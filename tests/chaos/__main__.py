"""`make chaos SEEDS=N`: run the fault suite over seeds 1..N on a local stack of its own.

    python -m tests.chaos --seeds 200          # seeds 1..200, 40 steps each
    python -m tests.chaos --seed 17 --verbose  # replay one seed, printing its schedule
    python -m tests.chaos --seed 17 --record tests/chaos/fixtures  # keep its schedule
    python -m tests.chaos --replay tests/chaos/fixtures/seed-6022.json

Prints one line per seed and a summary (runs, discrepancies); writes
`.chaos/results.json`; exits 1 if any seed ended with a discrepancy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from devstack.stack import LOCAL, Stack, interrupt_once
from tests.chaos.runner import CHAOS_ENV, SeedResult, replay, run_seed

OUT = Path(__file__).resolve().parents[2] / ".chaos"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=20, help="run seeds 1..N")
    parser.add_argument("--first", type=int, default=1, help="first seed of the range")
    parser.add_argument("--seed", type=int, action="append", help="run only these seeds")
    parser.add_argument("--steps", type=int, default=40, help="schedule length per seed")
    parser.add_argument("--verbose", action="store_true", help="print every seed's schedule")
    parser.add_argument(
        "--record", type=Path, help="store each seed's schedule as DIR/seed-N.json (replayable)"
    )
    parser.add_argument(
        "--replay", type=Path, action="append", help="run these stored schedules instead"
    )
    args = parser.parse_args(argv)
    seeds = args.seed or list(range(args.first, args.first + args.seeds))
    if args.replay:
        print(f"fault suite: {len(args.replay)} stored schedules; starting the stack")
    else:
        print(f"fault suite: {len(seeds)} seeds, {args.steps} steps each; starting the stack")
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, once, so the stack is stopped
    stopping = interrupt_once()
    stack = Stack(log_dir=LOCAL / "chaos-logs", extra_env=dict(CHAOS_ENV))
    stack.start()
    results: list[SeedResult] = []
    began = time.monotonic()
    runs: list[tuple[int, Path | None]] = (
        [(0, path) for path in args.replay] if args.replay else [(seed, None) for seed in seeds]
    )
    try:
        for seed, stored in runs:
            record = args.record / f"seed-{seed}.json" if args.record and not stored else None
            try:
                if stored is not None:
                    result = replay(stack, stored)
                    seed = result.seed
                else:
                    result = run_seed(stack, seed, length=args.steps, record=record)
            except Exception as exc:  # a harness failure is this seed's failure, not the run's
                result = SeedResult(seed, [], [f"harness error: {exc!r}"])
            results.append(result)
            verdict = "ok" if not result.problems else f"{len(result.problems)} DISCREPANCIES"
            print(
                f"seed {seed:>4}: {verdict:<18} {result.meetings:>3} meetings "
                f"{result.announcements:>4} announcements {result.sweeps} sweeps "
                f"{result.seconds:5.1f} s (settled in {result.settle_seconds:4.1f} s)",
                flush=True,
            )
            if args.verbose or result.problems:
                for step in result.steps:
                    print(f"      step: {step}")
            for problem in result.problems:
                print(f"      !! {problem}")
    finally:
        stopping.append(0)
        stack.stop()
    bad = [r for r in results if r.problems]
    elapsed = time.monotonic() - began
    print(
        f"runs: {len(results)}  discrepancies: {sum(len(r.problems) for r in bad)} "
        f"(in {len(bad)} seeds)  sweeps needed: {sum(r.sweeps for r in results)}  "
        f"time: {elapsed:.0f} s"
    )
    if bad:
        print("replay a seed with: python -m tests.chaos --seed N --verbose")
    OUT.mkdir(exist_ok=True)
    (OUT / "results.json").write_text(
        json.dumps([r.__dict__ for r in results], indent=2, default=str) + "\n"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
