"""The contract between the Python code and the Terraform in infra/.

`load_infra` parses every `*.tf` file with python-hcl2 into an `Infra`; each
`check_*` function is pure (an `Infra` and the code's facts in, a list of
problems out, empty when the contract holds), so that tests can run it on the
real configuration and on mutated copies of it.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

Block = dict[str, Any]

PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
PUSH = "pubsub_push"
SCHEDULER = "scheduler"
HTTP = "http"

# `google_x.name` or `google_x.name["key"]` inside an interpolation.
_REFERENCE = re.compile(r'\b(google_[a-z0-9_]+)\.([a-z0-9_]+)(?:\["([^"]+)"\])?')
_FUNCTION_REF = re.compile(r'google_cloudfunctions2_function\.fn\["([^"]+)"\]')
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)")


@dataclass
class Infra:
    """The parsed configuration: blocks of every file, merged by kind."""

    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Block] = field(default_factory=dict)
    outputs: dict[str, Block] = field(default_factory=dict)
    resources: dict[tuple[str, str], Block] = field(default_factory=dict)
    data: dict[tuple[str, str], Block] = field(default_factory=dict)

    def copy(self) -> Infra:
        """A deep copy, to mutate in tests."""
        return copy.deepcopy(self)

    def of_type(self, kind: str) -> dict[str, Block]:
        """Resources of one type, by name."""
        return {name: body for (k, name), body in self.resources.items() if k == kind}

    def functions(self) -> dict[str, Block]:
        """The one map every Cloud Function is declared from (`local.functions`)."""
        value = self.locals.get("functions", {})
        return value if isinstance(value, dict) else {}


def load_infra(infra_dir: Path) -> Infra:
    """Parse every `*.tf` file of `infra_dir` (comments dropped, quotes stripped)."""
    options = hcl2.SerializationOptions(
        with_comments=False, explicit_blocks=False, strip_string_quotes=True
    )
    infra = Infra()
    for path in sorted(infra_dir.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            parsed: dict[str, Any] = hcl2.load(handle, serialization_options=options)
        for block in parsed.get("locals", []):
            infra.locals.update(block)
        for block in parsed.get("variable", []):
            infra.variables.update(block)
        for block in parsed.get("output", []):
            infra.outputs.update(block)
        for kind, target in (("resource", infra.resources), ("data", infra.data)):
            for block in parsed.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        target[(rtype, name)] = body
    return infra


def _first(value: Any) -> Block:
    """A nested block parses as a list of one dict; give the dict (or {})."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> Iterator[str]:
    """Every string anywhere inside a parsed value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _function_target(value: Any) -> str | None:
    """Key of the function a string references (`fn["key"]`), if any."""
    match = _FUNCTION_REF.search(value) if isinstance(value, str) else None
    return match.group(1) if match else None


def _local_name(expression: Any) -> str | None:
    """`"${local.name}"` -> `name`."""
    match = re.fullmatch(r"\$\{local\.([a-z0-9_]+)\}", expression or "")
    return match.group(1) if match else None


def check_entry_points(infra: Infra, entry_points: Sequence[str]) -> list[str]:
    """Every exported entry point is deployed by exactly one function, and nothing else is."""
    problems: list[str] = []
    fn = infra.resources.get(("google_cloudfunctions2_function", "fn"))
    if fn is None:
        return ["resource google_cloudfunctions2_function.fn is missing"]
    if _local_name(fn.get("for_each")) != "functions":
        problems.append("google_cloudfunctions2_function.fn must use for_each = local.functions")
    if _first(fn.get("build_config")).get("entry_point") != "${each.value.entry_point}":
        problems.append("build_config.entry_point must be each.value.entry_point")
    declared = [cfg.get("entry_point") for cfg in infra.functions().values()]
    for name in entry_points:
        count = declared.count(name)
        if count != 1:
            problems.append(f"entry point {name!r} is deployed by {count} functions, expected 1")
    problems += [
        f"function with entry point {name!r} deploys nothing main.py exports"
        for name in declared
        if name not in entry_points
    ]
    return problems


def function_triggers(infra: Infra) -> dict[str, str]:
    """How each function (by key) is invoked, as the resources wire it."""
    triggers = dict.fromkeys(infra.functions(), HTTP)
    for sub in infra.of_type("google_pubsub_subscription").values():
        target = _function_target(_first(sub.get("push_config")).get("push_endpoint"))
        if target is not None:
            triggers[target] = PUSH
    for job in infra.of_type("google_cloud_scheduler_job").values():
        target = _function_target(_first(job.get("http_target")).get("uri"))
        if target is not None:
            triggers[target] = SCHEDULER
    return triggers


def check_triggers(infra: Infra, expected: Mapping[str, str]) -> list[str]:
    """Each entry point is invoked the way `expected` says (default: plain HTTP)."""
    problems: list[str] = []
    fn = infra.resources.get(("google_cloudfunctions2_function", "fn"), {})
    if "event_trigger" in fn:
        problems.append("functions must not have an event_trigger: sync_worker is fed by push")
    triggers = function_triggers(infra)
    for key, cfg in infra.functions().items():
        entry = cfg.get("entry_point", "")
        want = expected.get(entry, HTTP)
        if triggers.get(key) != want:
            problems.append(f"{entry} is triggered by {triggers.get(key)}, expected {want}")
    return problems


def check_push_subscription(infra: Infra, worker_entry_point: str) -> list[str]:
    """The worker's push subscription: ordered, retried, dead-lettered, authenticated."""
    keys = [k for k, c in infra.functions().items() if c.get("entry_point") == worker_entry_point]
    subs = [
        (name, sub)
        for name, sub in infra.of_type("google_pubsub_subscription").items()
        if keys and _function_target(_first(sub.get("push_config")).get("push_endpoint")) == keys[0]
    ]
    if len(subs) != 1:
        return [f"expected one push subscription to {worker_entry_point}, found {len(subs)}"]
    name, sub = subs[0]
    problems: list[str] = []
    if 'google_pubsub_topic.topic["calendar-changes"]' not in str(sub.get("topic")):
        problems.append(f"subscription {name} must read topic calendar-changes")
    if sub.get("enable_message_ordering") is not True:
        problems.append(f"subscription {name} must enable message ordering")
    retry = _first(sub.get("retry_policy"))
    if not retry.get("minimum_backoff") or not retry.get("maximum_backoff"):
        problems.append(f"subscription {name} needs a retry_policy with exponential backoff")
    dead = _first(sub.get("dead_letter_policy"))
    if "google_pubsub_topic." not in str(dead.get("dead_letter_topic")):
        problems.append(f"subscription {name} needs a dead_letter_policy to a topic")
    if not _first(_first(sub.get("push_config")).get("oidc_token")).get("service_account_email"):
        problems.append(f"subscription {name} must push with an OIDC token")
    timeout = infra.functions()[keys[0]].get("timeout")
    ack = sub.get("ack_deadline_seconds")
    if not (isinstance(ack, int) and isinstance(timeout, int) and ack >= timeout):
        problems.append(f"ack_deadline_seconds {ack} must be at least the worker timeout {timeout}")
    return problems


def check_scheduler(infra: Infra, actions: Sequence[str]) -> list[str]:
    """Scheduler jobs post every action, each authenticated with an OIDC token."""
    problems: list[str] = []
    jobs = infra.of_type("google_cloud_scheduler_job")
    posted: set[str] = set()
    for name, job in jobs.items():
        target = _first(job.get("http_target"))
        if not _first(target.get("oidc_token")).get("service_account_email"):
            problems.append(f"scheduler job {name} must call with an OIDC token")
        body = str(target.get("body"))
        jobs_map = infra.locals.get(_local_name(job.get("for_each")) or "", None)
        if isinstance(jobs_map, dict) and "each.value.action" in body:
            posted |= {str(cfg.get("action")) for cfg in jobs_map.values()}
        posted |= set(re.findall(r'action\s*=\s*\\?"(\w+)', body))
    problems += [f"no scheduler job posts action {a!r}" for a in actions if a not in posted]
    return problems


def check_env(infra: Infra, env_names: frozenset[str], secret_names: frozenset[str]) -> list[str]:
    """Functions get exactly the settings' variables; the secret ones only from Secret Manager."""
    problems: list[str] = []
    plain = infra.locals.get("function_env", {})
    secret = infra.locals.get("secret_env", {})
    if not isinstance(plain, dict) or not isinstance(secret, dict):
        return ["local.function_env and local.secret_env must be maps of variable names"]
    service = _first(
        infra.resources.get(("google_cloudfunctions2_function", "fn"), {}).get("service_config")
    )
    if "local.function_env" not in str(service.get("environment_variables")):
        problems.append("functions' environment_variables must come from local.function_env")
    dynamic = [d.get("secret_environment_variables") for d in service.get("dynamic", []) if d]
    secret_sources = [_strings(d.get("for_each")) for d in dynamic if isinstance(d, dict)]
    if not any("local.secret_env" in s for strings in secret_sources for s in strings):
        problems.append("secret_environment_variables must iterate over local.secret_env")
    deployed = infra.locals.get("secret_env_deployed", "${local.secret_env}")
    if "local.secret_env" not in str(deployed):
        problems.append("local.secret_env_deployed must derive from local.secret_env")
    set_names = set(plain) | set(secret)
    problems += [f"{n} is set but Settings does not read it" for n in sorted(set_names - env_names)]
    problems += [f"{n} is read by Settings but never set" for n in sorted(env_names - set_names)]
    problems += [
        f"{n} is a secret but set as a plain variable" for n in sorted(set(plain) & secret_names)
    ]
    problems += [f"{n} is not a secret" for n in sorted(set(secret) - secret_names)]
    problems += [
        f"output {name} exposes a secret variable"
        for name, body in infra.outputs.items()
        if any("secret_env" in s for s in _strings(body))
    ]
    return problems


def check_references(infra: Infra) -> list[str]:
    """Every referenced topic and subscription, and every keyed resource, exists."""
    problems: list[str] = []
    topics = infra.locals.get("topics", {})
    for key, cfg in infra.functions().items():
        for topic in cfg.get("publishes", []):
            if topic not in topics:
                problems.append(f"function {key} publishes to unknown topic {topic!r}")
    places: list[tuple[str, Any]] = [
        *((f"{t}.{n}", body) for (t, n), body in [*infra.resources.items(), *infra.data.items()]),
        *((f"local.{name}", value) for name, value in infra.locals.items()),
        *((f"output.{name}", body) for name, body in infra.outputs.items()),
    ]
    for where, body in places:
        for text in _strings(body):
            if "${" not in text:
                continue
            for kind, name, key in _REFERENCE.findall(text):
                target = infra.resources.get((kind, name))
                if target is None:
                    if kind.startswith("google_pubsub_") or key:
                        problems.append(f"{where} references missing {kind}.{name}")
                    continue
                if not key:
                    continue
                keys = infra.locals.get(_local_name(target.get("for_each")) or "")
                if not isinstance(keys, dict) or key not in keys:
                    problems.append(f'{where} references missing {kind}.{name}["{key}"]')
    return problems


def check_public_access(infra: Infra, public_entry_points: Sequence[str]) -> list[str]:
    """Exactly these functions are public (the webhook, the connect flow): each has an
    allUsers binding of its own, and no other function has one anywhere."""
    problems: list[str] = []
    keys = {
        k: c.get("entry_point")
        for k, c in infra.functions().items()
        if c.get("entry_point") in public_entry_points
    }
    public_targets = set()
    for (rtype, name), body in infra.resources.items():
        if "_iam_" not in rtype:
            continue
        members = [*_strings(body.get("member")), *_strings(body.get("members"))]
        if any(m in PUBLIC_MEMBERS for m in members):
            target = next((t for s in _strings(body) if (t := _function_target(s))), None)
            if target is None or target not in keys:
                problems.append(f"{rtype}.{name} grants public access to something else")
            else:
                public_targets.add(keys[target])
    problems += [
        f"{entry} has no allUsers invoker binding"
        for entry in public_entry_points
        if entry not in public_targets
    ]
    for key, cfg in infra.functions().items():
        if any(m in s for s in _strings(cfg.get("invokers")) for m in PUBLIC_MEMBERS):
            problems.append(f"function {key} lists a public invoker")
    return problems


def check_source_archive(infra: Infra) -> list[str]:
    """The archive holds main.py, the packages and the root's pinned requirements.txt."""
    problems: list[str] = []
    archive = infra.data.get(("archive_file", "source"))
    if archive is None:
        return ["data.archive_file.source is missing"]
    if infra.locals.get("repo_root") != "${path.module}/..":
        problems.append("local.repo_root must be the repository root (path.module/..)")
    root_files = infra.locals.get("source_root_files", [])
    for name in ("main.py", "requirements.txt"):
        if name not in root_files:
            problems.append(f"the source archive does not include {name} from the repo root")
    packages = infra.locals.get("source_packages", [])
    for name in ("functions", "shared"):
        if name not in packages:
            problems.append(f"the source archive does not include package {name}/")
    content = _first(_first(_first(archive.get("dynamic")).get("source")).get("content"))
    if content.get("content") != '${file("${local.repo_root}/${source.value}")}' or (
        content.get("filename") != "${source.value}"
    ):
        problems.append("archive entries must be the repo's files under their own names")
    obj = infra.resources.get(("google_storage_bucket_object", "source"), {})
    if not re.search(
        r"data\.archive_file\.source\.output_(md5|sha256|sha512)", obj.get("name", "")
    ):
        problems.append("the source object must be named by the archive's hash")
    return problems


def check_source_closure(
    repo_root: Path, root_files: Sequence[str], packages: Sequence[str]
) -> list[str]:
    """Every local module the deployed code imports is inside the archive."""
    local_modules = {p.stem for p in repo_root.glob("*.py")} | {
        p.parent.name for p in repo_root.glob("*/__init__.py")
    }
    shipped = {Path(f).stem for f in root_files if f.endswith(".py")} | set(packages)
    files = [repo_root / f for f in root_files if f.endswith(".py")]
    files += [f for pkg in packages for f in sorted((repo_root / pkg).rglob("*.py"))]
    problems: list[str] = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for top in {n.split(".")[0] for n in names}:
                if top in local_modules and top not in shipped:
                    rel = path.relative_to(repo_root)
                    problems.append(f"{rel} imports {top}, which the archive leaves out")
    return problems


def parse_pins(text: str) -> dict[str, str]:
    """`name==version` pins of a requirements file (comments and blank lines skipped)."""
    pins = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        match = _PIN.match(line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(3)
    return pins


def check_requirements(requirements: str, locked: str) -> list[str]:
    """requirements.txt pins every package with `==`, each as the lock file does."""
    problems: list[str] = []
    for raw in requirements.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("--") and not _PIN.match(line):
            problems.append(f"requirements.txt line {line!r} is not an exact == pin")
    pins, lock = parse_pins(requirements), parse_pins(locked)
    if not pins:
        problems.append("requirements.txt pins nothing")
    for name, version in sorted(pins.items()):
        if lock.get(name) != version:
            problems.append(f"{name}=={version} differs from the lock ({lock.get(name)})")
    return problems


def check_firestore(
    infra: Infra,
    indexes: Mapping[str, Sequence[tuple[str, str]]],
    ttl_fields: Mapping[str, str],
) -> list[str]:
    """The composite indexes (collection -> ordered fields) and TTL fields exist."""
    declared = [
        (
            body.get("collection"),
            [(f.get("field_path"), f.get("order")) for f in body.get("fields", [])],
        )
        for body in infra.of_type("google_firestore_index").values()
    ]
    problems = [
        f"missing index on {collection}: {list(fields)}"
        for collection, fields in indexes.items()
        if (collection, list(fields)) not in declared
    ]
    ttl = {
        (body.get("collection"), body.get("field"))
        for body in infra.of_type("google_firestore_field").values()
        if "ttl_config" in body
    }
    problems += [
        f"missing TTL policy on {collection}.{name}"
        for collection, name in ttl_fields.items()
        if (collection, name) not in ttl
    ]
    return problems


def check_function_settings(infra: Infra) -> list[str]:
    """Scale to zero, bounded instances, and a description, timeout and ingress for each."""
    problems: list[str] = []
    service = _first(
        infra.resources.get(("google_cloudfunctions2_function", "fn"), {}).get("service_config")
    )
    if service.get("min_instance_count") != 0:
        problems.append("min_instance_count must be 0")
    for key, cfg in infra.functions().items():
        missing = {"entry_point", "description", "memory", "timeout", "max_instances", "ingress"}
        missing -= set(cfg)
        if missing:
            problems.append(f"function {key} lacks {sorted(missing)}")
    for item in _strings(infra.variables.get("max_instances", {}).get("type")):
        for name, value in re.findall(r"(\w+)\s*=\s*optional\(number,\s*(\d+)\)", item):
            if not 1 <= int(value) <= 100:
                problems.append(f"max_instances.{name} default {value} is out of 1..100")
    return problems


# -- monitoring: log-based metrics and alerts against the code's log lines -------------------

_LEVELS = frozenset({"debug", "info", "warning", "error", "exception", "critical"})
_MESSAGES = re.compile(r'jsonPayload\.message=(?:"([^"]*)"|\(([^)]*)\))')
_LOGGER = re.compile(r'jsonPayload\.logger="([^"]*)"')
_PAYLOAD_FIELD = re.compile(r"jsonPayload\.([A-Za-z_][\w.]*)")
_METRIC_KEY = re.compile(r'local\.metric_type\["([^"]+)"\]')
_ALWAYS = frozenset({"message", "logger", "severity"})
"""Fields every line carries (shared/logs.py)."""


@dataclass(frozen=True)
class LogLine:
    """One `_log.<level>("message", extra={...})` call of the code: its logger (the module,
    `logs.get(__name__)`), message and extra fields (None: not a dict literal)."""

    logger: str
    message: str
    fields: frozenset[str] | None


def log_lines(repo_root: Path, packages: Sequence[str]) -> list[LogLine]:
    """Every structured log call with a literal message in `packages`."""
    found: list[LogLine] = []
    for package in packages:
        for path in sorted((repo_root / package).rglob("*.py")):
            module = ".".join(path.relative_to(repo_root).with_suffix("").parts)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "_log"
                    and node.func.attr in _LEVELS | {"log"}
                ):
                    continue
                args = node.args[1:] if node.func.attr == "log" else node.args
                if not args or not isinstance(args[0], ast.Constant):
                    continue
                extra = next((k.value for k in node.keywords if k.arg == "extra"), None)
                fields: frozenset[str] | None = frozenset()
                if isinstance(extra, ast.Dict):
                    keys = [k.value for k in extra.keys if isinstance(k, ast.Constant)]
                    fields = frozenset(str(k) for k in keys)
                elif extra is not None:
                    fields = None
                found.append(LogLine(module, str(args[0].value), fields))
    return found


def check_log_metrics(
    infra: Infra, lines: Sequence[LogLine], nested: Mapping[str, frozenset[str]]
) -> list[str]:
    """Each metric of `local.log_metrics` selects log lines the code writes (by logger and
    message) and reads only fields those lines carry (`nested`: the keys inside a field
    that is itself an object, e.g. the worker's `report`); the metric resource is made
    from that map, and alerts and charts name only metrics it declares."""
    problems: list[str] = []
    metrics = infra.locals.get("log_metrics", {})
    if not isinstance(metrics, dict) or not metrics:
        return ["local.log_metrics must declare the log-based metrics"]
    resource = infra.resources.get(("google_logging_metric", "log"), {})
    if _local_name(resource.get("for_each")) != "log_metrics" or (
        "each.value.filter" not in str(resource.get("filter"))
    ):
        problems.append("google_logging_metric.log must be made from local.log_metrics")
    for name, metric in metrics.items():
        text = " ".join(_strings([metric.get("filter"), metric.get("labels"), metric.get("value")]))
        messages = [
            m.strip().strip('"')
            for single, group in _MESSAGES.findall(str(metric.get("filter")))
            for m in ([single] if single else group.split(" OR "))
        ]
        if not messages:
            problems.append(f"metric {name}: its filter names no jsonPayload.message")
        logger = _LOGGER.search(str(metric.get("filter")))
        paths = set(_PAYLOAD_FIELD.findall(text)) - _ALWAYS
        for message in messages:
            written = [
                line
                for line in lines
                if line.message == message and (logger is None or line.logger == logger.group(1))
            ]
            where = f"{message!r}" + (f" from {logger.group(1)}" if logger else "")
            if not written:
                problems.append(f"metric {name}: no code logs {where}")
                continue
            for path in sorted(paths):
                top, _, inner = path.partition(".")
                carried = [line for line in written if line.fields is None or top in line.fields]
                if not carried:
                    problems.append(f"metric {name}: {where} is logged without field {top!r}")
                elif inner and inner.split(".")[0] not in nested.get(top, frozenset()):
                    problems.append(f"metric {name}: field {top!r} has no {inner!r}")
    referenced = {
        key
        for kind in ("google_monitoring_alert_policy", "google_monitoring_dashboard")
        for body in infra.of_type(kind).values()
        for text in _strings(body)
        for key in _METRIC_KEY.findall(text)
    } | {key for text in _strings(infra.locals) for key in _METRIC_KEY.findall(text)}
    problems += [
        f"monitoring names undeclared metric {k!r}" for k in sorted(referenced - set(metrics))
    ]
    return problems


def check_alerts(infra: Infra, metrics: Sequence[str], dead_letter: str) -> list[str]:
    """Alert policies notify the channels variable, one watches the dead-letter
    subscription's backlog, and each metric of `metrics` is alerted on."""
    problems: list[str] = []
    policy = infra.resources.get(("google_monitoring_alert_policy", "alert"), {})
    if "var.alert_notification_channels" not in str(policy.get("notification_channels")):
        problems.append("alert policies must notify var.alert_notification_channels")
    alerts = infra.locals.get("alerts", {})
    filters = [str(c.get("filter")) for a in alerts.values() for c in a.get("conditions", [])]
    if not any(
        "num_undelivered_messages" in f and f"google_pubsub_subscription.{dead_letter}" in f
        for f in filters
    ):
        problems.append("no alert watches the dead-letter subscription's backlog")
    for metric in metrics:
        if not any(f'local.metric_type["{metric}"]' in f for f in filters):
            problems.append(f"no alert on metric {metric!r}")
    return problems


MEET_EVENTS_PUBLISHER = "serviceAccount:meet-api-event-push@system.gserviceaccount.com"
"""Google Workspace Events publishes Meet events to the subscriber's topic as this account."""


def check_meet_events(infra: Infra, entry_point: str, topic: str) -> list[str]:
    """Meet events reach `entry_point`: Google may publish to `topic`, and one push
    subscription from it feeds the function, retried and dead-lettered, with an OIDC token."""
    problems: list[str] = []
    if topic not in (infra.locals.get("topics") or {}):
        problems.append(f"topic {topic} is not declared")
    ref = f'google_pubsub_topic.topic["{topic}"]'
    grants = [
        g
        for g in infra.of_type("google_pubsub_topic_iam_member").values()
        if ref in str(g.get("topic")) and g.get("role") == "roles/pubsub.publisher"
    ]
    if not any(g.get("member") == MEET_EVENTS_PUBLISHER for g in grants):
        problems.append(f"{MEET_EVENTS_PUBLISHER} may not publish to {topic}")
    keys = [k for k, c in infra.functions().items() if c.get("entry_point") == entry_point]
    subs = [
        (name, sub)
        for name, sub in infra.of_type("google_pubsub_subscription").items()
        if keys and _function_target(_first(sub.get("push_config")).get("push_endpoint")) == keys[0]
    ]
    if len(subs) != 1:
        return [*problems, f"expected one push subscription to {entry_point}, found {len(subs)}"]
    name, sub = subs[0]
    if ref not in str(sub.get("topic")):
        problems.append(f"subscription {name} must read topic {topic}")
    if "google_pubsub_topic." not in str(
        _first(sub.get("dead_letter_policy")).get("dead_letter_topic")
    ):
        problems.append(f"subscription {name} needs a dead_letter_policy to a topic")
    retry = _first(sub.get("retry_policy"))
    if not retry.get("minimum_backoff") or not retry.get("maximum_backoff"):
        problems.append(f"subscription {name} needs a retry_policy with exponential backoff")
    if not _first(_first(sub.get("push_config")).get("oidc_token")).get("service_account_email"):
        problems.append(f"subscription {name} must push with an OIDC token")
    return problems
