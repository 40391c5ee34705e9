"""Cold start: process start to first answered request, for each function under the
functions-framework CLI, against the no-op function started the same way."""

from __future__ import annotations

import time

from emulator.stack import FUNCTIONS
from tests.bench.common import (
    NOOP_SOURCE,
    NOOP_TARGET,
    Ctx,
    Result,
    answered,
    median,
    spawn_function,
)

STARTS = 5
TARGET_RATIO = 1.5
PROBE_INTERVAL = 0.005
FLOOR = "noop"


def cold_start(ctx: Ctx, name: str, source: str, target: str) -> float:
    """Seconds from spawning the CLI to the first HTTP answer to GET /_ready."""
    began = time.perf_counter()
    proc, url = spawn_function(
        f"cold-{name}",
        source=source,
        target=target,
        env=ctx.stack.function_env(),
        log_dir=ctx.stack.log_dir,
    )
    try:
        while not answered(f"{url}/_ready"):
            if not proc.alive():
                raise proc.fail("exited during start-up")
            if time.perf_counter() - began > 60:
                raise proc.fail("did not answer within 60 s")
            time.sleep(PROBE_INTERVAL)
        return time.perf_counter() - began
    finally:
        proc.stop()


def run(ctx: Ctx, *, starts: int = STARTS) -> Result:
    targets = {name: ("main.py", name) for name in FUNCTIONS}
    targets[FLOOR] = (NOOP_SOURCE, NOOP_TARGET)
    times: dict[str, list[float]] = {name: [] for name in targets}
    for n in range(starts):
        order = list(targets) if n % 2 == 0 else list(targets)[::-1]
        for name in order:
            source, target = targets[name]
            times[name].append(cold_start(ctx, name, source, target))
    floor_s = median(times[FLOOR])
    figures = {f"{name}_s": median(times[name]) for name in FUNCTIONS}
    ratios = {name: median(times[name]) / floor_s for name in FUNCTIONS}
    worst = max(ratios, key=lambda name: ratios[name])
    return Result(
        name="coldstart",
        runs=starts,
        figures=figures,
        floor={"noop_s": floor_s},
        ratio=ratios[worst],
        ratio_of=f"slowest function ({worst}) / floor",
        target=f"<= {TARGET_RATIO} x the floor (bare functions-framework function) for each",
        met=ratios[worst] <= TARGET_RATIO,
        notes=[
            f"Median of {starts} starts each, targets started one at a time in alternating "
            "order; time = spawning `functions-framework --source ... --target NAME` (same "
            f"env as the stack) to the first HTTP answer of GET /_ready, probed every "
            f"{PROBE_INTERVAL * 1000:.0f} ms. The probe's answer does not build the lazy "
            "Google/Firestore clients, so this is import + server start.",
            "ratios: " + ", ".join(f"{name} {r:.2f}" for name, r in ratios.items()),
        ],
    )
