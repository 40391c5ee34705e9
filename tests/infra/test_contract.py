"""The Terraform in infra/ deploys what the code is: checked on the real files, and
each check shown to fail on a configuration broken the way it guards against."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from pathlib import Path

import pytest

import main
from shared.services.sync import SyncReport
from shared.settings import Settings
from tests.infra import contract
from tests.infra.contract import HTTP, PUSH, SCHEDULER, Infra

REPO = Path(__file__).resolve().parents[2]

WEBHOOK = "calendar_webhook"
CONNECT = "connect"
PUBLIC = (WEBHOOK, CONNECT)
"""The only public functions: Google pushes to the webhook, browsers open connect."""
WORKER = "sync_worker"
MAINTENANCE = "maintenance"
"""Does one maintenance shard job per message from the `maintenance` topic."""
DISPATCHER = "renew_channels"
"""Called by Cloud Scheduler; publishes the shard jobs and answers within seconds."""
DISPATCH_SECONDS = 60
"""The dispatcher's timeout and the scheduler's attempt deadline at most; a shard job too."""
EXPECTED_TRIGGERS = {
    WORKER: PUSH,
    "meet_events": PUSH,
    MAINTENANCE: PUSH,
    DISPATCHER: SCHEDULER,
}
SCHEDULER_ACTIONS = ("renew", "sweep")
CONCURRENCY = {WORKER: 8, MAINTENANCE: 4}
"""Requests one instance serves at once (threads); every other function serves 1."""
FIRESTORE_INDEXES: list[contract.IndexSpec] = [
    # renewal, per shard: live channels expiring within the window; stopping ones past overlap
    ("channels", [("shard", "ASCENDING"), ("state", "ASCENDING"), ("expiration", "ASCENDING")]),
    ("channels", [("shard", "ASCENDING"), ("state", "ASCENDING"), ("stop_after", "ASCENDING")]),
    # the sweep, per shard: watched calendars past their next sweep
    (
        "calendars",
        [("shard", "ASCENDING"), ("status", "ASCENDING"), ("next_sweep_at", "ASCENDING")],
    ),
    # the audit, per shard: meetings whose next audit is due
    ("meetings", [("shard", "ASCENDING"), ("next_audit_at", "ASCENDING")]),
    # the sweep's outcome checks, per shard: meetings whose conference records are due a read
    ("meetings", [("shard", "ASCENDING"), ("outcome_check_at", "ASCENDING")]),
    # the sweep's pickup of pending meetings whose completion job was lost
    ("meetings", [("status", "ASCENDING"), ("created_at", "ASCENDING")]),
    # `meetsync status`: the last run of a kind
    ("runs", [("kind", "ASCENDING"), ("started_at", "DESCENDING")]),
]
"""Every composite index a query of shared/store/firestore.py needs, and no other."""
UNINDEXED_FIELDS = {
    "calendars": ("last_sync_started", "last_sync_finished", "lease_expires"),
    "channels": ("created_at", "renewal_claimed_until"),
    "meetings": ("created_at", "updated_at", "claim_until", "subscription_expires"),
}
"""Timestamps written "now" (rising monotonically) that no query filters or orders on:
exempt from single-field indexing (Firestore's ~500 writes/s for such indexes)."""
TTL_FIELDS = {
    "channels": "purge_at",
    "meetings": "purge_at",
    "connect_states": "purge_at",
    "runs": "purge_at",
    "delivery_failures": "purge_at",
}
DEAD_LETTERS = ("dead_letter", "maintenance_dead_letter")
"""Dead-letter pull subscriptions (resource names) whose backlog is alerted on."""
BUDGET_COUNTED_ANYWAY = (DISPATCHER,)
"""Given a Calendar share even if the code scan stopped seeing it call Calendar (conservative:
see functions.tf)."""
ALERTED_METRICS = (
    "calendars_marked",  # calendars auth_revoked or gone
    "channels_expired",  # a channel expired unrenewed
    "change_to_record_latency",  # sync lag above a bound
    "maintenance_runs",  # renew or sweep failing
)
NESTED_LOG_FIELDS = {"report": frozenset(f.name for f in dataclasses.fields(SyncReport))}
"""Log fields that are objects, and their keys (the worker's `report` is a SyncReport)."""


@functools.cache
def code_log_lines() -> tuple[contract.LogLine, ...]:
    return tuple(contract.log_lines(REPO, ("shared", "functions")))


@functools.cache
def calendar_callers() -> frozenset[str]:
    return contract.calendar_callers(REPO, main._MODULES)


Check = Callable[[Infra], list[str]]

CHECKS: dict[str, Check] = {
    "entry_points": lambda i: contract.check_entry_points(i, main.__all__),
    "triggers": lambda i: contract.check_triggers(i, EXPECTED_TRIGGERS),
    "push_subscription": lambda i: contract.check_push_subscription(i, WORKER),
    "maintenance_subscription": lambda i: contract.check_push_subscription(
        i, MAINTENANCE, "maintenance", ordered=False
    ),
    "maintenance": lambda i: contract.check_maintenance(
        i,
        worker=MAINTENANCE,
        dispatcher=DISPATCHER,
        topic="maintenance",
        max_seconds=DISPATCH_SECONDS,
    ),
    "calendar_budget": lambda i: contract.check_calendar_budget(
        i, calendar_callers(), counted_anyway=BUDGET_COUNTED_ANYWAY
    ),
    "concurrency": lambda i: contract.check_concurrency(i, CONCURRENCY),
    "meet_events": lambda i: contract.check_meet_events(i, "meet_events", "workspace-events"),
    "scheduler": lambda i: contract.check_scheduler(
        i, SCHEDULER_ACTIONS, DISPATCHER, DISPATCH_SECONDS
    ),
    "env": lambda i: contract.check_env(i, Settings.env_names(), Settings.secret_env_names()),
    "references": contract.check_references,
    "public_access": lambda i: contract.check_public_access(i, PUBLIC),
    "source_archive": contract.check_source_archive,
    "firestore": lambda i: contract.check_firestore(
        i, FIRESTORE_INDEXES, TTL_FIELDS, UNINDEXED_FIELDS
    ),
    "function_settings": contract.check_function_settings,
    "log_metrics": lambda i: contract.check_log_metrics(i, code_log_lines(), NESTED_LOG_FIELDS),
    "alerts": lambda i: contract.check_alerts(i, ALERTED_METRICS, DEAD_LETTERS),
}


@pytest.fixture(scope="module")
def infra() -> Infra:
    return contract.load_infra(REPO / "infra")


def _key(infra: Infra, entry_point: str) -> str:
    return next(k for k, c in infra.functions().items() if c["entry_point"] == entry_point)


def _mutated(infra: Infra, change: Callable[[Infra], object]) -> Infra:
    broken = infra.copy()
    change(broken)
    return broken


def _budget_shares(infra: Infra) -> dict[str, float]:
    shares: dict[str, float] = infra.variables["calendar_budget_shares"]["default"]
    return shares


def _replace_local(infra: Infra, name: str, old: str, new: str) -> None:
    assert old in infra.locals[name]
    infra.locals[name] = infra.locals[name].replace(old, new)


def _function_service(infra: Infra) -> contract.Block:
    return contract._first(
        infra.resources[("google_cloudfunctions2_function", "fn")]["service_config"]
    )


def _without_budget_env(infra: Infra) -> None:
    service = _function_service(infra)
    service["environment_variables"] = service["environment_variables"].replace(
        " local.calendar_budget_env[each.key],", ""
    )


def _drop_precondition(infra: Infra, text: str) -> None:
    lifecycle = infra.resources[("google_cloudfunctions2_function", "fn")]["lifecycle"][0]
    kept = [p for p in lifecycle["precondition"] if text not in p["condition"]]
    assert len(kept) == len(lifecycle["precondition"]) - 1
    lifecycle["precondition"] = kept


def _push_subscription(infra: Infra) -> dict[str, object]:
    return infra.resources[("google_pubsub_subscription", "sync_worker_push")]


def _maintenance_subscription(infra: Infra) -> contract.Block:
    return infra.resources[("google_pubsub_subscription", "maintenance_push")]


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_real_infra_holds_the_contract(infra: Infra, name: str) -> None:
    assert CHECKS[name](infra) == []


def test_the_parser_sees_every_function(infra: Infra) -> None:
    # Guards the checks against passing vacuously on an empty parse.
    assert len(infra.functions()) == len(main.__all__)
    assert infra.resources[("google_cloudfunctions2_function", "fn")]
    assert contract.function_triggers(infra)[_key(infra, WEBHOOK)] == HTTP


def test_settings_facts_come_from_the_live_class() -> None:
    assert "GOOGLE_CLOUD_PROJECT" in Settings.env_names()
    assert Settings.secret_env_names() <= Settings.env_names()


# Each mutation breaks the configuration one way; the named check must say so.
MUTATIONS: dict[str, tuple[str, Callable[[Infra], object], str]] = {
    "drop a function": (
        "entry_points",
        lambda i: i.functions().pop(_key(i, "create_meeting")),
        "'create_meeting' is deployed by 0",
    ),
    "deploy an entry point twice": (
        "entry_points",
        lambda i: i.functions().__setitem__("extra", dict(i.functions()[_key(i, WEBHOOK)])),
        "'calendar_webhook' is deployed by 2",
    ),
    "deploy a name main.py does not export": (
        "entry_points",
        lambda i: i.functions()[_key(i, "import_events")].__setitem__("entry_point", "nope"),
        "'nope' deploys nothing",
    ),
    "give the worker an Eventarc trigger": (
        "triggers",
        lambda i: i.resources[("google_cloudfunctions2_function", "fn")].__setitem__(
            "event_trigger", [{"event_type": "google.cloud.pubsub.topic.v1.messagePublished"}]
        ),
        "must not have an event_trigger",
    ),
    "push to the wrong function": (
        "triggers",
        lambda i: _push_subscription(i)["push_config"][0].__setitem__(  # type: ignore[index]
            "push_endpoint",
            '${google_cloudfunctions2_function.fn["create-meeting"].service_config[0].uri}',
        ),
        "sync_worker is triggered by http, expected pubsub_push",
    ),
    "schedule nothing": (
        "triggers",
        lambda i: i.resources.pop(("google_cloud_scheduler_job", "renew_channels")),
        "renew_channels is triggered by http, expected scheduler",
    ),
    "drop message ordering": (
        "push_subscription",
        lambda i: _push_subscription(i).pop("enable_message_ordering"),
        "must enable message ordering",
    ),
    "drop the dead letter policy": (
        "push_subscription",
        lambda i: _push_subscription(i).pop("dead_letter_policy"),
        "dead_letter_policy",
    ),
    "drop the retry policy": (
        "push_subscription",
        lambda i: _push_subscription(i).pop("retry_policy"),
        "retry_policy",
    ),
    "push without OIDC": (
        "push_subscription",
        lambda i: _push_subscription(i)["push_config"][0].pop("oidc_token"),  # type: ignore[index]
        "OIDC",
    ),
    "ack deadline shorter than the worker's timeout": (
        "push_subscription",
        lambda i: _push_subscription(i).__setitem__("ack_deadline_seconds", 60),
        "ack_deadline_seconds 60",
    ),
    "ack deadline equal to the worker's timeout": (
        "push_subscription",
        lambda i: _push_subscription(i).__setitem__("ack_deadline_seconds", 300),
        "ack_deadline_seconds 300 must be longer than the sync_worker timeout 300",
    ),
    "drop the sweep job": (
        "scheduler",
        lambda i: i.locals["scheduler_jobs"].pop("sweep"),
        "action 'sweep'",
    ),
    "set a variable Settings does not read": (
        "env",
        lambda i: i.locals["function_env"].__setitem__("NOT_A_SETTING", "x"),
        "NOT_A_SETTING is set but Settings does not read it",
    ),
    "leave GOOGLE_CLOUD_PROJECT unset": (
        "env",
        lambda i: i.locals["function_env"].pop("GOOGLE_CLOUD_PROJECT"),
        "GOOGLE_CLOUD_PROJECT is read by Settings but never set",
    ),
    "deploy a secret as a plain variable": (
        "env",
        lambda i: i.locals["function_env"].__setitem__(
            "TOKEN_ENCRYPTION_KEY", i.locals["secret_env"].pop("TOKEN_ENCRYPTION_KEY")
        ),
        "TOKEN_ENCRYPTION_KEY is a secret but set as a plain variable",
    ),
    "output a secret": (
        "env",
        lambda i: i.outputs.__setitem__("leak", {"value": "${local.secret_env}"}),
        "output leak exposes a secret",
    ),
    "publish to a topic that does not exist": (
        "references",
        lambda i: i.functions()[_key(i, WORKER)]["publishes"].append("nope"),
        "unknown topic 'nope'",
    ),
    "subscribe to a topic that does not exist": (
        "references",
        lambda i: _push_subscription(i).__setitem__(
            "topic", '${google_pubsub_topic.topic["x"].id}'
        ),
        'google_pubsub_topic.topic["x"]',
    ),
    "reference a subscription resource that does not exist": (
        "references",
        lambda i: i.resources.pop(("google_pubsub_subscription", "sync_worker_push")),
        "missing google_pubsub_subscription.sync_worker_push",
    ),
    "reference a function that does not exist": (
        "references",
        lambda i: i.outputs.__setitem__(
            "typo", {"value": '${google_cloudfunctions2_function.fn["create_meeting"].url}'}
        ),
        'output.typo references missing google_cloudfunctions2_function.fn["create_meeting"]',
    ),
    "list allUsers as another function's invoker": (
        "public_access",
        lambda i: i.functions()[_key(i, "create_meeting")].__setitem__(
            "invokers", {"everyone": "allUsers"}
        ),
        "create-meeting lists a public invoker",
    ),
    "bind allUsers on another function": (
        "public_access",
        lambda i: i.resources.__setitem__(
            ("google_cloud_run_service_iam_member", "oops"),
            {
                "service": '${google_cloudfunctions2_function.fn["import-events"].name}',
                "member": "allAuthenticatedUsers",
            },
        ),
        "oops grants public access",
    ),
    "make the webhook private": (
        "public_access",
        lambda i: i.resources.pop(("google_cloud_run_service_iam_member", "webhook_public")),
        "calendar_webhook has no allUsers",
    ),
    "make the connect flow private": (
        "public_access",
        lambda i: i.resources.pop(("google_cloud_run_service_iam_member", "connect_public")),
        "connect has no allUsers",
    ),
    "make the operators' users function public": (
        "public_access",
        lambda i: i.resources.__setitem__(
            ("google_cloud_run_service_iam_member", "users_public"),
            {
                "service": '${google_cloudfunctions2_function.fn["users"].name}',
                "member": "allUsers",
            },
        ),
        "users_public grants public access",
    ),
    "drop the TTL of used sign-in states": (
        "firestore",
        lambda i: i.resources[("google_firestore_field", "connect_states_purge_at")].pop(
            "ttl_config"
        ),
        "missing TTL policy on connect_states.purge_at",
    ),
    "ship the dev requirements": (
        "source_archive",
        lambda i: i.locals.__setitem__("source_root_files", ["main.py", "requirements-dev.txt"]),
        "does not include requirements.txt",
    ),
    "leave out shared/": (
        "source_archive",
        lambda i: i.locals.__setitem__("source_packages", ["functions"]),
        "package shared/",
    ),
    "name the object by something else than its hash": (
        "source_archive",
        lambda i: i.resources[("google_storage_bucket_object", "source")].__setitem__(
            "name", "source/latest.zip"
        ),
        "named by the archive's hash",
    ),
    "drop an index": (
        "firestore",
        lambda i: i.resources.pop(("google_firestore_index", "channels_shard_state_expiration")),
        "missing index on channels",
    ),
    "swap an index's field order": (
        "firestore",
        lambda i: i.resources[("google_firestore_index", "runs_kind_started")]["fields"].reverse(),
        "missing index on runs",
    ),
    "drop a TTL policy": (
        "firestore",
        lambda i: i.resources[("google_firestore_field", "meetings_purge_at")].pop("ttl_config"),
        "missing TTL policy on meetings.purge_at",
    ),
    "count a log line the code does not write": (
        "log_metrics",
        lambda i: i.locals["log_metrics"]["syncs"].__setitem__(
            "filter", 'jsonPayload.logger="shared.services.worker" AND jsonPayload.message="synced"'
        ),
        "metric syncs: no code logs 'synced' from shared.services.worker",
    ),
    "read a message from the wrong logger": (
        "log_metrics",
        lambda i: i.locals["log_metrics"]["notifications_rejected"].__setitem__(
            "filter",
            'jsonPayload.logger="shared.services.worker"'
            ' AND jsonPayload.message="notification rejected"',
        ),
        "no code logs 'notification rejected' from shared.services.worker",
    ),
    "extract a field the line does not carry": (
        "log_metrics",
        lambda i: i.locals["log_metrics"]["notifications_rejected"]["labels"].__setitem__(
            "channel", "EXTRACT(jsonPayload.channel)"
        ),
        "'notification rejected' from shared.services.signals is logged without field 'channel'",
    ),
    "extract a key the report does not have": (
        "log_metrics",
        lambda i: i.locals["log_metrics"]["syncs"]["labels"].__setitem__(
            "outcome", "EXTRACT(jsonPayload.report.result)"
        ),
        "field 'report' has no 'result'",
    ),
    "alert on a metric nobody declares": (
        "log_metrics",
        lambda i: i.locals["log_metrics"].pop("channels_expired"),
        "undeclared metric 'channels_expired'",
    ),
    "notify nobody": (
        "alerts",
        lambda i: i.resources[("google_monitoring_alert_policy", "alert")].__setitem__(
            "notification_channels", []
        ),
        "var.alert_notification_channels",
    ),
    "stop watching the dead letter": (
        "alerts",
        lambda i: i.locals["alerts"].pop("dead-letter"),
        "dead-letter subscription's backlog",
    ),
    "stop alerting on failed renewals": (
        "alerts",
        lambda i: i.locals["alerts"].pop("maintenance"),
        "no alert on metric 'maintenance_runs'",
    ),
    # -- maintenance fan-out (issue 12) -----------------------------------------------------
    "feed maintenance by nothing": (
        "triggers",
        lambda i: i.resources.pop(("google_pubsub_subscription", "maintenance_push")),
        "maintenance is triggered by http, expected pubsub_push",
    ),
    "point the scheduler at the maintenance function": (
        "scheduler",
        lambda i: i.resources[("google_cloud_scheduler_job", "renew_channels")]["http_target"][
            0
        ].__setitem__("uri", '${google_cloudfunctions2_function.fn["maintenance"].uri}'),
        "must call renew_channels, not maintenance",
    ),
    "give the scheduler the old 540 s deadline": (
        "scheduler",
        lambda i: i.resources[("google_cloud_scheduler_job", "renew_channels")].__setitem__(
            "attempt_deadline", "540s"
        ),
        "attempt_deadline 540s (540 s) must be at most 60 s",
    ),
    "let the dispatcher run as long as the old renewal": (
        "scheduler",
        lambda i: i.functions()[_key(i, DISPATCHER)].__setitem__("timeout", 540),
        "(540 s) must be at most 60 s",
    ),
    "drop the maintenance topic": (
        "maintenance",
        lambda i: i.locals["topics"].pop("maintenance"),
        "topic maintenance is not declared",
    ),
    "let the dispatcher work instead of publishing": (
        "maintenance",
        lambda i: i.functions()[_key(i, DISPATCHER)].__setitem__("publishes", ["meeting-events"]),
        "renew_channels must publish to maintenance",
    ),
    "forbid the continuation": (
        "maintenance",
        lambda i: i.functions()[_key(i, MAINTENANCE)]["publishes"].remove("maintenance"),
        "maintenance must publish to maintenance",
    ),
    "forbid the sweep's signals": (
        "maintenance",
        lambda i: i.functions()[_key(i, MAINTENANCE)]["publishes"].remove("calendar-changes"),
        "maintenance must publish to calendar-changes",
    ),
    "give a shard job the worker's 300 s": (
        "maintenance",
        lambda i: i.functions()[_key(i, MAINTENANCE)].__setitem__("timeout", 300),
        "maintenance timeout 300 must be at most 60 s",
    ),
    "hard-code the maintenance topic's name": (
        "maintenance",
        lambda i: i.locals["function_env"].__setitem__("MAINTENANCE_TOPIC", "maintenance"),
        "MAINTENANCE_TOPIC must be the name of topic maintenance",
    ),
    "drop the maintenance dead letter policy": (
        "maintenance_subscription",
        lambda i: _maintenance_subscription(i).pop("dead_letter_policy"),
        "needs a dead_letter_policy",
    ),
    "dead-letter maintenance jobs onto the signals' dead letter": (
        "maintenance_subscription",
        lambda i: _maintenance_subscription(i)["dead_letter_policy"][0].__setitem__(
            "dead_letter_topic", '${google_pubsub_topic.topic["calendar-changes-dead-letter"].id}'
        ),
        "must dead-letter to topic maintenance-dead-letter",
    ),
    "keep no pull subscription on the maintenance dead letter": (
        "maintenance_subscription",
        lambda i: i.resources.pop(("google_pubsub_subscription", "maintenance_dead_letter")),
        "no pull subscription keeps the dead letters of maintenance-dead-letter",
    ),
    "forbid Pub/Sub to dead-letter maintenance jobs": (
        "maintenance_subscription",
        lambda i: i.resources.pop(
            ("google_pubsub_topic_iam_member", "pubsub_agent_maintenance_dead_letters")
        ),
        "service agent may not publish to maintenance-dead-letter",
    ),
    "forbid Pub/Sub to acknowledge dead-lettered jobs": (
        "maintenance_subscription",
        lambda i: i.resources.pop(
            ("google_pubsub_subscription_iam_member", "pubsub_agent_acks_maintenance")
        ),
        "service agent may not acknowledge on maintenance_push",
    ),
    "drop the maintenance retry policy": (
        "maintenance_subscription",
        lambda i: _maintenance_subscription(i).pop("retry_policy"),
        "needs a retry_policy",
    ),
    "retry maintenance jobs at once": (
        "maintenance_subscription",
        lambda i: _maintenance_subscription(i)["retry_policy"][0].__setitem__(
            "minimum_backoff", "1s"
        ),
        "retry_policy backs off 1s..600s, expected within 10s..600s",
    ),
    "ack deadline equal to the maintenance timeout": (
        "maintenance_subscription",
        lambda i: _maintenance_subscription(i).__setitem__("ack_deadline_seconds", 60),
        "ack_deadline_seconds 60 must be longer than the maintenance timeout 60",
    ),
    "push maintenance jobs without OIDC": (
        "maintenance_subscription",
        lambda i: _maintenance_subscription(i)["push_config"][0].pop("oidc_token"),
        "OIDC",
    ),
    "stop watching the maintenance dead letter": (
        "alerts",
        lambda i: i.locals["alerts"]["maintenance"]["conditions"].pop(0),
        "backlog (maintenance_dead_letter)",
    ),
    # -- the Calendar budget -----------------------------------------------------------------
    "allow a budget above Google's quota": (
        "calendar_budget",
        lambda i: i.variables["calendar_budget_per_min"]["validation"][0].__setitem__(
            "condition", "${var.calendar_budget_per_min > 0}"
        ),
        "validation allows 10001",
    ),
    "allow a budget of nothing": (
        "calendar_budget",
        lambda i: i.variables["calendar_budget_per_min"]["validation"][0].__setitem__(
            "condition", "${var.calendar_budget_per_min <= 10000}"
        ),
        "validation allows 0",
    ),
    "default the budget to the whole quota and more": (
        "calendar_budget",
        lambda i: i.variables["calendar_budget_per_min"].__setitem__("default", 12000),
        "default 12000 is outside (0, 10000]",
    ),
    "drop the budget variable": (
        "calendar_budget",
        lambda i: i.variables.pop("calendar_budget_per_min"),
        "variable calendar_budget_per_min is missing",
    ),
    "leave a Calendar caller out of the budget": (
        "calendar_budget",
        lambda i: i.functions()[_key(i, "connect")].__setitem__("calendar_share", 0),
        "connect calls Calendar but has no share of the Calendar budget",
    ),
    "leave the maintenance function out of the budget": (
        "calendar_budget",
        lambda i: i.functions()[_key(i, MAINTENANCE)].__setitem__("calendar_share", 0),
        "maintenance calls Calendar but has no share of the Calendar budget",
    ),
    "count the webhook in the budget": (
        "calendar_budget",
        lambda i: i.functions()[_key(i, WEBHOOK)].__setitem__("calendar_share", 0.05),
        "calendar_webhook has a share of the Calendar budget but never calls Calendar",
    ),
    "hard-code the worker's share": (
        "calendar_budget",
        lambda i: i.functions()[_key(i, WORKER)].__setitem__("calendar_share", 0.7),
        "sync_worker's calendar_share must come from var.calendar_budget_shares",
    ),
    "give connect the worker's share": (
        "calendar_budget",
        lambda i: i.functions()[_key(i, CONNECT)].__setitem__(
            "calendar_share", "${var.calendar_budget_shares.sync_worker}"
        ),
        "function connect takes the Calendar share of sync_worker",
    ),
    "shares that sum to more than 1": (
        "calendar_budget",
        lambda i: _budget_shares(i).__setitem__("sync_worker", 0.8),
        "calendar_budget_shares default sums to 1.1, not 1",
    ),
    "a Calendar caller with share 0": (
        "calendar_budget",
        lambda i: _budget_shares(i).update(connect=0, sync_worker=0.72),
        "calendar_budget_shares default connect = 0 is outside (0, 1]",
    ),
    "a share for a function that never calls Calendar": (
        "calendar_budget",
        lambda i: _budget_shares(i).update(meet_events=0.05, sync_worker=0.65),
        "calendar_budget_shares gives meet_events a share, but it never calls Calendar",
    ),
    "no share for a Calendar caller": (
        "calendar_budget",
        lambda i: _budget_shares(i).pop("import_events"),
        "calendar_budget_shares has no share for import_events",
    ),
    "accept shares that sum to more than 1": (
        "calendar_budget",
        lambda i: i.variables["calendar_budget_shares"]["validation"].pop(2),
        "calendar_budget_shares's validation allows shares summing to 1.1",
    ),
    "accept a share of 0": (
        "calendar_budget",
        lambda i: i.variables["calendar_budget_shares"]["validation"][1].__setitem__(
            "condition",
            "${alltrue([for share in values(var.calendar_budget_shares) : share >= 0])}",
        ),
        "calendar_budget_shares's validation allows a share of 0 for renew_channels",
    ),
    "accept a share for a function that never calls Calendar": (
        "calendar_budget",
        lambda i: i.variables["calendar_budget_shares"]["validation"].pop(0),
        "calendar_budget_shares's validation allows a share for calendar_webhook",
    ),
    "starve the dispatcher below one call per instance": (
        "calendar_budget",
        lambda i: _budget_shares(i).update(renew_channels=0.001, sync_worker=0.709),
        "at the defaults renew_channels gets 8 Calendar calls/min for 10 instances",
    ),
    "split the budget by instance count again": (
        "calendar_budget",
        lambda i: i.locals.__setitem__(
            "calendar_budget_by_function",
            "${{for key, fn in local.functions : key => floor(var.calendar_budget_per_min / 95)}}",
        ),
        "local.calendar_budget_by_function must be floor(var.calendar_budget_per_min *",
    ),
    "tell every instance it has its function's whole budget": (
        "calendar_budget",
        lambda i: _replace_local(
            i, "calendar_budget_env", "tostring(fn.max_instances)", "tostring(1)"
        ),
        "CALENDAR_BUDGET_INSTANCES must be the function's own max_instances",
    ),
    "give every function the whole budget": (
        "calendar_budget",
        lambda i: _replace_local(
            i,
            "calendar_budget_env",
            "tostring(local.calendar_budget_by_function[key])",
            "tostring(var.calendar_budget_per_min)",
        ),
        "CALENDAR_BUDGET_PER_MIN must be the function's calls/min",
    ),
    "set the budget once for every function again": (
        "calendar_budget",
        lambda i: i.locals["function_env"].__setitem__(
            "CALENDAR_BUDGET_PER_MIN", "${var.calendar_budget_per_min}"
        ),
        "CALENDAR_BUDGET_PER_MIN must be set per function (local.calendar_budget_env)",
    ),
    "set a budget setting for every function and per function": (
        "env",
        lambda i: i.locals["function_env"].__setitem__(
            "CALENDAR_BUDGET_INSTANCES", "${var.max_instances.sync_worker}"
        ),
        "CALENDAR_BUDGET_INSTANCES is set both for every function and per function",
    ),
    "leave the per-function budget out of the environment": (
        "calendar_budget",
        _without_budget_env,
        "environment_variables must merge local.calendar_budget_env",
    ),
    "leave the budget settings unset": (
        "env",
        _without_budget_env,
        "CALENDAR_BUDGET_PER_MIN is read by Settings but never set",
    ),
    "drop the precondition on the total": (
        "calendar_budget",
        lambda i: _drop_precondition(i, "sum(values(local.calendar_budget_by_function))"),
        "no precondition keeps the functions' Calendar budgets within calendar_budget_per_min",
    ),
    "drop the precondition of one call per instance": (
        "calendar_budget",
        lambda i: _drop_precondition(i, ">= each.value.max_instances"),
        "no precondition keeps each function's Calendar budget at one call/min per instance",
    ),
    "size maintenance from a variable that does not exist": (
        "calendar_budget",
        lambda i: i.functions()[_key(i, MAINTENANCE)].__setitem__(
            "max_instances", "${var.max_instances.maintenance_jobs}"
        ),
        "max_instances must be a var.max_instances attribute",
    ),
    # -- concurrency ------------------------------------------------------------------------
    "run the worker one request at a time": (
        "concurrency",
        lambda i: i.functions()[_key(i, WORKER)].__setitem__("concurrency", 1),
        "sync_worker concurrency is 1, expected 8",
    ),
    "give the worker a fractional CPU": (
        "concurrency",
        lambda i: i.functions()[_key(i, WORKER)].__setitem__("cpu", "0.5"),
        "sync_worker serves 8 requests at once but its cpu is < 1",
    ),
    "leave maintenance on the memory's default CPU": (
        "concurrency",
        lambda i: i.functions()[_key(i, MAINTENANCE)].__setitem__("cpu", None),
        "maintenance serves 4 requests at once but its cpu is < 1",
    ),
    "hard-code concurrency 1 in the resource": (
        "concurrency",
        lambda i: i.resources[("google_cloudfunctions2_function", "fn")]["service_config"][
            0
        ].__setitem__("max_instance_request_concurrency", 1),
        "max_instance_request_concurrency must be each.value.concurrency",
    ),
    "leave functions-framework's threads at their default": (
        "concurrency",
        lambda i: i.resources[("google_cloudfunctions2_function", "fn")]["service_config"][
            0
        ].__setitem__("environment_variables", "${local.function_env_set}"),
        "THREADS must be set to each.value.concurrency",
    ),
    "add a setting beside the map": (
        "env",
        lambda i: i.resources[("google_cloudfunctions2_function", "fn")]["service_config"][
            0
        ].__setitem__(
            "environment_variables",
            "${merge(local.function_env_set, {THREADS = 1, SWEEP_AGE_SECONDS = 60})}",
        ),
        "SWEEP_AGE_SECONDS is added to the functions' environment but is not a runtime",
    ),
    # -- Firestore indexes and exemptions ---------------------------------------------------
    "keep the unsharded sweep index": (
        "firestore",
        lambda i: i.resources.__setitem__(
            ("google_firestore_index", "calendars_status_next_sweep"),
            {
                "collection": "calendars",
                "fields": [
                    {"field_path": "status", "order": "ASCENDING"},
                    {"field_path": "next_sweep_at", "order": "ASCENDING"},
                ],
            },
        ),
        "index on calendars: [('status', 'ASCENDING'), ('next_sweep_at', 'ASCENDING')]"
        " serves no query",
    ),
    "drop the stop-stage index": (
        "firestore",
        lambda i: i.resources.pop(("google_firestore_index", "channels_shard_state_stop_after")),
        "missing index on channels: [('shard', 'ASCENDING'), ('state', 'ASCENDING'),"
        " ('stop_after', 'ASCENDING')]",
    ),
    "sweep without the shard": (
        "firestore",
        lambda i: i.resources[("google_firestore_index", "calendars_shard_status_next_sweep")][
            "fields"
        ].pop(0),
        "missing index on calendars",
    ),
    "index the lease's expiry again": (
        "firestore",
        lambda i: i.resources.pop(("google_firestore_field", "calendars_lease_expires")),
        "calendars.lease_expires keeps its single-field index",
    ),
    "index a meeting's updated_at ascending": (
        "firestore",
        lambda i: i.resources[("google_firestore_field", "meetings_updated_at")].__setitem__(
            "index_config", [{"indexes": [{"order": "ASCENDING"}]}]
        ),
        "meetings.updated_at keeps its single-field index",
    ),
    "keep an instance warm": (
        "function_settings",
        lambda i: i.resources[("google_cloudfunctions2_function", "fn")]["service_config"][
            0
        ].__setitem__("min_instance_count", 1),
        "min_instance_count must be 0",
    ),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_each_check_fails_when_broken(infra: Infra, mutation: str) -> None:
    name, change, expected = MUTATIONS[mutation]
    problems = CHECKS[name](_mutated(infra, change))
    assert any(expected in p for p in problems), problems


def test_mutations_leave_the_parsed_infra_alone(infra: Infra) -> None:
    for _, change, _ in MUTATIONS.values():
        _mutated(infra, change)
    assert all(check(infra) == [] for check in CHECKS.values())


# Source closure and pinned requirements: checked on the repository's files.


def test_archive_ships_every_local_module_the_code_imports(infra: Infra) -> None:
    problems = contract.check_source_closure(
        REPO, infra.locals["source_root_files"], infra.locals["source_packages"]
    )
    assert problems == []


def test_source_closure_fails_when_a_package_is_left_out(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("from functions.a import a\n", encoding="utf-8")
    for package, code in (("functions", "from shared.b import b\n"), ("shared", "import json\n")):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("", encoding="utf-8")
        (tmp_path / package / "code.py").write_text(code, encoding="utf-8")
    assert contract.check_source_closure(tmp_path, ["main.py"], ["functions", "shared"]) == []
    problems = contract.check_source_closure(tmp_path, ["main.py"], ["functions"])
    assert problems == ["functions/code.py imports shared, which the archive leaves out"]


def test_requirements_are_pinned_as_locked() -> None:
    requirements = (REPO / "requirements.txt").read_text(encoding="utf-8")
    locked = (REPO / "requirements-dev.txt").read_text(encoding="utf-8")
    assert contract.check_requirements(requirements, locked) == []


@pytest.mark.parametrize(
    ("requirements", "expected"),
    [
        ("flask>=3.0\n", "not an exact == pin"),
        ("flask\n", "not an exact == pin"),
        ("flask==0.1\n", "flask==0.1 differs from the lock"),
        ("not-locked==1.0\n", "differs from the lock (None)"),
        ("# only comments\n", "pins nothing"),
    ],
)
def test_requirements_check_fails_when_broken(requirements: str, expected: str) -> None:
    locked = (REPO / "requirements-dev.txt").read_text(encoding="utf-8")
    problems = contract.check_requirements(requirements, locked)
    assert any(expected in p for p in problems), problems


def test_every_log_line_a_metric_reads_is_found_in_the_code() -> None:
    # Guards the log-metric check against passing on a scan that found nothing.
    lines = {(line.logger, line.message) for line in code_log_lines()}
    assert ("shared.services.worker", "sync finished") in lines
    assert ("shared.services.maintenance", "maintenance run finished") in lines
    assert len(lines) > 20


def test_meet_events_contract_fails_without_the_publisher_or_the_dead_letter(infra: Infra) -> None:
    def no_publisher(i: Infra) -> None:
        i.resources.pop(("google_pubsub_topic_iam_member", "meet_events_publisher"))

    def no_dead_letter(i: Infra) -> None:
        i.resources[("google_pubsub_subscription", "meet_events_push")].pop("dead_letter_policy")

    check = CHECKS["meet_events"]
    assert "may not publish to workspace-events" in check(_mutated(infra, no_publisher))[0]
    assert check(_mutated(infra, no_dead_letter)) == [
        "subscription meet_events_push needs a dead_letter_policy to a topic"
    ]


# Issue 12 (maintenance fan-out, Calendar budget, Firestore hygiene): facts read from the code.


def test_calendar_callers_are_read_from_the_code() -> None:
    # Guards the budget check against passing on a scan that found nothing (or everything).
    callers = calendar_callers()
    assert {WORKER, MAINTENANCE, "create_meeting", "watch_calendar", "connect"} <= callers
    assert WEBHOOK not in callers
    assert "meet_events" not in callers


def _budget_at_defaults(infra: Infra) -> dict[str, tuple[float, int, int]]:
    """Entry point -> (share, calls/min, max instances) of every function with a share, as
    Terraform computes them with every variable at its default."""
    budget = infra.variables["calendar_budget_per_min"]["default"]
    shares = _budget_shares(infra)
    instances = contract._max_instances_defaults(infra)
    split = {}
    for cfg in infra.functions().values():
        share = shares.get(cfg["entry_point"], 0) if cfg["calendar_share"] != 0 else 0
        if share:
            name = cfg["max_instances"].split(".")[-1].rstrip("}")
            split[cfg["entry_point"]] = (
                share,
                contract._calls_per_min(budget, share),
                instances[name],
            )
    return split


def test_calendar_budget_by_function_at_the_defaults(infra: Infra) -> None:
    # What Terraform computes with every variable at its default: exactly the functions
    # whose code reaches Calendar have a share; each instance gets a call/min at least; the
    # total stays within the budget; the worker, which does the bulk, has the largest share.
    split = _budget_at_defaults(infra)
    assert set(split) == calendar_callers() | set(BUDGET_COUNTED_ANYWAY)
    budget = infra.variables["calendar_budget_per_min"]["default"]
    assert sum(calls for _, calls, _ in split.values()) <= budget
    assert all(calls >= n for _, calls, n in split.values())
    assert max(split, key=lambda entry: split[entry][0]) == WORKER
    assert abs(sum(share for share, _, _ in split.values()) - 1) <= 0.001


_README_ROW = re.compile(r"^\| ([a-z-]+) \| ([0-9.]+) \| ([0-9,]+) \| (\d+) \| ([0-9.]+) \|$", re.M)


def test_the_readme_budget_table_matches_the_defaults(infra: Infra) -> None:
    readme = (REPO / "infra" / "README.md").read_text(encoding="utf-8")
    rows = {
        key.replace("-", "_"): (float(share), int(calls.replace(",", "")), int(n), float(rate))
        for key, share, calls, n, rate in _README_ROW.findall(readme)
    }
    expected = {
        entry: (share, calls, n, calls / n)
        for entry, (share, calls, n) in _budget_at_defaults(infra).items()
    }
    assert rows == expected


def test_a_validation_the_check_cannot_read_is_reported(infra: Infra) -> None:
    def opaque(i: Infra) -> None:
        i.variables["calendar_budget_per_min"]["validation"][0]["condition"] = (
            "${can(regex(var.calendar_budget_per_min, 'x'))}"
        )

    problems = CHECKS["calendar_budget"](_mutated(infra, opaque))
    assert "calendar_budget_per_min's validation could not be evaluated" in problems


_STORE_INDEX = re.compile(r"composite index \(([^)]*)\)")


def test_every_composite_index_the_store_names_is_declared() -> None:
    # shared/store/firestore.py names the composite index each of its queries needs.
    store = (REPO / "shared" / "store" / "firestore.py").read_text(encoding="utf-8")
    named = [
        tuple(
            (part.split()[0], "DESCENDING" if part.endswith(" descending") else "ASCENDING")
            for part in fields.split(", ")
        )
        for fields in _STORE_INDEX.findall(store)
    ]
    assert len(named) >= 4  # the sweep, the two renewal stages, the last run
    declared = {tuple(fields) for _, fields in FIRESTORE_INDEXES}
    assert [n for n in named if n not in declared] == []
