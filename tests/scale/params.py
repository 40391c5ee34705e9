"""Every number the simulation assumes, each with where it comes from.

Three kinds: Google's published limits (cited), per-operation latencies in the cloud (what
an invocation's simulated duration is made of; stated assumptions, with what the same
operation measured on the local stack beside each), and the deployment's own figures
(maximum instances, schedules, Pub/Sub retry policy), read from `infra/*.tf` so that the
simulation follows Terraform rather than a copy of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"

# -- Google's limits -----------------------------------------------------------------------

CALENDAR_PROJECT_PER_MIN = 10_000
"""Calendar API usage limits (developers.google.com/workspace/calendar/api/guides/quota):
10,000 requests per minute per project, sliding window; 403/429 `usageLimits` beyond."""
CALENDAR_USER_PER_MIN = 600
"""Same page: 600 requests per minute per user per project (sliding window). Under domain-wide
delegation Google charges the service account unless `quotaUser` is set
(`../shared/reference/google-apis.md` section 4): modelled here per impersonated user."""
CALENDAR_DAILY_THRESHOLD = 1_000_000
"""Same page, "Daily billing threshold": 1,000,000 requests per day per project before charges
apply (projects created on or after 2026-05-01); it cannot be increased."""
MEET_CREATE_USER_PER_MIN = 10
MEET_CREATE_PROJECT_PER_MIN = 100
"""Meet REST API limits: `spaces.create` 100/min per project and 10/min per user."""
FIRESTORE_DOC_WRITES_PER_S = 1.0
"""Firestore best practices: about one sustained write per second to one document."""
FIRESTORE_MONOTONIC_WRITES_PER_S = 500.0
"""Firestore best practices: ~500 writes/s to a collection whose indexed field rises
monotonically (a hot index range); exempt such fields from indexing."""
WEBHOOK_TIMEOUT_S = 30.0


# -- per-operation latencies ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Latency:
    cloud: float
    """Seconds, in the cloud (the figure the simulation uses)."""
    local: float | None
    """Seconds, the same operation on the local stack (emulators on this 2-core machine),
    None where not measured."""
    source: str


_MEASURED = "`python -m tests.scale.measure` on this 2-core machine, load 3.3, median of 60"

LATENCY: dict[str, Latency] = {
    "firestore.read": Latency(
        0.010,
        0.0064,
        f"one document get, same region (assumed; Google publishes no figure). Local: {_MEASURED}",
    ),
    "firestore.write": Latency(
        0.020,
        0.0044,
        "one document commit (assumed). Local: a plain update 4.4 ms, a conditional "
        f"read-modify-write 16.0 ms in all ({_MEASURED}); the lease write ~20 ms (README)",
    ),
    "firestore.query": Latency(
        0.030,
        0.0178,
        "an indexed query (assumed), plus `firestore.query_doc` per document streamed. Local: "
        f"a 20-document query 17.8 ms ({_MEASURED})",
    ),
    "firestore.query_doc": Latency(
        0.0002,
        0.00024,
        "each further document of a query (local: 500 meeting heads streamed in 0.12 s, "
        "README Measured)",
    ),
    "calendar.call": Latency(
        0.150,
        0.0028,
        "a Calendar API request from Cloud Functions (assumed: a Google API round trip with "
        "TLS reuse). Local: the workspace emulator through google-api-python-client, ~358 "
        "inserts/s (`python -m devstack.bench`, README)",
    ),
    "calendar.list_page": Latency(
        0.400,
        0.026,
        "an events.list page of 250 full events (assumed). Local: ~39 pages of 2,500 events/s "
        "from the emulator (README), ~26 ms a page",
    ),
    "meet.call": Latency(0.200, None, "a Meet REST request (assumed)"),
    "pubsub.publish": Latency(
        0.015,
        0.0051,
        f"a confirmed publish, same region (assumed). Local: {_MEASURED}; the webhook's p50 "
        "of 3.1 ms is one such publish (README, make bench)",
    ),
    "pubsub.push": Latency(
        0.100,
        None,
        "publish to push delivery at the subscriber (assumed; Pub/Sub publishes no figure)",
    ),
    "google.push": Latency(
        1.0,
        None,
        "a Calendar change to Google's push notification at the webhook (assumed; Google "
        "publishes no bound)",
    ),
    "token.mint": Latency(
        0.150,
        None,
        "an access token minted for a user: IAM signJwt + OAuth token exchange (assumed), "
        "plus the user's record read (counted as a Firestore read)",
    ),
    "function.overhead": Latency(
        0.005,
        0.0007,
        "request routing and framework per invocation (local: a no-op function answers in "
        "0.7 ms, README)",
    ),
}


def cloud(name: str) -> float:
    return LATENCY[name].cloud


# -- the workload ----------------------------------------------------------------------------

EVENTS_PER_CALENDAR = 2_000
"""Events in the full-sync window per calendar (±10%, per calendar, from the seed)."""
CHANGES_PER_DAY = 20.0
"""Event changes per calendar per working day, the 9:00 burst included."""
BURST_FACTOR = 10.0
BURST_START_S = 9 * 3600
BURST_SECONDS = 600
HOURLY_WEIGHT = (
    0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.5,  # 00-07
    1.5, 2.0, 2.0, 2.0, 1.2, 1.8, 2.0, 2.0,  # 08-15
    1.8, 1.0, 0.5, 0.2, 0.2, 0.2, 0.2, 0.2,  # 16-23
)  # fmt: skip
"""The working-day curve: relative change rate per hour of the (shared) local day; every
simulated day is a working day (the worst case), every user in one time zone."""
SHARE_CREATE = 0.05
"""Share of the changes that are create_meeting requests (about one meeting a day)."""
SHARE_MEETING_EDIT = 0.05
"""Share of the changes that move, rename or cancel one of our meetings."""
SHARE_NEW_EVENT = 0.10
SHARE_DELETE = 0.05
"""The rest edits an existing event that is not ours."""

FULL_SYNC_PAGE = 250
"""Events per page of a listing. The product asks for maxResults=2500, but Google documents
that a page may hold fewer than maxResults; 250 (Google's default page) is the pessimistic
case the simulation assumes (`--page-size` changes it)."""


# -- the deployment, from Terraform ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deployment:
    max_instances: dict[str, int]
    concurrency: dict[str, int]
    timeouts: dict[str, int]
    calls_calendar: frozenset[str]
    """Functions that call Calendar (`calendar = true` in functions.tf): they share the budget."""
    renew_schedule: str
    sweep_schedule: str
    max_delivery_attempts: int
    min_backoff_s: float
    max_backoff_s: float
    ack_deadline_s: dict[str, int] = field(default_factory=dict)
    budget_instances: int = 1
    """Unused since Terraform splits the budget by share (kept for `--set` experiments)."""
    budget_shares: dict[str, float] = field(default_factory=dict)
    """Each Calendar-calling function's share of the project budget
    (`calendar_budget_shares` in variables.tf): the function's instances together refill at
    budget x share per minute (`CALENDAR_BUDGET_PER_MIN` / `CALENDAR_BUDGET_INSTANCES` each)."""

    def budget_share(self, function: str) -> float:
        return self.budget_shares.get(function.replace("-", "_"), 0.0)

    def instances(self, function: str) -> int:
        return self.max_instances.get(function.replace("-", "_"), 10)

    def slots(self, function: str) -> int:
        return self.instances(function) * self.concurrency.get(function, 1)


_DEFAULT_MAX = {
    "calendar_webhook": 50,
    "sync_worker": 20,
    "create_meeting": 20,
    "watch_calendar": 10,
    "renew_channels": 10,
    "import_events": 10,
    "users": 5,
    "connect": 10,
    "meet_events": 20,
}


def _read(name: str) -> str:
    path = INFRA / name
    return path.read_text() if path.exists() else ""


def deployment() -> Deployment:
    """The figures the simulation takes from Terraform (defaults where a file is missing)."""
    variables = _read("variables.tf")
    functions = _read("functions.tf")
    pubsub = _read("pubsub.tf")

    max_instances = dict(_DEFAULT_MAX)
    block = re.search(r'variable "max_instances"\s*\{(.*?)\n\}', variables, re.S)
    if block:
        for name, value in re.findall(r"(\w+)\s*=\s*optional\(number,\s*(\d+)\)", block[1]):
            max_instances[name] = int(value)

    concurrency: dict[str, int] = {}
    timeouts: dict[str, int] = {}
    calendar: set[str] = set()
    for name, body in re.findall(r"\n    ([\w-]+) = \{\n(.*?)\n    \}", functions, re.S):
        if m := re.search(r"\n\s*concurrency\s*=\s*(\d+)", body):
            concurrency[name] = int(m[1])
        if m := re.search(r"\n\s*timeout\s*=\s*(\d+)", body):
            timeouts[name] = int(m[1])
        if re.search(r"\n\s*calendar\s*=\s*true", body):
            calendar.add(name)
    if not calendar:  # before `calendar` marked them: every function acting as users
        calendar = {"sync-worker", "create-meeting", "watch-calendar", "renew-channels"}
    budget_instances = sum(max_instances.get(f.replace("-", "_"), 10) for f in calendar)

    shares: dict[str, float] = {}
    block = re.search(
        r'variable "calendar_budget_shares"\s*\{.*?default\s*=\s*\{(.*?)\}', variables, re.S
    )
    if block:
        for name, value in re.findall(r"(\w+)\s*=\s*([0-9.]+)", block[1]):
            shares[name] = float(value)
    if shares:
        calendar = {name.replace("_", "-") for name in shares}

    def default(var: str, fallback: str) -> str:
        m = re.search(rf'variable "{var}"\s*\{{.*?default\s*=\s*"([^"]*)"', variables, re.S)
        return m[1] if m else fallback

    attempts = re.search(r"max_delivery_attempts\s*=\s*(\d+)", pubsub)
    min_b = re.search(r'minimum_backoff\s*=\s*"(\d+)s"', pubsub)
    max_b = re.search(r'maximum_backoff\s*=\s*"(\d+)s"', pubsub)
    acks = {
        m[1]: int(m[2])
        for m in re.finditer(
            r'resource "google_pubsub_subscription" "(\w+)".*?ack_deadline_seconds\s*=\s*(\d+)',
            pubsub,
            re.S,
        )
    }
    return Deployment(
        max_instances=max_instances,
        concurrency=concurrency,
        timeouts=timeouts,
        calls_calendar=frozenset(calendar),
        renew_schedule=default("renew_schedule", "7 */2 * * *"),
        sweep_schedule=default("sweep_schedule", "4-59/15 * * * *"),
        max_delivery_attempts=int(attempts[1]) if attempts else 10,
        min_backoff_s=float(min_b[1]) if min_b else 10.0,
        max_backoff_s=float(max_b[1]) if max_b else 600.0,
        ack_deadline_s=acks,
        budget_instances=budget_instances,
        budget_shares=shares,
    )


def cron_times(expr: str, start_s: float, end_s: float) -> list[float]:
    """The times (seconds from the simulation's midnight start) a five-field cron expression
    fires in [start_s, end_s): minute and hour fields with `*`, `a-b`, `/step` and lists; the
    day fields must be `*` (the simulation has no calendar of its own)."""
    fields = expr.split()
    if len(fields) != 5 or any(f != "*" for f in fields[2:]):
        raise ValueError(f"unsupported cron expression {expr!r}")
    minutes, hours = _cron_field(fields[0], 60), _cron_field(fields[1], 24)
    out = []
    day = 0
    while day * 86_400 < end_s:
        for h in hours:
            for m in minutes:
                t = day * 86_400 + h * 3600 + m * 60
                if start_s <= t < end_s:
                    out.append(float(t))
        day += 1
    return sorted(out)


def _cron_field(spec: str, size: int) -> list[int]:
    values: set[int] = set()
    for part in spec.split(","):
        step = 1
        if "/" in part:
            part, raw_step = part.split("/")
            step = int(raw_step)
        if part == "*":
            lo, hi = 0, size - 1
        elif "-" in part:
            a, b = part.split("-")
            lo, hi = int(a), int(b)
        else:
            lo = int(part)
            hi = lo if step == 1 else size - 1
        values.update(range(lo, hi + 1, step))
    return sorted(values)
