"""The per-test view of the whole stack, as in tests/e2e."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.driver import Env
from emulator.stack import Stack


@pytest.fixture
def env(stack: Stack) -> Iterator[Env]:
    e = Env(stack)
    try:
        yield e
    finally:
        e.close()
