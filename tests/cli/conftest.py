"""Each CLI test gets `cli` (`meetsync --stack FILE` on the session's stack) and starts
and ends with an empty dead letter (Pub/Sub is not reset between tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.driver import Env
from tests.cli.support import Cli, dead_letters


@pytest.fixture
def cli(env: Env, tmp_path: Path) -> Iterator[Cli]:
    dead_letters(env, take=True)
    yield Cli(env, tmp_path)
    dead_letters(env, take=True)
