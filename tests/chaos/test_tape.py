"""Stored schedules: recording draws what `random.Random` draws, and a replay gives back
exactly what was recorded, whatever the generator has become since."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.chaos.runner import FAULT_STEPS, USER_STEPS
from tests.chaos.tape import DivergedError, Schedule, Tape, fixtures

SEQ = ("a", "b", "c", "d", "e")


def _draws(r: random.Random | Tape) -> list[object]:
    return [
        r.choice(SEQ),
        r.uniform(0, 0.15),
        r.randrange(10**6),
        r.randrange(1, 4),
        r.sample(SEQ, 2),
        r.random(),
        r.getrandbits(128),
    ]


def test_recording_draws_what_the_generator_draws() -> None:
    assert _draws(Tape("details-7")) == _draws(random.Random("details-7"))


def test_a_replay_gives_back_the_recording_not_the_generator() -> None:
    recorded = Tape("details-7")
    values = _draws(recorded)
    replayed = Tape("another seed altogether", replay=recorded.drawn)
    assert _draws(replayed) == values
    assert replayed.drawn == recorded.drawn


def test_a_replay_asking_for_another_draw_says_so() -> None:
    recorded = Tape("s")
    recorded.choice(SEQ)
    with pytest.raises(DivergedError):
        Tape("s", replay=recorded.drawn).random()


def test_a_replay_past_its_recording_goes_on_with_the_generator() -> None:
    replayed = Tape("s", replay=[])
    assert replayed.random() == random.Random("s").random()


def test_a_schedule_round_trips(tmp_path: Path) -> None:
    tape = Tape("details-3")
    _draws(tape)
    schedule = Schedule(3, ["create", "rename"], {"details": tape.drawn, "client": []}, "why")
    schedule.save(tmp_path / "s.json")
    assert Schedule.load(tmp_path / "s.json") == schedule


@pytest.mark.parametrize("path", fixtures(), ids=lambda p: p.stem)
def test_the_stored_schedules_are_long_and_known(path: Path) -> None:
    schedule = Schedule.load(path)
    assert len(schedule.kinds) >= 40
    assert set(schedule.kinds) <= USER_STEPS.keys() | FAULT_STEPS.keys()
    assert schedule.draws["details"] and schedule.note


def test_the_issue_14_schedules_are_stored() -> None:
    assert {Schedule.load(p).seed for p in fixtures()} >= {5013, 6022}
