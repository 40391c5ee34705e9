"""What the users do: event changes on a working-day curve, a 9:00 burst, meetings made.

Changes arrive as a Poisson process whose rate follows `params.HOURLY_WEIGHT` over the day
(every simulated day a working day, every user in one time zone), ten times that rate for
the ten minutes from 9:00, scaled so that a calendar sees `CHANGES_PER_DAY` changes a day
on average. Each change picks a calendar at random and is one of: a create_meeting request
(the product's real `MeetingService`, through its own function and budget), a move, rename
or cancellation of one of our meetings, a new event, a deleted event, or an edit of an
event that is not ours.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from tests.scale import params
from tests.scale.calendar import ScaleCalendar
from tests.scale.core import Sim


def minute_rates(changes_per_day: float = params.CHANGES_PER_DAY) -> list[float]:
    """Changes per calendar per minute, for each minute of the day."""
    weights = [params.HOURLY_WEIGHT[m // 60] for m in range(1440)]
    first = params.BURST_START_S // 60
    for m in range(first, first + params.BURST_SECONDS // 60):
        weights[m] *= params.BURST_FACTOR
    scale = changes_per_day / sum(weights)
    return [w * scale for w in weights]


def in_burst(t: float) -> bool:
    tod = t % 86_400
    return params.BURST_START_S <= tod < params.BURST_START_S + params.BURST_SECONDS


class Workload:
    def __init__(
        self,
        sim: Sim,
        calendar: ScaleCalendar,
        *,
        simulated: int,
        end_s: float,
        rng: random.Random,
        create: Callable[[int, int], str | None],
        changes_per_day: float = params.CHANGES_PER_DAY,
    ) -> None:
        self.sim = sim
        self.calendar = calendar
        self.simulated = simulated
        self.end_s = end_s
        self.rng = rng
        self.create = create
        """Makes meeting number n on calendar i: its event id, or None if refused."""
        self.rates = minute_rates(changes_per_day)
        self.meetings: list[list[str]] = [[] for _ in range(simulated)]
        self.kinds: Counter[str] = Counter()
        self._made = 0
        shares = (
            ("create", params.SHARE_CREATE),
            ("meeting", params.SHARE_MEETING_EDIT),
            ("new", params.SHARE_NEW_EVENT),
            ("delete", params.SHARE_DELETE),
        )
        self._thresholds: list[tuple[float, str]] = []
        total = 0.0
        for kind, share in shares:
            total += share
            self._thresholds.append((total, kind))

    def start(self, at: float = 0.0) -> None:
        self.sim.at(at, self._minute, int(at // 60))

    def _minute(self, minute: int) -> None:
        begin = minute * 60.0
        if begin >= self.end_s:
            return
        rate = self.simulated * self.rates[minute % 1440] / 60.0
        end = min(begin + 60.0, self.end_s)
        t = begin
        rng = self.rng
        while True:
            t += rng.expovariate(rate)
            if t >= end:
                break
            self.sim.at(t, self._change, None)
        self.sim.at(begin + 60.0, self._minute, minute + 1)

    def _change(self, _: object) -> None:
        rng = self.rng
        i = rng.randrange(self.simulated)
        u = rng.random()
        kind = next((k for limit, k in self._thresholds if u < limit), "edit")
        cal = self.calendar
        if kind == "create":
            self._made += 1
            made = self.create(i, self._made)
            if made is not None:
                self.meetings[i].append(made)
            self.kinds["create" if made else "create_refused"] += 1
            return
        if kind == "meeting" and self.meetings[i]:
            mine = self.meetings[i]
            event_id = rng.choice(mine)
            v = rng.random()
            if v < 0.5:
                day, hour = rng.randrange(3, 28), rng.randrange(8, 18)
                cal.user_edit(
                    i,
                    event_id,
                    start={"dateTime": f"2026-04-{day:02d}T{hour:02d}:00:00Z"},
                    end={"dateTime": f"2026-04-{day:02d}T{hour:02d}:30:00Z"},
                )
                self.kinds["meeting_move"] += 1
            elif v < 0.8:
                cal.user_edit(i, event_id, summary=f"renamed {rng.randrange(10**6)}")
                self.kinds["meeting_rename"] += 1
            else:
                cal.user_delete(i, event_id)
                mine.remove(event_id)
                self.kinds["meeting_cancel"] += 1
            return
        if kind == "meeting":
            kind = "edit"  # none of ours on this calendar: an edit of another event
        if kind == "new":
            cal.user_add(i)
            self.kinds["new"] += 1
            return
        j = rng.randrange(cal.base_n[i])
        if kind == "delete":
            done = cal.user_delete(i, f"b{j}")
        else:
            done = cal.user_edit(i, f"b{j}", summary=f"edited {rng.randrange(10**6)}")
        self.kinds[kind if done is not None else "noop"] += 1
