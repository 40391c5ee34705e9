"""The Terraform in infra/ deploys what the code is: checked on the real files, and
each check shown to fail on a configuration broken the way it guards against."""

from __future__ import annotations

import dataclasses
import functools
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
EXPECTED_TRIGGERS = {WORKER: PUSH, "meet_events": PUSH, "renew_channels": SCHEDULER}
SCHEDULER_ACTIONS = ("renew", "sweep")
FIRESTORE_INDEXES = {
    "channels": [("state", "ASCENDING"), ("expiration", "ASCENDING")],
    "meetings": [("calendar_key", "ASCENDING"), ("status", "ASCENDING")],
    "calendars": [("status", "ASCENDING"), ("next_sweep_at", "ASCENDING")],
}
FIRESTORE_INDEXES["runs"] = [("kind", "ASCENDING"), ("started_at", "DESCENDING")]
TTL_FIELDS = {
    "channels": "purge_at",
    "meetings": "purge_at",
    "connect_states": "purge_at",
    "runs": "purge_at",
    "delivery_failures": "purge_at",
}
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


Check = Callable[[Infra], list[str]]

CHECKS: dict[str, Check] = {
    "entry_points": lambda i: contract.check_entry_points(i, main.__all__),
    "triggers": lambda i: contract.check_triggers(i, EXPECTED_TRIGGERS),
    "push_subscription": lambda i: contract.check_push_subscription(i, WORKER),
    "meet_events": lambda i: contract.check_meet_events(i, "meet_events", "workspace-events"),
    "scheduler": lambda i: contract.check_scheduler(i, SCHEDULER_ACTIONS),
    "env": lambda i: contract.check_env(i, Settings.env_names(), Settings.secret_env_names()),
    "references": contract.check_references,
    "public_access": lambda i: contract.check_public_access(i, PUBLIC),
    "source_archive": contract.check_source_archive,
    "firestore": lambda i: contract.check_firestore(i, FIRESTORE_INDEXES, TTL_FIELDS),
    "function_settings": contract.check_function_settings,
    "log_metrics": lambda i: contract.check_log_metrics(i, code_log_lines(), NESTED_LOG_FIELDS),
    "alerts": lambda i: contract.check_alerts(i, ALERTED_METRICS, "dead_letter"),
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


def _push_subscription(infra: Infra) -> dict[str, object]:
    return infra.resources[("google_pubsub_subscription", "sync_worker_push")]


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
        lambda i: i.resources.pop(("google_firestore_index", "channels_state_expiration")),
        "missing index on channels",
    ),
    "swap an index's field order": (
        "firestore",
        lambda i: i.resources[("google_firestore_index", "meetings_calendar_status")][
            "fields"
        ].reverse(),
        "missing index on meetings",
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
    assert ("shared.services.runs", "maintenance run finished") in lines
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
