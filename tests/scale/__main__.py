"""`make scale`: simulate the deployment at N = 1,000, 10,000 and 100,000 calendars.

    python -m tests.scale                       # the three Ns, 7.1 days each (make scale)
    python -m tests.scale --n 1000 --days 1     # one small case, fast
    python -m tests.scale --n 100000 --sample 10000 --set SWEEP_AGE_SECONDS=10800

Above `--sample` calendars, S = `--sample` calendars are simulated, each standing for N / S
(see `tests.scale.scenario`); when a sampled N and the full 10,000 run are both asked for,
10,000 is also run sampled at 1,000 and its per-calendar figures are checked against the
full run's (within 5%). Writes `.bench/scale.json` (a list, one object per N) and
`.bench/scale-summary.json` (the sampling check, the capacity figures, the latencies
assumed) and prints a table per N.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console

from shared.settings import Settings
from tests.scale import params, report
from tests.scale.scenario import Config, Scenario

OUT = params.ROOT / ".bench" / "scale.json"
DAYS = 7.1
"""One whole renewal cycle: channels asked for 7 days less up to 10% (`TTL_JITTER`) expire
6.3 to 7 days after the onboarding at time 0, so a shorter run could not see one expire."""
CHECK_N = 10_000
CHECK_SAMPLE = 1_000


def run_one(config: Config) -> dict[str, Any]:
    """One scenario in this process: its figures."""
    _quiet_logs()
    scenario = Scenario(config)
    scenario.run()
    return report.figures(scenario)


def _quiet_logs() -> None:
    """The product logs each sync; a million JSON lines would cost more than the syncs."""
    logging.getLogger("shared").setLevel(logging.CRITICAL)
    logging.getLogger("shared").propagate = False


def _settings(pairs: list[str]) -> dict[str, Any]:
    """`NAME=VALUE` overrides of the product's settings, parsed as the product parses them."""
    env = {
        "GOOGLE_CLOUD_PROJECT": "scale-sim",
        "DELEGATION_SERVICE_ACCOUNT": "sim@scale-sim.iam.gserviceaccount.com",
    }
    names = []
    for pair in pairs:
        name, _, value = pair.partition("=")
        env[name] = value
        names.append(name)
    parsed = Settings.from_env(env)
    by_env = {f.metadata["env"]: f.name for f in dataclasses.fields(Settings)}
    unknown = [n for n in names if n not in by_env]
    if unknown:
        raise SystemExit(f"unknown setting {unknown[0]}")
    return {by_env[name]: getattr(parsed, by_env[name]) for name in names}


def _finite(value: Any) -> Any:
    """JSON has no NaN: a figure with nothing to measure (no burst in a short run) is null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def plan(ns: list[int], sample: int, *, days: float, seed: int, **kw: Any) -> list[Config]:
    configs = [
        Config(calendars=n, simulated=min(n, sample), days=days, seed=seed, **kw) for n in ns
    ]
    if CHECK_N in ns and any(n > sample for n in ns) and sample >= CHECK_N:
        configs.append(
            Config(calendars=CHECK_N, simulated=CHECK_SAMPLE, days=days, seed=seed, **kw)
        )
    return configs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.scale", description=__doc__)
    parser.add_argument("--n", default="1000,10000,100000", help="calendars, comma-separated")
    parser.add_argument(
        "--days",
        type=float,
        default=DAYS,
        help="simulated days (default 7.1: past the expiry of the channels opened at onboarding, "
        "6.3 to 7 days later with the product's lifetime jitter)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--sample", type=int, default=10_000, help="simulate at most this many calendars"
    )
    parser.add_argument("--page-size", type=int, default=params.FULL_SYNC_PAGE)
    parser.add_argument("--jobs", type=int, default=2, help="scenarios run in parallel")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a product setting"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    ns = [int(x.replace("_", "")) for x in args.n.split(",") if x]
    configs = plan(
        ns,
        args.sample,
        days=args.days,
        seed=args.seed,
        page_size=args.page_size,
        settings=_settings(args.set),
    )
    console = Console(width=max(Console().width, 120))
    console.print(
        f"simulating {', '.join(f'{c.calendars:,} ({c.simulated:,} simulated)' for c in configs)}"
        f" over {args.days:g} days, {args.jobs} at a time"
    )
    started = time.perf_counter()
    order = sorted(range(len(configs)), key=lambda k: -configs[k].simulated)
    if args.jobs > 1 and len(configs) > 1:
        with ProcessPoolExecutor(max_workers=min(args.jobs, len(configs))) as pool:
            done = list(pool.map(run_one, [configs[k] for k in order]))
    else:
        done = [run_one(configs[k]) for k in order]
    results = [done[order.index(k)] for k in range(len(configs))]
    runs, extra = results[: len(ns)], results[len(ns) :]
    full = next((r for r in runs if r["simulated_calendars"] == CHECK_N), None)
    check = report.sample_check(full, extra[0]) if extra and full is not None else None
    for fig in runs:
        if fig["simulated_calendars"] < fig["calendars"]:
            fig["sampling_check"] = check
            fig["criteria"]["sampling_within_5_percent"] = bool(check and check["within_5_percent"])
            fig["all_pass"] = all(fig["criteria"].values())
    summary: dict[str, Any] = {
        "runs": [
            {k: r[k] for k in ("calendars", "simulated_calendars", "sim_wall_s", "sim_cpu_s")}
            for r in results
        ],
        "sampling_check": check,
        "capacity": report.capacity(runs),
        "wall_s": round(time.perf_counter() - started, 1),
        "latencies": {k: dataclasses.asdict(v) for k, v in params.LATENCY.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_finite(runs), indent=2) + "\n")
    summary_path = args.out.with_name(args.out.stem + "-summary.json")
    summary_path.write_text(json.dumps(_finite(summary), indent=2) + "\n")
    for fig in runs:
        report.table(fig, console)
    if check is not None:
        verdict = "[green]within 5%[/]" if check["within_5_percent"] else "[red]NOT within 5%[/]"
        console.print(
            f"sampling check: {CHECK_N:,} calendars simulated as {CHECK_SAMPLE:,} vs in full: "
            f"{verdict} {check['ratios']}"
        )
    console.print(f"capacity: {summary['capacity']}")
    console.print(f"wrote {args.out} and {summary_path.name} in {summary['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
