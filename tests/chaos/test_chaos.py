"""The fault suite, bounded: a few seeds through the whole stack on every `make test`.

`make chaos SEEDS=N` runs many more (see tests/chaos/__main__.py). The seeds here were
picked for coverage: between them they restart the Firestore and the Pub/Sub emulators,
kill the worker mid-sync, drop, duplicate and reorder notifications, inject 5xx and 429,
invalidate sync tokens, and edit exceptions of recurring meetings. The stored schedules
(tests/chaos/fixtures: schedules that once found a bug) are replayed exactly as recorded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.stack import Stack
from tests.chaos.runner import plan, replay, run_seed
from tests.chaos.tape import fixtures

SEEDS = (2, 21, 11)


@pytest.mark.parametrize("seed", SEEDS)
def test_seed_settles_on_the_ground_truth(full_stack: Stack, seed: int) -> None:
    result = run_seed(full_stack, seed)
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
