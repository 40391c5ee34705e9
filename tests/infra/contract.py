"""The contract between the Python code and the Terraform in infra/.

`load_infra` parses every `*.tf` file with python-hcl2 into an `Infra`; each
`check_*` function is pure (an `Infra` and the code's facts in, a list of
problems out, empty when the contract holds), so that tests can run it on the
real configuration and on mutated copies of it.
"""

from __future__ import annotations

import ast
import copy
import math
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
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


def _seconds(duration: Any) -> int | None:
    """`"600s"` -> 600 (a Terraform duration in whole seconds), else None."""
    match = re.fullmatch(r"(\d+)s", duration) if isinstance(duration, str) else None
    return int(match.group(1)) if match else None


def _push_subscriptions_to(infra: Infra, key: str) -> list[tuple[str, Block]]:
    return [
        (name, sub)
        for name, sub in infra.of_type("google_pubsub_subscription").items()
        if _function_target(_first(sub.get("push_config")).get("push_endpoint")) == key
    ]


def check_push_subscription(
    infra: Infra,
    entry_point: str,
    topic: str = "calendar-changes",
    *,
    ordered: bool = True,
    backoff: tuple[int, int] = (10, 600),
) -> list[str]:
    """A push-fed function's subscription: reads `topic` (ordered if `ordered`), retried with
    exponential backoff within `backoff` seconds, dead-lettered to `<topic>-dead-letter`
    (kept by a pull subscription, the Pub/Sub service agent allowed to publish there and to
    acknowledge here), pushed with an OIDC token, and an ack deadline longer than the
    function's timeout."""
    keys = [k for k, c in infra.functions().items() if c.get("entry_point") == entry_point]
    subs = _push_subscriptions_to(infra, keys[0]) if keys else []
    if len(subs) != 1:
        return [f"expected one push subscription to {entry_point}, found {len(subs)}"]
    name, sub = subs[0]
    problems: list[str] = []
    if f'google_pubsub_topic.topic["{topic}"]' not in str(sub.get("topic")):
        problems.append(f"subscription {name} must read topic {topic}")
    if ordered and sub.get("enable_message_ordering") is not True:
        problems.append(f"subscription {name} must enable message ordering")
    retry = _first(sub.get("retry_policy"))
    if not retry.get("minimum_backoff") or not retry.get("maximum_backoff"):
        problems.append(f"subscription {name} needs a retry_policy with exponential backoff")
    else:
        low, high = _seconds(retry["minimum_backoff"]), _seconds(retry["maximum_backoff"])
        if low is None or high is None or not backoff[0] <= low <= high <= backoff[1]:
            problems.append(
                f"subscription {name} retry_policy backs off {retry['minimum_backoff']}"
                f"..{retry['maximum_backoff']}, expected within {backoff[0]}s..{backoff[1]}s"
            )
    dead = _first(sub.get("dead_letter_policy"))
    dead_topic = f"{topic}-dead-letter"
    dead_ref = f'google_pubsub_topic.topic["{dead_topic}"]'
    if "google_pubsub_topic." not in str(dead.get("dead_letter_topic")):
        problems.append(f"subscription {name} needs a dead_letter_policy to a topic")
    else:
        if dead_ref not in str(dead.get("dead_letter_topic")):
            problems.append(f"subscription {name} must dead-letter to topic {dead_topic}")
        if dead_topic not in (infra.locals.get("topics") or {}):
            problems.append(f"topic {dead_topic} is not declared")
        if not any(
            dead_ref in str(other.get("topic")) and not other.get("push_config")
            for other in infra.of_type("google_pubsub_subscription").values()
        ):
            problems.append(f"no pull subscription keeps the dead letters of {dead_topic}")
        agent = "google_project_service_identity.pubsub.email"
        grants = [
            *infra.of_type("google_pubsub_topic_iam_member").values(),
            *infra.of_type("google_pubsub_subscription_iam_member").values(),
        ]
        if not any(
            dead_ref in str(g.get("topic"))
            and g.get("role") == "roles/pubsub.publisher"
            and agent in str(g.get("member"))
            for g in grants
        ):
            problems.append(f"the Pub/Sub service agent may not publish to {dead_topic}")
        if not any(
            f"google_pubsub_subscription.{name}." in str(g.get("subscription"))
            and g.get("role") == "roles/pubsub.subscriber"
            and agent in str(g.get("member"))
            for g in grants
        ):
            problems.append(f"the Pub/Sub service agent may not acknowledge on {name}")
    if not _first(_first(sub.get("push_config")).get("oidc_token")).get("service_account_email"):
        problems.append(f"subscription {name} must push with an OIDC token")
    timeout = infra.functions()[keys[0]].get("timeout")
    ack = sub.get("ack_deadline_seconds")
    if not (isinstance(ack, int) and isinstance(timeout, int) and ack > timeout):
        problems.append(
            f"ack_deadline_seconds {ack} must be longer than the {entry_point} timeout {timeout}"
        )
    return problems


def _deadline_seconds(infra: Infra, value: Any) -> int | None:
    """A scheduler `attempt_deadline`: `"60s"`, or a function's timeout in seconds
    (`"${local.functions["key"].timeout}s"`)."""
    literal = _seconds(value)
    if literal is not None:
        return literal
    match = re.fullmatch(r'\$\{local\.functions\["([^"]+)"\]\.timeout\}s', str(value))
    timeout = infra.functions().get(match.group(1), {}).get("timeout") if match else None
    return timeout if isinstance(timeout, int) else None


def check_scheduler(
    infra: Infra,
    actions: Sequence[str],
    target_entry_point: str | None = None,
    max_deadline_seconds: int | None = None,
) -> list[str]:
    """Scheduler jobs post every action, each authenticated with an OIDC token, to
    `target_entry_point` (when given), within an attempt deadline of at most
    `max_deadline_seconds` (when given)."""
    problems: list[str] = []
    jobs = infra.of_type("google_cloud_scheduler_job")
    posted: set[str] = set()
    for name, job in jobs.items():
        target = _first(job.get("http_target"))
        if not _first(target.get("oidc_token")).get("service_account_email"):
            problems.append(f"scheduler job {name} must call with an OIDC token")
        if target_entry_point is not None:
            key = _function_target(target.get("uri"))
            entry = infra.functions().get(key or "", {}).get("entry_point")
            if entry != target_entry_point:
                problems.append(f"scheduler job {name} must call {target_entry_point}, not {entry}")
        if max_deadline_seconds is not None:
            deadline = _deadline_seconds(infra, job.get("attempt_deadline"))
            if deadline is None or deadline > max_deadline_seconds:
                problems.append(
                    f"scheduler job {name} attempt_deadline {job.get('attempt_deadline')}"
                    f" ({deadline} s) must be at most {max_deadline_seconds} s"
                )
        body = str(target.get("body"))
        jobs_map = infra.locals.get(_local_name(job.get("for_each")) or "", None)
        if isinstance(jobs_map, dict) and "each.value.action" in body:
            posted |= {str(cfg.get("action")) for cfg in jobs_map.values()}
        posted |= set(re.findall(r'action\s*=\s*\\?"(\w+)', body))
    problems += [f"no scheduler job posts action {a!r}" for a in actions if a not in posted]
    return problems


RUNTIME_ENV = frozenset({"THREADS"})
"""Variables of the runtime rather than of the settings: functions-framework's gunicorn
threads (one per concurrent request)."""


def check_env(
    infra: Infra,
    env_names: frozenset[str],
    secret_names: frozenset[str],
    runtime_names: frozenset[str] = RUNTIME_ENV,
) -> list[str]:
    """Functions get exactly the settings' variables (from `local.function_env`, or per function
    from a `local.NAME[each.key]` map merged in); the secret ones only from Secret Manager;
    beside them only the runtime's own (`runtime_names`)."""
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
    # Settings set per function: `local.NAME[each.key]` merged into the environment (the
    # Calendar budget's two, which differ by function).
    per_function = {
        name
        for local in re.findall(
            r"local\.(\w+)\[each\.key\]", str(service.get("environment_variables"))
        )
        for text in _strings(infra.locals.get(local))
        for name in re.findall(r"\b([A-Z][A-Z0-9_]*)\s*=", text)
    }
    problems += [
        f"{n} is set both for every function and per function"
        for n in sorted(set(plain) & per_function)
    ]
    set_names = set(plain) | set(secret) | per_function
    # Names the resource adds to the settings (`merge(local.function_env_set, {...})`):
    # only the runtime's own variables, never a setting (those come from the map).
    added = {
        name
        for literal in re.findall(r"\{([^{}]*)\}", str(service.get("environment_variables")))
        for name in re.findall(r"\b([A-Z][A-Z0-9_]*)\s*=", literal)
    }
    problems += [
        f"{n} is added to the functions' environment but is not a runtime variable"
        f" ({', '.join(sorted(runtime_names))})"
        for n in sorted(added - runtime_names)
    ]
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


IndexSpec = tuple[str, Sequence[tuple[str, str]]]
"""(collection, ordered (field, order) pairs) of a composite index."""


def check_firestore(
    infra: Infra,
    indexes: Sequence[IndexSpec],
    ttl_fields: Mapping[str, str],
    unindexed: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Exactly the composite indexes the queries need (none left over), the TTL fields, and
    the single-field index exemptions of `unindexed` (collection -> fields): each such
    field has an empty `index_config`, so Firestore keeps no index on it."""
    declared = [
        (
            body.get("collection"),
            [(f.get("field_path"), f.get("order")) for f in body.get("fields", [])],
        )
        for body in infra.of_type("google_firestore_index").values()
    ]
    wanted = [(collection, list(fields)) for collection, fields in indexes]
    problems = [
        f"missing index on {collection}: {fields}"
        for collection, fields in wanted
        if (collection, fields) not in declared
    ]
    problems += [
        f"index on {collection}: {fields} serves no query: drop it"
        for collection, fields in declared
        if (collection, fields) not in wanted
    ]
    field_bodies = list(infra.of_type("google_firestore_field").values())
    ttl = {(b.get("collection"), b.get("field")) for b in field_bodies if "ttl_config" in b}
    problems += [
        f"missing TTL policy on {collection}.{name}"
        for collection, name in ttl_fields.items()
        if (collection, name) not in ttl
    ]
    exempt = {
        (b.get("collection"), b.get("field"))
        for b in field_bodies
        if b.get("index_config") in ([{}], {}) and "${" not in str(b.get("field"))
    }
    for collection, names in (unindexed or {}).items():
        problems += [
            f"{collection}.{name} keeps its single-field index: exempt it (index_config {{}})"
            for name in names
            if (collection, name) not in exempt
        ]
    return problems


def check_concurrency(infra: Infra, expected: Mapping[str, int]) -> list[str]:
    """Each function's request concurrency comes from its map entry (`expected` by entry
    point, 1 for the others), with a CPU of at least 1 above 1 (Cloud Run forces
    concurrency 1 on a fractional CPU) and as many functions-framework threads."""
    problems: list[str] = []
    service = _first(
        infra.resources.get(("google_cloudfunctions2_function", "fn"), {}).get("service_config")
    )
    if service.get("max_instance_request_concurrency") != "${each.value.concurrency}":
        problems.append("max_instance_request_concurrency must be each.value.concurrency")
    if service.get("available_cpu") != "${each.value.cpu}":
        problems.append("available_cpu must be each.value.cpu")
    if not re.search(
        r"\bTHREADS\s*=\s*tostring\(each\.value\.concurrency\)",
        str(service.get("environment_variables")),
    ):
        problems.append("THREADS must be set to each.value.concurrency (one thread per request)")
    for cfg in infra.functions().values():
        entry = cfg.get("entry_point", "")
        concurrency = cfg.get("concurrency")
        want = expected.get(entry, 1)
        if concurrency != want:
            problems.append(f"{entry} concurrency is {concurrency}, expected {want}")
        if not isinstance(concurrency, int) or concurrency <= 1:
            continue
        try:
            cpu = float(cfg.get("cpu"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            cpu = 0.0
        if cpu < 1:
            problems.append(f"{entry} serves {concurrency} requests at once but its cpu is < 1")
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


def check_alerts(infra: Infra, metrics: Sequence[str], dead_letters: Sequence[str]) -> list[str]:
    """Alert policies notify the channels variable, each dead-letter subscription's backlog
    (`dead_letters`, resource names) is watched, and each metric of `metrics` is alerted on."""
    problems: list[str] = []
    policy = infra.resources.get(("google_monitoring_alert_policy", "alert"), {})
    if "var.alert_notification_channels" not in str(policy.get("notification_channels")):
        problems.append("alert policies must notify var.alert_notification_channels")
    alerts = infra.locals.get("alerts", {})
    filters = [str(c.get("filter")) for a in alerts.values() for c in a.get("conditions", [])]
    for dead_letter in dead_letters:
        if not any(
            "num_undelivered_messages" in f and f"google_pubsub_subscription.{dead_letter}." in f
            for f in filters
        ):
            problems.append(
                f"no alert watches the dead-letter subscription's backlog ({dead_letter})"
            )
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


# -- maintenance fan-out and the Calendar budget ---------------------------------------------


def check_maintenance(
    infra: Infra,
    *,
    worker: str,
    dispatcher: str,
    topic: str,
    signals_topic: str = "calendar-changes",
    max_seconds: int = 60,
) -> list[str]:
    """Maintenance runs fan out on `topic`: the `dispatcher` (scheduled) publishes shard jobs
    to it and answers within `max_seconds`; the `worker` (fed from it by push) does one job
    within `max_seconds`, publishing its continuation to `topic` and its sweep signals to
    `signals_topic`; the functions are told the topic's name (MAINTENANCE_TOPIC)."""
    problems: list[str] = []
    if topic not in (infra.locals.get("topics") or {}):
        problems.append(f"topic {topic} is not declared")
    by_entry = {c.get("entry_point"): c for c in infra.functions().values()}
    for entry, publishes in ((worker, (topic, signals_topic)), (dispatcher, (topic,))):
        cfg = by_entry.get(entry)
        if cfg is None:
            problems.append(f"no function has entry point {entry}")
            continue
        timeout = cfg.get("timeout")
        if not isinstance(timeout, int) or timeout > max_seconds:
            problems.append(f"{entry} timeout {timeout} must be at most {max_seconds} s")
        problems += [
            f"{entry} must publish to {t}" for t in publishes if t not in cfg.get("publishes", [])
        ]
    env = infra.locals.get("function_env") or {}
    if f'google_pubsub_topic.topic["{topic}"].name' not in str(env.get("MAINTENANCE_TOPIC")):
        problems.append(f"MAINTENANCE_TOPIC must be the name of topic {topic}")
    return problems


def _wiring_calls(tree: ast.Module) -> dict[str, set[str]]:
    """Each top-level function of shared/wiring.py -> the names it calls or mentions."""
    calls: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            calls[node.name] = {
                n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id != node.name
            } | {
                alias.name
                for n in ast.walk(node)
                if isinstance(n, ast.ImportFrom)
                for alias in n.names
            }
    return calls


def calendar_callers(repo_root: Path, modules: Mapping[str, str]) -> frozenset[str]:
    """The entry points (`modules`: entry point -> its module, `main._MODULES`) whose code
    reaches the Calendar API: it uses a `shared.wiring` function that builds, directly or
    through other wiring functions, the `CalendarAdapter`."""
    wiring = repo_root / "shared" / "wiring.py"
    calls = _wiring_calls(ast.parse(wiring.read_text(encoding="utf-8")))
    reaching = {name for name, used in calls.items() if "CalendarAdapter" in used}
    while True:
        more = {name for name, used in calls.items() if used & reaching} - reaching
        if not more:
            break
        reaching |= more
    callers = set()
    for entry, module in modules.items():
        path = repo_root / Path(*module.split(".")).with_suffix(".py")
        if not path.exists():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        used = {
            n.attr
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name)
            and n.value.id == "wiring"
        }
        if used & reaching:
            callers.add(entry)
    return frozenset(callers)


def _max_instances_defaults(infra: Infra) -> dict[str, int]:
    """`var.max_instances` attribute -> its default (`optional(number, N)`)."""
    text = " ".join(_strings(infra.variables.get("max_instances", {}).get("type")))
    return {n: int(v) for n, v in re.findall(r"(\w+)\s*=\s*optional\(number,\s*(\d+)\)", text)}


def _tf_values(value: Mapping[str, Any]) -> list[Any]:
    return [value[k] for k in sorted(value)]


def _tf_items(value: Any) -> list[tuple[Any, Any]]:
    return sorted(value.items()) if isinstance(value, Mapping) else list(enumerate(value))


_TF_FUNCTIONS: dict[str, Any] = {
    "floor": math.floor,
    "abs": abs,
    "sum": sum,
    "length": len,
    "keys": sorted,
    "values": _tf_values,
    "alltrue": all,
    "anytrue": any,
    "concat": lambda *lists: [item for part in lists for item in part],
    "setsubtract": lambda a, b: set(a) - set(b),
    "contains": lambda collection, item: item in collection,
    "_items": _tf_items,
    "true": True,
    "false": False,
}
"""The Terraform functions (and literals) a validation condition may use, in Python."""

_FOR_LIST = re.compile(r"\[for (\w+)(?:, (\w+))? in ([^\[\]:]+?) : ([^\[\]]+?)\]")
_STRING = re.compile(r'"[^"\\]*"')


def _validation_accepts(condition: str, variable: str, value: Any) -> bool | None:
    """Evaluate a validation condition for one value of `var.<variable>`: comparisons,
    arithmetic, &&, ||, !, list literals, `[for x in ... : ...]` (without nested brackets)
    and the functions of `_TF_FUNCTIONS`; None when it uses anything else."""
    expression = condition.strip()
    if expression.startswith("${") and expression.endswith("}"):
        expression = expression[2:-1]
    expression = re.sub(rf"\bvar\.{re.escape(variable)}\b", "x", expression)
    loop_names: set[str] = set()

    def comprehension(match: re.Match[str]) -> str:
        first, second, source, body = match.groups()
        loop_names.update(n for n in (first, second) if n)
        if second:
            return f"[{body} for {first}, {second} in _items({source})]"
        return f"[{body} for {first} in {source}]"

    expression = _FOR_LIST.sub(comprehension, expression)
    expression = expression.replace("&&", " and ").replace("||", " or ").replace("!=", " != ")
    expression = re.sub(r"!(?!=)", " not ", expression)
    allowed = {"x", "and", "or", "not", "for", "in", *loop_names, *_TF_FUNCTIONS}
    names = set(re.findall(r"[A-Za-z_]\w*", _STRING.sub("", expression)))
    if names - allowed or re.search(r"[^\s\w.,()\[\]<>=!+\-*/\"]", _STRING.sub("", expression)):
        return None
    try:
        namespace = {"__builtins__": {}, **_TF_FUNCTIONS}
        return bool(eval(expression, namespace, {"x": value}))  # noqa: S307
    except Exception:
        return None


def _check_validation(
    infra: Infra, variable: str, samples: Mapping[str, tuple[Any, bool]]
) -> list[str]:
    """`var.<variable>`'s validations, all together, accept or refuse each sample (described
    by its key) as it says; a condition the evaluator cannot read is reported."""
    conditions = [str(v.get("condition")) for v in infra.variables[variable].get("validation", [])]
    problems: list[str] = []
    for described, (value, ok) in samples.items():
        verdicts = [_validation_accepts(c, variable, value) for c in conditions]
        if None in verdicts:
            return [f"{variable}'s validation could not be evaluated"]
        if all(verdicts) != ok:
            verb = "allows" if not ok else "refuses"
            problems.append(f"{variable}'s validation {verb} {described}")
    return problems


def _calls_per_min(budget: float, share: float) -> int:
    """floor(budget * share), in exact decimal arithmetic."""
    return math.floor(Decimal(str(budget)) * Decimal(str(share)))


_SHARE_REF = re.compile(r'\$\{var\.calendar_budget_shares(?:\.(\w+)|\["(\w+)"\])\}')
_BY_FUNCTION = re.compile(
    r"\$\{\{for (\w+), (\w+) in local\.functions : \1 =>"
    r" floor\(var\.calendar_budget_per_min \* \2\.calendar_share\)\}\}"
)
_BUDGET_ENV = re.compile(
    r"\$\{\{for (\w+), (\w+) in local\.functions : \1 => \2\.calendar_share > 0"
    r" \? \{(.*)\} : \{\}\}\}"
)
BUDGET_ENV = ("CALENDAR_BUDGET_PER_MIN", "CALENDAR_BUDGET_INSTANCES")
"""The token bucket's two settings: the function's calls/min and its instances."""


def _share_samples(shares: Mapping[str, float], outsider: str | None) -> dict[str, Any]:
    """Values of `var.calendar_budget_shares` around its default, and whether each is valid."""
    largest = max(shares, key=lambda k: shares[k])
    smallest = min(shares, key=lambda k: shares[k])

    def moved(**changes: float) -> dict[str, float]:
        value = dict(shares)
        for key, delta in changes.items():
            value[key] = round(value.get(key, 0) + delta, 6)
        return value

    samples: dict[str, Any] = {
        "the default shares": (dict(shares), True),
        "shares summing to 1.1": (moved(**{largest: 0.1}), False),
        "shares summing to 0.9": (moved(**{largest: -0.1}), False),
        "shares summing to 0.9995": (moved(**{largest: -0.0005}), True),
        f"a share of 0 for {smallest}": (
            moved(**{smallest: -shares[smallest], largest: shares[smallest]}),
            False,
        ),
        f"a negative share for {smallest}": (
            moved(**{smallest: -2 * shares[smallest], largest: 2 * shares[smallest]}),
            False,
        ),
        f"shares without {smallest}": (
            {k: v for k, v in moved(**{largest: shares[smallest]}).items() if k != smallest},
            False,
        ),
    }
    if outsider is not None:
        samples[f"a share for {outsider}"] = (moved(**{largest: -0.01, outsider: 0.01}), False)
    return samples


def check_calendar_budget(
    infra: Infra,
    callers: Collection[str],
    *,
    counted_anyway: Collection[str] = (),
    quota_per_min: int = 10_000,
    tolerance: float = 0.001,
) -> list[str]:
    """The Calendar budget, split by per-function shares:

    - `var.calendar_budget_per_min`, a number whose validation accepts exactly (0, quota] in
      whole calls;
    - `var.calendar_budget_shares`, one share per Calendar caller (by entry point: `callers`,
      plus the conservative `counted_anyway`), each in (0, 1], summing to 1 within
      `tolerance`, and a validation that refuses anything else;
    - each function's `calendar_share` is its entry of that variable when it calls Calendar,
      else 0;
    - `local.calendar_budget_by_function` = floor(budget * share) per function, and each
      function with a share gets CALENDAR_BUDGET_PER_MIN = that and CALENDAR_BUDGET_INSTANCES =
      its own max_instances (`local.calendar_budget_env`, merged into its environment), never
      one value for every function (`local.function_env`);
    - preconditions keep each function at one call/min per instance at least and the total
      within the budget; at the defaults both hold."""
    problems: list[str] = []
    var = infra.variables.get("calendar_budget_per_min")
    if var is None:
        return ["variable calendar_budget_per_min is missing"]
    if var.get("type") not in ("number", "${number}"):
        problems.append("calendar_budget_per_min must be a number")
    default = var.get("default")
    if not isinstance(default, int | float) or not 0 < default <= quota_per_min:
        problems.append(
            f"calendar_budget_per_min default {default} is outside (0, {quota_per_min}]"
        )
    budget_samples: dict[float, bool] = {
        -1: False,
        0: False,
        1: True,
        quota_per_min: True,
        quota_per_min + 1: False,
        2 * quota_per_min: False,
        0.5: False,
    }
    if isinstance(default, int | float):
        budget_samples[default] = True
    problems += _check_validation(
        infra,
        "calendar_budget_per_min",
        {f"{value:g}": (value, ok) for value, ok in budget_samples.items()},
    )

    wanted = set(callers) | set(counted_anyway)
    shares_var = infra.variables.get("calendar_budget_shares")
    shares: dict[str, float] = {}
    if shares_var is None:
        problems.append("variable calendar_budget_shares is missing")
    else:
        raw = shares_var.get("default")
        if not isinstance(raw, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in raw.values()
        ):
            problems.append("calendar_budget_shares default must be a map of numbers")
        else:
            shares = dict(raw)
            found = [
                f"calendar_budget_shares gives {k} a share, but it never calls Calendar"
                for k in sorted(set(shares) - wanted)
            ]
            found += [
                f"calendar_budget_shares has no share for {k}, which calls Calendar"
                for k in sorted(wanted - set(shares))
            ]
            found += [
                f"calendar_budget_shares default {k} = {v:g} is outside (0, 1]"
                for k, v in sorted(shares.items())
                if not 0 < v <= 1
            ]
            total = sum((Decimal(str(v)) for v in shares.values()), Decimal(0))
            if abs(total - 1) > Decimal(str(tolerance)):
                found.append(f"calendar_budget_shares default sums to {float(total):g}, not 1")
            outsider = next(
                (
                    c.get("entry_point")
                    for c in infra.functions().values()
                    if c.get("entry_point") not in wanted
                ),
                None,
            )
            if shares and not found:  # the samples are built around a valid default
                found += _check_validation(
                    infra, "calendar_budget_shares", _share_samples(shares, outsider)
                )
            problems += found

    if not _BY_FUNCTION.fullmatch(str(infra.locals.get("calendar_budget_by_function"))):
        problems.append(
            "local.calendar_budget_by_function must be floor(var.calendar_budget_per_min *"
            " calendar_share) for every function of local.functions"
        )
    problems += _check_budget_env(infra)

    defaults = _max_instances_defaults(infra)
    total_calls = 0
    for key, cfg in infra.functions().items():
        entry = cfg.get("entry_point", "")
        raw_share = cfg.get("calendar_share")
        reference = _SHARE_REF.fullmatch(str(raw_share))
        if isinstance(raw_share, int | float) and not isinstance(raw_share, bool):
            share: float | None = raw_share
        elif reference is not None:
            name = reference.group(1) or reference.group(2)
            share = shares.get(name)
            if name != entry:
                problems.append(f"function {key} takes the Calendar share of {name}")
            if share is None:
                problems.append(f"function {key} takes a share calendar_budget_shares lacks")
                continue
        else:
            problems.append(
                f"function {key} must give its share of the Calendar budget"
                " (calendar_share = 0 or var.calendar_budget_shares.<name>)"
            )
            continue
        if entry in wanted and share == 0:
            problems.append(f"{entry} calls Calendar but has no share of the Calendar budget")
        if entry not in wanted and share != 0:
            problems.append(f"{entry} has a share of the Calendar budget but never calls Calendar")
        if entry in wanted and share and reference is None:
            problems.append(f"{entry}'s calendar_share must come from var.calendar_budget_shares")
        match = re.fullmatch(r"\$\{var\.max_instances\.(\w+)\}", str(cfg.get("max_instances")))
        if match is None or match.group(1) not in defaults:
            problems.append(f"function {key} max_instances must be a var.max_instances attribute")
        elif share and isinstance(default, int | float):
            calls, instances = _calls_per_min(default, share), defaults[match.group(1)]
            total_calls += calls
            if calls < instances:
                problems.append(
                    f"at the defaults {entry} gets {calls} Calendar calls/min for {instances}"
                    " instances: less than one call/min each"
                )
    if isinstance(default, int | float) and total_calls > default:
        problems.append(
            f"at the defaults the functions' Calendar budgets add up to {total_calls}/min,"
            f" above the budget {default:g}"
        )
    return problems


def _check_budget_env(infra: Infra) -> list[str]:
    """Each function with a share gets its own CALENDAR_BUDGET_PER_MIN (its calls/min) and
    CALENDAR_BUDGET_INSTANCES (its max_instances), and preconditions guard both bounds."""
    problems: list[str] = []
    env = infra.locals.get("function_env") or {}
    problems += [
        f"{name} must be set per function (local.calendar_budget_env), not for every function"
        " in local.function_env"
        for name in BUDGET_ENV
        if name in env
    ]
    match = _BUDGET_ENV.fullmatch(str(infra.locals.get("calendar_budget_env")))
    if match is None:
        problems.append(
            "local.calendar_budget_env must map every function of local.functions to its budget"
            " settings where its calendar_share > 0, else {}"
        )
    else:
        key, fn, body = match.groups()
        assigned = dict(re.findall(r"\b([A-Z][A-Z0-9_]*) = ([^,]+)", body))
        wanted = {
            "CALENDAR_BUDGET_PER_MIN": (
                f"tostring(local.calendar_budget_by_function[{key}])",
                "the function's calls/min (local.calendar_budget_by_function)",
            ),
            "CALENDAR_BUDGET_INSTANCES": (
                f"tostring({fn}.max_instances)",
                "the function's own max_instances",
            ),
        }
        for name, (expression, meaning) in wanted.items():
            if assigned.pop(name, None) != expression:
                problems.append(f"{name} must be {meaning}")
        problems += [f"local.calendar_budget_env also sets {name}" for name in sorted(assigned)]
    fn_resource = infra.resources.get(("google_cloudfunctions2_function", "fn"), {})
    service = _first(fn_resource.get("service_config"))
    if "local.calendar_budget_env[each.key]" not in str(service.get("environment_variables")):
        problems.append("functions' environment_variables must merge local.calendar_budget_env")
    conditions = [
        re.sub(r"\s+", " ", str(p.get("condition")))
        for lifecycle in fn_resource.get("lifecycle", [])
        for p in lifecycle.get("precondition", [])
    ]
    if not any(
        "local.calendar_budget_by_function[each.key] >= each.value.max_instances" in c
        for c in conditions
    ):
        problems.append(
            "no precondition keeps each function's Calendar budget at one call/min per instance"
        )
    if not any(
        "sum(values(local.calendar_budget_by_function)) <= var.calendar_budget_per_min" in c
        for c in conditions
    ):
        problems.append(
            "no precondition keeps the functions' Calendar budgets within calendar_budget_per_min"
        )
    return problems
