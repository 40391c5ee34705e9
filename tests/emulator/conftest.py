"""One emulator for the whole session; each test starts from a reset world."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.server import RunningEmulator, start
from tests.emulator.support import Harness, Receiver


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[RunningEmulator]:
    running = start("127.0.0.1", 0)
    yield running
    running.stop()


@pytest.fixture
def h(emulator_server: RunningEmulator) -> Harness:
    harness = Harness(emulator_server.url)
    harness.control("POST", "/reset")
    # no Pub/Sub unless a test asks (a reset reads PUBSUB_EMULATOR_HOST, which the
    # session's local stack may have set): events are then only recorded
    harness.control("POST", "/config", {"pubsub_emulator_host": None})
    return harness


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()
