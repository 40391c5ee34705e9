"""The local stack: Firestore and Pub/Sub emulators, the workspace emulator, every function.

Used by `make dev` (foreground, until Ctrl-C or SIGTERM) and by the pytest
fixtures. Every process gets a free port and its own process group; readiness
is probed, never slept for; the worker is fed by a Pub/Sub push subscription as
in the cloud; and everything started is stopped on exit or on a failed start.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.domain.models import User
from shared.store.firestore import Store
from shared.wiring import firestore_client

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
PROJECT = "meetsync-local"
FUNCTIONS: tuple[str, ...] = (
    "calendar_webhook",
    "sync_worker",
    "create_meeting",
    "watch_calendar",
    "renew_channels",
    "import_events",
    "users",
    "connect",
    "meet_events",
    "maintenance",
)
TOPICS = (
    "calendar-changes",
    "calendar-changes-dead-letter",
    "meeting-events",
    "workspace-events",
    "workspace-events-dead-letter",
    "maintenance",
    "maintenance-dead-letter",
)
MAINTENANCE_SUBSCRIPTION = "maintenance-maintenance"
MAINTENANCE_DEAD_LETTER_SUBSCRIPTION = "maintenance-dead-letter"
WORKER_SUBSCRIPTION = "sync-worker"
DEAD_LETTER_SUBSCRIPTION = "calendar-changes-dead-letter"
EVENTS_SUBSCRIPTION = "meeting-events-observer"
MEET_EVENTS_SUBSCRIPTION = "workspace-events-meet-events"
MEET_DEAD_LETTER_SUBSCRIPTION = "workspace-events-dead-letter"
DEMO_USERS = ("alice@example.com", "bob@example.com")
DELEGATION_SA = "meetsync-delegation@meetsync-local.iam.gserviceaccount.com"
OAUTH_CLIENT_ID = "meetsync-local.apps.googleusercontent.com"
"""The OAuth client the stack registers with the workspace emulator for Google sign-in."""
RETURN_TO_ALLOWED = "https://app.meetsync.test/settings"
"""Where the local connect flow may send a browser back to (nothing serves it)."""
START_TIMEOUT = 90.0


class StackError(RuntimeError):
    """A piece of the stack did not start; the message says which and where its log is."""


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, never one this process handed out before: the kernel
    may offer a port again once its probe socket closes, before the first taker binds it
    (two functions on one port answer each other's requests)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def http(method: str, url: str, body: Any = None, *, timeout: float = 10.0) -> tuple[int, bytes]:
    """A tiny JSON HTTP client for control calls (stdlib, so it runs before set-up)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until(
    check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll `check` until it is true; raise StackError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise StackError(f"{what} not ready after {timeout:.0f}s")
        time.sleep(interval)


@dataclass
class Proc:
    """One child process in its own process group, logging to a file."""

    name: str
    args: Sequence[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")  # a restart appends: one log per process name
        self.popen = subprocess.Popen(
            list(self.args),
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the whole group (gcloud starts Java children), then SIGKILL if needed."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=timeout)
        # Java grandchildren may outlive the group leader: sweep the group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)

    def fail(self, why: str) -> StackError:
        tail = ""
        with contextlib.suppress(OSError):
            tail = self.log_path.read_text(errors="replace")[-2000:]
        return StackError(f"{self.name}: {why} (log {self.log_path}):\n{tail}")


def _probe_http(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            http("GET", url, timeout=2.0)
        except (OSError, urllib.error.URLError):
            return False
        return True  # any HTTP answer means the server is serving

    return check


@dataclass
class Stack:
    """Handles to a running local stack; `stack.json` is its public description."""

    project: str = PROJECT
    with_workspace: bool = True
    with_functions: bool = True
    functions: Sequence[str] = FUNCTIONS
    log_dir: Path = LOCAL / "logs"
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    firestore_host: str = ""
    pubsub_host: str = ""
    workspace_url: str = ""
    function_urls: dict[str, str] = field(default_factory=dict)
    users: list[dict[str, str]] = field(default_factory=list)
    started_in: float = 0.0
    oauth_secrets: dict[str, str] = field(
        default_factory=lambda: {
            "OAUTH_CLIENT_SECRET": secrets.token_urlsafe(24),
            "TOKEN_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "STATE_SIGNING_KEY": secrets.token_urlsafe(32),
        }
    )
    """Secret settings of this stack, fresh per stack (the leak scan looks for them)."""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Stack:
        began = time.monotonic()
        try:
            self._start_google_emulators()
            self.create_topics()
            if self.with_workspace:
                self.add_workspace()
            if self.with_functions:
                self.add_functions()
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        return self

    def add_workspace(self) -> None:
        """Start the workspace emulator (if not running) and seed the demo users."""
        if "workspace" not in self.procs:
            self._start_workspace()
            self.seed_users()

    def add_functions(self) -> None:
        """Start every function (if not running) and the push subscription feeding the worker."""
        if not self.function_urls:
            self._start_functions()
            self.create_worker_subscription()
            self.create_meet_events_subscription()
            self.register_oauth_client()

    def stop(self) -> None:
        procs = list(self.procs.values())
        threads = [threading.Thread(target=p.stop) for p in reversed(procs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.procs.clear()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, name: str, args: Sequence[str], env: dict[str, str] | None = None) -> Proc:
        proc = Proc(name, args, {**os.environ, **(env or {})}, self.log_dir / f"{name}.log")
        self.procs[name] = proc
        proc.start()
        return proc

    def _wait(self, proc: Proc, url: str) -> None:
        probe = _probe_http(url)

        def ready() -> bool:
            if not proc.alive():
                raise proc.fail("exited during start-up")
            return probe()

        try:
            wait_until(ready, timeout=START_TIMEOUT, what=proc.name)
        except StackError:
            raise proc.fail("did not become ready") from None

    def _start_google_emulators(self) -> None:
        fs_port, ps_port = free_port(), free_port()
        self.firestore_host = f"127.0.0.1:{fs_port}"
        self.pubsub_host = f"127.0.0.1:{ps_port}"
        gcloud = os.environ.get("GCLOUD", "gcloud")
        fs = self._spawn("firestore", self._firestore_args())
        ps = self._spawn(
            "pubsub",
            [
                gcloud, "beta", "emulators", "pubsub", "start",
                f"--host-port={self.pubsub_host}", f"--project={self.project}",
            ],
        )  # fmt: skip
        self._wait(fs, f"http://{self.firestore_host}/")
        self._wait(ps, f"http://{self.pubsub_host}/")

    def _firestore_args(self) -> list[str]:
        gcloud = os.environ.get("GCLOUD", "gcloud")
        return [gcloud, "emulators", "firestore", "start", f"--host-port={self.firestore_host}"]

    def _start_workspace(self) -> None:
        port = free_port()
        self.workspace_url = f"http://127.0.0.1:{port}"
        proc = self._spawn(
            "workspace",
            [sys.executable, "-m", "emulator", "--host", "127.0.0.1", "--port", str(port)],
            # Workspace Events deliveries go to the stack's Pub/Sub emulator
            {"PUBSUB_EMULATOR_HOST": self.pubsub_host} if self.pubsub_host else None,
        )
        self._wait(proc, f"{self.workspace_url}/_emulator/health")

    def function_env(self) -> dict[str, str]:
        """The environment every function (and in-process test code) runs with locally."""
        env = {
            "GOOGLE_CLOUD_PROJECT": self.project,
            "FIRESTORE_EMULATOR_HOST": self.firestore_host,
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            # both modes at once: delegation is the default (the seeded users), and users
            # may connect themselves with Google sign-in (refresh_token mode)
            "AUTH_MODE": "delegation",
            "DELEGATION_SERVICE_ACCOUNT": DELEGATION_SA,
            "OAUTH_CLIENT_ID": OAUTH_CLIENT_ID,
            "CONNECT_RETURN_TO_ALLOWLIST": RETURN_TO_ALLOWED,
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **self.oauth_secrets,
        }
        if self.workspace_url:
            env.update(
                {
                    "CALENDAR_API_ROOT": f"{self.workspace_url}/",
                    "MEET_API_ROOT": f"{self.workspace_url}/",
                    "WORKSPACE_EVENTS_API_ROOT": f"{self.workspace_url}/",
                    "DIRECTORY_API_ROOT": f"{self.workspace_url}/",
                    "OAUTH_TOKEN_URI": f"{self.workspace_url}/token",
                    "IAM_CREDENTIALS_ROOT": f"{self.workspace_url}/",
                    "OAUTH_AUTH_URI": f"{self.workspace_url}/o/oauth2/v2/auth",
                    "OAUTH_REVOKE_URI": f"{self.workspace_url}/revoke",
                    "OAUTH_CERTS_URI": f"{self.workspace_url}/oauth2/v3/certs",
                }
            )
        if "calendar_webhook" in self.function_urls:
            env["WEBHOOK_URL"] = self.function_urls["calendar_webhook"]
        if "connect" in self.function_urls:
            env["OAUTH_REDIRECT_URI"] = self.redirect_uri
        env.update(self.extra_env)
        return env

    def _start_functions(self) -> None:
        for name in self.functions:
            self.function_urls[name] = f"http://127.0.0.1:{free_port()}"
        env = self.function_env()
        ff = str(Path(sys.executable).parent / "functions-framework")
        started = []
        for name in self.functions:
            port = self.function_urls[name].rsplit(":", 1)[1]
            args = [ff, "--target", name, "--source", "main.py", "--host", "127.0.0.1"]
            started.append(self._spawn(name, [*args, "--port", port], env))
        for proc in started:
            self._wait(proc, f"{self.function_urls[proc.name]}/_ready")

    def kill(self, name: str) -> None:
        """SIGKILL one process, as a crash would (tests of dying workers)."""
        proc = self.procs[name]
        if proc.popen is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait(timeout=10)

    def restart(self, name: str) -> None:
        """Start a stopped or killed process again, same command, same port."""
        proc = self.procs[name]
        proc.stop()
        proc.start()
        url = self.function_urls.get(name) or self.workspace_url
        self._wait(
            proc, f"{url}/_ready" if name in self.function_urls else f"{url}/_emulator/health"
        )

    # -- outages of the Google emulators (fault suite) -----------------------------------------

    def _signal_functions(self, signum: signal.Signals) -> None:
        for name in self.function_urls:
            popen = self.procs[name].popen
            if popen is not None and popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signum)

    def restart_firestore(self) -> None:
        """Restart the Firestore emulator the way a durable database comes back: with every
        acknowledged write. The emulator keeps data in memory, so the functions are frozen
        (SIGSTOP) while it exports, thawed to meet the outage, and the new process, on the
        same port, imports the export."""
        export_root = Path(tempfile.mkdtemp(prefix="firestore-export-"))
        url = f"http://{self.firestore_host}/emulator/v1/projects/{self.project}:export"
        body = {
            "database": f"projects/{self.project}/databases/(default)",
            "export_directory": str(export_root),
        }
        self._signal_functions(signal.SIGSTOP)
        try:
            status, text = http("POST", url, body, timeout=60)
            if status >= 300:
                raise StackError(f"firestore export: {status} {text[:200]!r}")
            self.kill("firestore")
        finally:
            self._signal_functions(signal.SIGCONT)
        metadata = next(export_root.glob("*/*.overall_export_metadata"))
        proc = self.procs["firestore"]
        proc.args = [*self._firestore_args(), f"--import-data={metadata}"]
        proc.start()
        try:
            self._wait(proc, f"http://{self.firestore_host}/")
        finally:
            shutil.rmtree(export_root, ignore_errors=True)  # read at start-up, then not needed

    def fresh_firestore(self) -> None:
        """Replace the Firestore emulator by an empty one on the same port. For a reset the
        emulator refuses: it keeps the locks of a transaction whose client was killed and
        then will not delete (the product uses no transactions for that reason, so this is
        a fallback)."""
        self.kill("firestore")
        proc = self.procs["firestore"]
        proc.args = self._firestore_args()
        proc.start()
        self._wait(proc, f"http://{self.firestore_host}/")

    def restart_pubsub(self, drain: Callable[[], None] = lambda: None) -> None:
        """Restart the Pub/Sub emulator on the same port and declare the topics and
        subscriptions again (in the cloud they outlive any outage). The emulator loses the
        messages it held: `drain` runs while the functions are frozen, so an observer can
        take what was published; change signals in flight are lost, a harsher fault than
        Google's durable Pub/Sub, which the scheduled sweep recovers from. The functions
        stay frozen until every topic and subscription is declared again: a publish that
        reached a topic before its subscriptions existed would reach no one, which Google's
        subscriptions, outliving the outage, never allow."""
        self._signal_functions(signal.SIGSTOP)
        try:
            drain()
            self.kill("pubsub")
            proc = self.procs["pubsub"]
            proc.start()
            self._wait(proc, f"http://{self.pubsub_host}/")
            self.create_topics()
            if self.function_urls:
                self.create_worker_subscription()
                self.create_meet_events_subscription()
        finally:
            self._signal_functions(signal.SIGCONT)

    # -- Pub/Sub resources (REST on the emulator) ----------------------------------------------

    def _pubsub(self, method: str, path: str, body: Any = None) -> None:
        status, text = http(
            method, f"http://{self.pubsub_host}/v1/projects/{self.project}/{path}", body
        )
        if status >= 300 and status != 409:
            raise StackError(f"pubsub {method} {path}: {status} {text[:300]!r}")

    def create_topics(self) -> None:
        for topic in TOPICS:
            self._pubsub("PUT", f"topics/{topic}", {})
        self._pubsub(
            "PUT",
            f"subscriptions/{DEAD_LETTER_SUBSCRIPTION}",
            {"topic": f"projects/{self.project}/topics/calendar-changes-dead-letter"},
        )
        self._pubsub(
            "PUT",
            f"subscriptions/{EVENTS_SUBSCRIPTION}",
            {
                "topic": f"projects/{self.project}/topics/meeting-events",
                "enableMessageOrdering": True,
            },
        )

    def create_worker_subscription(self) -> None:
        """Push subscription feeding the worker, shaped like the one Terraform makes."""
        topic = f"projects/{self.project}/topics/calendar-changes"
        self._pubsub(
            "PUT",
            f"subscriptions/{WORKER_SUBSCRIPTION}",
            {
                "topic": topic,
                "pushConfig": {"pushEndpoint": f"{self.function_urls['sync_worker']}/{topic}"},
                "ackDeadlineSeconds": 60,
                "enableMessageOrdering": True,
                "retryPolicy": {"minimumBackoff": "1s", "maximumBackoff": "10s"},
                "deadLetterPolicy": {
                    "deadLetterTopic": f"{topic}-dead-letter",
                    "maxDeliveryAttempts": 5,
                },
            },
        )

    def create_meet_events_subscription(self) -> None:
        """Push subscriptions from `workspace-events` (where the workspace emulator publishes
        Meet events, as Google does) to `meet_events`, and from `maintenance` (shard jobs)
        to `maintenance`, each with a dead letter, as in Terraform."""
        for function, topic, name, dead, ordered in (
            (
                "meet_events",
                "workspace-events",
                MEET_EVENTS_SUBSCRIPTION,
                MEET_DEAD_LETTER_SUBSCRIPTION,
                True,
            ),
            (
                "maintenance",
                "maintenance",
                MAINTENANCE_SUBSCRIPTION,
                MAINTENANCE_DEAD_LETTER_SUBSCRIPTION,
                False,
            ),
        ):
            if function not in self.function_urls:
                continue
            path = f"projects/{self.project}/topics/{topic}"
            self._pubsub("PUT", f"subscriptions/{dead}", {"topic": f"{path}-dead-letter"})
            self._pubsub(
                "PUT",
                f"subscriptions/{name}",
                {
                    "topic": path,
                    "pushConfig": {"pushEndpoint": f"{self.function_urls[function]}/{path}"},
                    "ackDeadlineSeconds": 60,
                    "enableMessageOrdering": ordered,
                    "retryPolicy": {"minimumBackoff": "1s", "maximumBackoff": "10s"},
                    # as Terraform: a completion job gives up before it is dead-lettered
                    "deadLetterPolicy": {
                        "deadLetterTopic": f"{path}-dead-letter",
                        "maxDeliveryAttempts": 10,
                    },
                },
            )

    # -- state -----------------------------------------------------------------------------------

    def reset_firestore(self) -> None:
        url = (
            f"http://{self.firestore_host}/emulator/v1/projects/{self.project}"
            "/databases/(default)/documents"
        )
        status, text = http("DELETE", url)
        if status >= 300:
            raise StackError(f"firestore reset: {status} {text[:200]!r}")

    @property
    def redirect_uri(self) -> str:
        """The connect function's callback: Google sends the browser back there."""
        return f"{self.function_urls['connect']}/oauth/callback"

    def register_oauth_client(self) -> None:
        """Register the product's OAuth client, with exactly its redirect URI, with the
        workspace emulator (as one does in Google's console). Done again after an emulator
        reset, which forgets clients."""
        if not self.workspace_url or "connect" not in self.function_urls:
            return
        client = {
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": self.oauth_secrets["OAUTH_CLIENT_SECRET"],
            "redirect_uris": [self.redirect_uri],
            "name": "meetsync (local)",
        }
        status, body = http("POST", f"{self.workspace_url}/_emulator/oauth/clients", client)
        if status >= 300:
            raise StackError(f"registering the OAuth client: {status} {body[:200]!r}")

    def seed_users(self, emails: Sequence[str] = DEMO_USERS) -> None:
        """Create demo users in the workspace emulator and register them in the product
        (for delegation); register the OAuth client (after a reset of the emulator)."""
        self.register_oauth_client()
        self.users = []
        with _env(self.function_env()):
            store = Store(firestore_client(self.project, "(default)"))
            for email in emails:
                status, body = http(
                    "POST", f"{self.workspace_url}/_emulator/users", {"email": email}
                )
                if status >= 300:
                    raise StackError(f"seeding {email}: {status} {body[:200]!r}")
                self.users.append(json.loads(body))
                store.put_user(User(email=email, auth_mode="delegation"))

    def describe(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "firestore_emulator_host": self.firestore_host,
            "pubsub_emulator_host": self.pubsub_host,
            "workspace_emulator": self.workspace_url,
            "functions": dict(self.function_urls),
            "users": list(self.users),
            # the functions' settings (local secrets included): `meetsync` runs the
            # product's services in-process with them (calendars resync, meetings show)
            "settings_env": self.function_env(),
            "logs": str(self.log_dir),
            "processes": {n: p.popen.pid for n, p in self.procs.items() if p.popen is not None},
            "started_in_seconds": round(self.started_in, 2),
        }

    def write_description(self, path: Path = LOCAL / "stack.json") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.describe(), indent=2) + "\n")
        return path


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def interrupt_once() -> list[int]:
    """Make SIGINT and SIGTERM raise KeyboardInterrupt, once; later ones are ignored, and
    appending to the returned list ignores every one from then on.

    make forwards its own SIGTERM to its child, so a killpg of `make dev` delivers two,
    and the second must not cut the stack's stop short. (A handler that set a
    threading.Event could deadlock: it may run while the main thread's Event.wait holds
    the Event's own lock.)"""
    interrupted: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if not interrupted:
            interrupted.append(signum)
            raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)
    return interrupted


def main(argv: Sequence[str] | None = None) -> int:
    """`make dev`: run the stack in the foreground until Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=LOCAL / "stack.json")
    parser.add_argument("--log-dir", type=Path, default=LOCAL / "logs")
    args = parser.parse_args(argv)
    interrupted = interrupt_once()
    stack = Stack(log_dir=args.log_dir)
    try:
        stack.start()  # stops whatever it started if it fails or is interrupted
    except StackError as exc:
        print(f"stack failed to start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    try:
        path = stack.write_description(args.out)
        print(f"local stack up in {stack.started_in:.1f}s; description in {path}")
        print(f"  firestore emulator   {stack.firestore_host}")
        print(f"  pubsub emulator      {stack.pubsub_host}")
        print(f"  workspace emulator   {stack.workspace_url}")
        for name, url in stack.function_urls.items():
            print(f"  {name:<20} {url}")
        for user in stack.users:
            print(f"  user                 {user['email']}")
        print(f"  logs                 {stack.log_dir}")
        print("Ctrl-C stops everything.", flush=True)
        while True:
            time.sleep(0.5)
            dead = [p.name for p in stack.procs.values() if not p.alive()]
            if dead:
                print(f"stopping: {', '.join(dead)} exited", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        return 0
    finally:
        interrupted.append(0)  # from here on every signal is ignored: the stop must finish
        stack.stop()
        print("local stack stopped", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
