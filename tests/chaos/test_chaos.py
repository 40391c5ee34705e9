"""The fault suite, bounded: a few seeds through the whole stack on every `make test`.

`make chaos SEEDS=N` runs many more (see tests/chaos/__main__.py). The seeds here were
picked for coverage: between them they restart the Firestore and the Pub/Sub emulators,
kill the worker mid-sync, drop, duplicate and reorder notifications, inject 5xx and 429,
invalidate sync tokens, and edit exceptions of recurring meetings; and in Meet, people
join and leave, calls are ended, files generated, and Meet events dropped and doubled.
The stored schedules (tests/chaos/fixtures: schedules that once found a bug) are
replayed exactly as recorded (with Meet activity drawn afresh: they predate it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.stack import Stack
from tests.chaos.runner import SeedResult, plan, replay, run_seed
from tests.chaos.tape import fixtures

SEEDS = (2, 21, 11)


@pytest.fixture(scope="module")
def results(full_stack: Stack) -> dict[int, SeedResult]:
    """The bounded seeds, each run once for the tests below."""
    return {seed: run_seed(full_stack, seed) for seed in SEEDS}


@pytest.mark.parametrize("seed", SEEDS)
def test_seed_settles_on_the_ground_truth(results: dict[int, SeedResult], seed: int) -> None:
    result = results[seed]
    steps = "\n".join(result.steps)
    assert result.problems == [], f"seed {seed}:\n{steps}\n!! " + "\n!! ".join(result.problems)
    assert result.meetings > 0
    assert result.announcements > 0


@pytest.mark.parametrize("path", fixtures(), ids=lambda p: p.stem)
def test_a_stored_schedule_settles_on_the_ground_truth(full_stack: Stack, path: Path) -> None:
    result = replay(full_stack, path)
    steps = "\n".join(result.steps)
    assert result.problems == [], f"{path.name}:\n{steps}\n!! " + "\n!! ".join(result.problems)
    assert result.meetings > 0


def test_the_bounded_seeds_cover_every_fault() -> None:
    """Kept honest: if the schedule generator changes, these seeds must still exercise
    the faults the docstring promises (replayed without a stack: steps are seed-only)."""
    kinds = {kind for seed in SEEDS for kind in plan(seed)}
    assert {"restart_firestore", "restart_pubsub", "kill_worker", "push_chaos"} <= kinds
    assert {"api_5xx", "api_429", "meet_5xx", "drop_next", "invalidate_tokens"} <= kinds
    assert {"move_occurrence", "cancel_occurrence"} <= kinds


def test_the_bounded_seeds_exercise_meet(results: dict[int, SeedResult]) -> None:
    """Meet activity is drawn as the run goes (what there is to join depends on the run), so
    its coverage is checked on the runs themselves."""
    steps = [step for result in results.values() for step in result.steps]

    def seen(*words: str) -> bool:
        return any(all(w in step for w in words) for step in steps)

    assert seen("meet:", "joins") and seen("meet:", "leaves") and seen("meet:", "is ended")
    assert seen("meet: a recording") or seen("meet: a transcript")
    assert seen("meet events", "'drop_rate': 0.5") and seen("meet events", "'duplicate': True")
