"""A seed's schedule as data: every random draw of a run, recorded, and replayed exactly.

A seed names a schedule only as long as the generator stays the same: a new step kind,
a changed weight or one more draw and seed 6022 means something else. So a schedule
worth keeping (one that found a bug) is stored as a fixture: the step kinds and every
draw the run made, in order (`tests/chaos/fixtures/*.json`). Replaying it feeds the
same values back, whatever the generator has become since; a harness whose steps no
longer ask for the same kind of draw says so (`DivergedError`) rather than run something
else. Draws a replay needs beyond the recording (a request that failed this time and not
then) come from the generator.

Draws are recorded as the generator's own primitives (`choice` as an index, `sample` as
indices), so a recording run draws exactly what `random.Random` would: recording does
not change a seed's schedule.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
FIXTURES = Path(__file__).resolve().parent / "fixtures"


class DivergedError(RuntimeError):
    """A replay asked for another draw than the recording holds."""


class Tape:
    """`random.Random(seed)`'s draws, recorded in `drawn`; or, given `replay`, those."""

    def __init__(self, seed: str, replay: Sequence[Sequence[Any]] | None = None) -> None:
        self._rng = random.Random(seed)
        self._replay = [list(d) for d in replay] if replay is not None else None
        self.drawn: list[list[Any]] = []

    def _draw(self, method: str, fresh: Callable[[], Any]) -> Any:
        if self._replay:
            recorded, value = self._replay.pop(0)
            if recorded != method:
                raise DivergedError(f"the recording holds {recorded} where {method} is drawn")
        else:  # recording; or a replay that asks for more than was recorded (one more
            # failed request for a client to react to, say): the generator goes on
            value = fresh()
        self.drawn.append([method, value])
        return value

    def choice(self, seq: Sequence[T]) -> T:
        index = int(self._draw("choice", lambda: self._rng.randrange(len(seq))))
        if not 0 <= index < len(seq):
            raise DivergedError(f"recorded choice {index} of {len(seq)}")
        return seq[index]

    def sample(self, population: Sequence[T], k: int) -> list[T]:
        picked = self._draw("sample", lambda: self._rng.sample(range(len(population)), k))
        if len(picked) != k or any(not 0 <= i < len(population) for i in picked):
            raise DivergedError(f"recorded sample {picked} of {len(population)}")
        return [population[i] for i in picked]

    def randrange(self, start: int, stop: int | None = None) -> int:
        args = (start,) if stop is None else (start, stop)
        return int(self._draw("randrange", lambda: self._rng.randrange(*args)))

    def uniform(self, a: float, b: float) -> float:
        return float(self._draw("uniform", lambda: self._rng.uniform(a, b)))

    def random(self) -> float:
        return float(self._draw("random", self._rng.random))

    def getrandbits(self, k: int) -> int:
        return int(self._draw("getrandbits", lambda: self._rng.getrandbits(k)))


@dataclass
class Schedule:
    """One seed's schedule as run: the step kinds and the draws of each tape."""

    seed: int
    kinds: list[str]
    draws: dict[str, list[list[Any]]] = field(default_factory=dict)
    note: str = ""

    def save(self, path: Path) -> None:
        """JSON with one step kind, and one draw, a line (a fixture reads and diffs well)."""

        def rows(values: list[Any], indent: str) -> str:
            inner = ",\n".join(f"{indent}  {json.dumps(v)}" for v in values)
            return f"[\n{inner}\n{indent}]" if values else "[]"

        draws = ",\n".join(
            f"  {json.dumps(name)}: {rows(values, '  ')}" for name, values in self.draws.items()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "{\n"
            f'  "seed": {self.seed},\n'
            f'  "note": {json.dumps(self.note)},\n'
            f'  "kinds": {rows(list(self.kinds), "  ")},\n'
            f'  "draws": {{\n{draws}\n  }}\n'
            "}\n"
        )

    @classmethod
    def load(cls, path: Path) -> Schedule:
        data = json.loads(path.read_text())
        return cls(
            seed=int(data["seed"]),
            kinds=[str(k) for k in data["kinds"]],
            draws={str(k): list(v) for k, v in data["draws"].items()},
            note=str(data.get("note", "")),
        )


def fixtures() -> list[Path]:
    """The stored schedules replayed by `make test` (tests/chaos/test_chaos.py)."""
    return sorted(FIXTURES.glob("*.json"))
