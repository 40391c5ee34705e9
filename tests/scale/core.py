"""The discrete-event core: a virtual clock, a heap of timed events, and invocations.

Time is a float of seconds since `EPOCH`. Events run in time order. An invocation (one
function serving one request) runs its whole body at once when it starts, but its clock
moves as it goes: every port call adds its latency to `Sim.t` (`spend`), every sleep and
budget wait too, so the services see time pass inside the call and what they write, publish
or schedule carries the right time stamp. When the body returns, `Sim.t` is the
invocation's end; the next event sets the clock back to its own time (other invocations run
in parallel with this one). A worker slot is held from the invocation's start to its end.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tests.scale import params

EPOCH = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
"""Monday 00:00 UTC: the simulated local midnight of day 0 (every user in UTC)."""
EPOCH_S = EPOCH.timestamp()
_T = TypeVar("_T")


@dataclass(slots=True)
class Invocation:
    function: str
    instance: int
    start: float
    slept: float = 0.0
    """Time spent in the product's own sleeps (the settle wait)."""
    waited: float = 0.0
    """Time spent waiting for the Calendar budget."""


@dataclass(slots=True)
class FunctionStats:
    invocations: int = 0
    busy_s: float = 0.0
    slept_s: float = 0.0
    waited_s: float = 0.0
    longest_s: float = 0.0
    over_timeout: int = 0
    errors: int = 0

    def add(self, inv: Invocation, duration: float, timeout: float) -> None:
        self.invocations += 1
        self.busy_s += duration
        self.slept_s += inv.slept
        self.waited_s += inv.waited
        self.longest_s = max(self.longest_s, duration)
        if duration > timeout:
            self.over_timeout += 1


class Sim:
    """The clock and the event loop (`at`, `run`), plus the invocation in progress."""

    def __init__(self) -> None:
        self.t = 0.0
        self._heap: list[tuple[float, int, Callable[[Any], None], Any]] = []
        self._seq = 0
        self.current: Invocation = Invocation("setup", 0, 0.0)
        self.functions: dict[str, FunctionStats] = {}
        self.timeouts: dict[str, float] = {}
        self.events_run = 0
        self._now_t, self._now = 0.0, EPOCH

    # -- clock -----------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        t = self.t
        if t != self._now_t:
            self._now_t, self._now = t, EPOCH + dt.timedelta(seconds=t)
        return self._now

    def monotonic(self) -> float:
        return self.t

    def spend(self, seconds: float) -> None:
        self.t += seconds

    def sleep(self, seconds: float) -> None:
        """The product's sleeps (settle wait): time passes, the slot stays held."""
        if seconds > 0:
            self.t += seconds
            self.current.slept += seconds

    def budget_sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.t += seconds
            self.current.waited += seconds

    # -- events ----------------------------------------------------------------------------

    def at(self, t: float, fn: Callable[[Any], None], arg: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, fn, arg))

    def run(self, until: float) -> None:
        heap = self._heap
        pop = heapq.heappop
        while heap and heap[0][0] <= until:
            t, _, fn, arg = pop(heap)
            self.t = t
            fn(arg)
            self.events_run += 1
        self.t = until

    def pending(self) -> int:
        return len(self._heap)

    # -- invocations -----------------------------------------------------------------------

    def invoke(
        self, function: str, instance: int, body: Callable[[], _T]
    ) -> tuple[_T | None, Exception | None, float]:
        """Run `body` as one invocation starting now: (its result, or the exception it raised,
        and its end time). The clock is back at the start when it returns."""
        start = self.t
        inv = Invocation(function, instance, start)
        outer, self.current = self.current, inv
        stats = self.functions.get(function)
        if stats is None:
            stats = self.functions[function] = FunctionStats()
        self.t += _OVERHEAD
        result: _T | None = None
        error: Exception | None = None
        try:
            result = body()
        except Exception as exc:
            stats.errors += 1
            error = exc
        end = self.t
        stats.add(inv, end - start, self.timeouts.get(function, 540.0))
        self.current = outer
        self.t = start
        return result, error, end


_OVERHEAD = params.cloud("function.overhead")


class SyncExecutor(Executor):
    """An executor whose `submit` runs the call at once, on the invocation's clock, and
    models the overlap: the call's latency is taken off the clock again and charged only
    when (and if) its result is waited for, up to the time it would have been ready."""

    def __init__(self, sim: Sim) -> None:
        self._sim = sim

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        sim = self._sim
        start = sim.t
        future: TimedFuture[_T] = TimedFuture(sim)
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered at result(), as a pool would
            future.set_exception(exc)
        future.ready_at = sim.t
        sim.t = start
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


class TimedFuture(Future[_T]):
    """A completed future that moves the waiter's clock to when it would have completed."""

    def __init__(self, sim: Sim) -> None:
        super().__init__()
        self._sim = sim
        self.ready_at = 0.0

    def result(self, timeout: float | None = None) -> _T:
        if self._sim.t < self.ready_at:
            self._sim.t = self.ready_at
        return super().result(timeout)


@dataclass(slots=True)
class Series:
    """Counts per bucket of `width` seconds (a per-minute or per-second time series)."""

    width: float
    counts: dict[int, float] = field(default_factory=dict)

    def add(self, t: float, n: float = 1.0) -> None:
        b = int(t // self.width)
        self.counts[b] = self.counts.get(b, 0.0) + n

    def peak(self) -> float:
        return max(self.counts.values(), default=0.0)

    def peak_per_s(self) -> float:
        return self.peak() / self.width
