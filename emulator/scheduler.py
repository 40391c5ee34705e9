"""Runs callbacks when the emulator clock reaches their due time.

Conference creation finishes in the background like Google's does: the change must
happen (new etag, sync entry, push) whether or not anyone reads the event, and an
advanced clock must fire it at once.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable

from emulator.clock import Clock

log = logging.getLogger(__name__)


class Scheduler:
    """A single background thread waiting on a heap of (due time, callback)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._generation = 0
        self._stopped = False
        self._thread: threading.Thread | None = None
        clock.on_change(self.wake)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="emulator-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread:
            self._thread.join(timeout=5)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def clear(self) -> None:
        """Forget every pending task (used by reset)."""
        with self._cond:
            self._heap.clear()
            self._generation += 1
            self._cond.notify_all()

    def call_at(self, due: float, callback: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._counter), self._generation, callback))
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                if not self._heap:
                    self._cond.wait(timeout=1.0)
                    continue
                due, _, generation, callback = self._heap[0]
                wait = due - self._clock.now()
                if wait > 0:
                    self._cond.wait(timeout=min(wait, 1.0))
                    continue
                heapq.heappop(self._heap)
                if generation != self._generation:
                    continue
            try:
                callback()
            except Exception:  # a bad task must not kill the scheduler
                log.exception("scheduled task failed")
