"""Where the CLI points: the local stack (`.local/stack.json`) or a deployed project.

Both give the same things: the Firestore `Store`, Pub/Sub clients, the functions'
addresses (called with an identity token in the cloud), a way to trigger renew and
sweep as Cloud Scheduler does, and the settings the product's services run with
in-process (`meetsync_cli.inproc`). Clients are made on first use.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.stack import DEAD_LETTER_SUBSCRIPTION, FUNCTIONS
from shared.settings import Settings
from shared.store.firestore import Store
from shared.store.pubsub import Publisher

if TYPE_CHECKING:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

__all__ = ["DEAD_LETTER_SUBSCRIPTION", "TAIL_SUBSCRIPTION", "CliError", "Target"]

DEFAULT_STACK = Path(".local/stack.json")
TAIL_SUBSCRIPTION = "meeting-events-tail"
"""Operators follow meeting-events through it (infra/pubsub.tf)."""
_TIMEOUT = 300.0


class CliError(Exception):
    """A command cannot go on; `code` is the exit status (1 a problem, 2 a usage error)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Target:
    name: str
    project: str
    local: bool
    functions: dict[str, str]
    settings_env: dict[str, str]
    """The variables `Settings` reads, as the functions have them."""
    scheduler_jobs: dict[str, str] = field(default_factory=dict)
    """Cloud: action → Cloud Scheduler job name (`projects/P/locations/L/jobs/J`)."""
    emulators: dict[str, str] = field(default_factory=dict)
    id_token: str = ""

    # -- how a target is found ---------------------------------------------------------------

    @classmethod
    def from_stack(cls, path: Path) -> Target:
        """The local stack `make dev` (or a test) described in `path`."""
        try:
            stack: dict[str, Any] = json.loads(path.read_text())
            project = str(stack["project"])
            functions = {str(k): str(v) for k, v in stack["functions"].items()}
            emulators = {
                "FIRESTORE_EMULATOR_HOST": str(stack["firestore_emulator_host"]),
                "PUBSUB_EMULATOR_HOST": str(stack["pubsub_emulator_host"]),
            }
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            raise CliError(f"cannot read the stack description {path}: {exc}", 2) from None
        env = {str(k): str(v) for k, v in stack.get("settings_env", {}).items()}
        env.setdefault("GOOGLE_CLOUD_PROJECT", project)
        return cls("local", project, True, functions, env, emulators=emulators)

    @classmethod
    def for_project(
        cls, project: str, region: str, *, prefix: str = "meetsync", scheduler_region: str = ""
    ) -> Target:
        """A deployment made by infra/ with `name_prefix = prefix`: its functions answer on
        https://REGION-PROJECT.cloudfunctions.net/PREFIX-NAME. Settings the code cannot
        derive (e.g. the secrets, for users who connected with Google sign-in) are read
        from the environment, as the functions read theirs."""
        base = f"https://{region}-{project}.cloudfunctions.net"
        functions = {f: f"{base}/{prefix}-{f.replace('_', '-')}" for f in FUNCTIONS}
        env = {k: v for k, v in os.environ.items() if k in Settings.env_names()}
        env["GOOGLE_CLOUD_PROJECT"] = project
        env.setdefault(
            "DELEGATION_SERVICE_ACCOUNT", f"{prefix}-delegation@{project}.iam.gserviceaccount.com"
        )
        jobs_at = f"projects/{project}/locations/{scheduler_region or region}/jobs"
        jobs = {action: f"{jobs_at}/{prefix}-{action}" for action in ("renew", "sweep")}
        return cls(project, project, False, functions, env, scheduler_jobs=jobs)

    def activate(self) -> None:
        """Point Google's client libraries at the emulators (they read the environment)."""
        os.environ.update(self.emulators)

    # -- clients -------------------------------------------------------------------------------

    @cached_property
    def settings(self) -> Settings:
        from shared.settings import SettingsError

        try:
            return Settings.from_env(self.settings_env)
        except SettingsError as exc:
            raise CliError(f"the product's settings for {self.name}: {exc}", 2) from None

    @cached_property
    def store(self) -> Store:
        from shared.wiring import firestore_client

        database = self.settings_env.get("FIRESTORE_DATABASE", "(default)")
        return Store(firestore_client(self.project, database))

    @cached_property
    def publisher(self) -> Publisher:
        return Publisher(self.project)

    @cached_property
    def subscriber(self) -> pubsub_v1.SubscriberClient:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        return pubsub_v1.SubscriberClient()

    def subscription(self, name: str) -> str:
        return f"projects/{self.project}/subscriptions/{name}"

    def topic(self, name: str) -> str:
        return f"projects/{self.project}/topics/{name}"

    # -- the functions ---------------------------------------------------------------------------

    def call(
        self,
        function: str,
        method: str,
        path: str = "/",
        *,
        body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        url: str = "",
    ) -> tuple[int, Any]:
        """Call a function (with an identity token in the cloud): (status, JSON body)."""
        import requests

        base = url or self.functions[function]
        sent = dict(headers or {})
        if not self.local or self.id_token:
            sent["Authorization"] = f"Bearer {self.identity_token(base)}"
        try:
            response = requests.request(
                method,
                base.rstrip("/") + path,
                json=body,
                data=data,
                headers=sent,
                params=params,
                timeout=_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise CliError(f"{function} did not answer: {exc}") from None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {"error": {"message": response.text[:500]}}

    def identity_token(self, audience: str) -> str:
        """An identity token for an IAM-protected function: MEETSYNC_ID_TOKEN or `--token`,
        else google-auth's (service account or metadata server), else gcloud's (a user
        logged in with `gcloud auth login`)."""
        if self.id_token:
            return self.id_token
        import google.auth.exceptions
        import google.auth.transport.requests
        import google.oauth2.id_token

        with contextlib.suppress(google.auth.exceptions.GoogleAuthError):
            token = google.oauth2.id_token.fetch_id_token(  # type: ignore[no-untyped-call]
                google.auth.transport.requests.Request(), audience
            )
            return str(token)
        try:
            out = subprocess.run(
                ["gcloud", "auth", "print-identity-token"],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise CliError(f"no identity token (set MEETSYNC_ID_TOKEN or log in): {exc}") from None
        return out.stdout.strip()

    def trigger(self, action: str, *, sweep_all: bool = False) -> None:
        """Start a renew or sweep run as the scheduler's does: a `{"kind": ...}` message on
        the `maintenance` topic, which the maintenance function dispatches over the shards
        (the same path locally and in the cloud, with the caller's Pub/Sub rights)."""
        from shared.domain.errors import PublishError

        try:
            message = {"kind": action, "all": sweep_all}
            self.publisher.publish(self.settings.maintenance_topic, message)
        except PublishError as exc:
            raise CliError(f"could not start the {action} run: {exc}") from None
