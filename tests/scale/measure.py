"""The simulation's operations timed on the local stack (`python -m tests.scale.measure`).

Starts the Firestore and Pub/Sub emulators (as `make dev` does, nothing else) and times,
through the product's own adapters (`shared.store.firestore.Store`,
`shared.store.pubsub.Publisher`), the operations whose cloud latencies the simulation
assumes (`tests.scale.params.LATENCY`): a document read, a write, a conditional
read-modify-write, an indexed query, a confirmed publish. Prints the medians (the figures
recorded as `local` in params). Not part of `make scale`: it needs Java and gcloud's
emulators, and the simulation itself needs neither.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from devstack.stack import Stack
from shared.domain.models import CalendarState, Channel, utcnow

RUNS = 60


def _median_ms(fn: Callable[[int], object], runs: int = RUNS) -> float:
    fn(-1)  # warm-up: connections, first-use imports
    times = []
    for k in range(runs):
        began = time.perf_counter()
        fn(k)
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def main() -> int:
    with tempfile.TemporaryDirectory() as logs:
        stack = Stack(with_workspace=False, with_functions=False, log_dir=Path(logs))
        with stack:
            os.environ["FIRESTORE_EMULATOR_HOST"] = stack.firestore_host
            os.environ["PUBSUB_EMULATOR_HOST"] = stack.pubsub_host
            from google.cloud import firestore

            from shared.store.firestore import Store
            from shared.store.pubsub import Publisher

            store = Store(firestore.Client(project=stack.project))
            publisher = Publisher(stack.project)
            for i in range(RUNS + 1):
                store.put_calendar(CalendarState(key=f"m{i}:m{i}", owner=f"m{i}", calendar_id="c"))
            for i in range(20):
                store.put_channel(
                    Channel(
                        id=f"ch{i}",
                        calendar_key="m0:m0",
                        resource_id="r",
                        token_hash="h",
                        expiration=utcnow(),
                    )
                )

            def modify(i: int) -> object:
                def touch(state: CalendarState | None) -> tuple[None, CalendarState | None]:
                    if state is not None:
                        state.syncs += 1
                    return None, state

                return store.modify_calendar(f"m{max(i, 0)}:m{max(i, 0)}", touch)

            figures = {
                "firestore.read": _median_ms(
                    lambda i: store.get_calendar(f"m{max(i, 0)}:m{max(i, 0)}")
                ),
                "firestore.write": _median_ms(
                    lambda i: store.update_calendar(f"m{max(i, 0)}:m{max(i, 0)}", {"syncs": i})
                ),
                "firestore.read_modify_write": _median_ms(modify),
                "firestore.query (20 documents)": _median_ms(lambda i: store.channels_for("m0:m0")),
                "pubsub.publish": _median_ms(
                    lambda i: publisher.publish("calendar-changes", {"n": i}, ordering_key="k")
                ),
            }
    for name, ms in figures.items():
        print(f"{name:32} {ms:7.2f} ms (median of {RUNS})")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
