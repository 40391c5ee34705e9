"""Session-wide fixtures: the real Firestore and Pub/Sub emulators, started once.

Tiers: tests/unit (no I/O), tests/integration (real emulators), tests/e2e (the
whole local stack over HTTP and Pub/Sub). Emulators start once per session on
free ports; state is reset between tests, never by restarting.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devstack.driver import Env
from devstack.stack import Stack, http
from tests.chaos.runner import CHAOS_ENV
from tests.security.leaks import assert_no_leaks, session_secrets


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Firestore + Pub/Sub emulators; e2e fixtures add the workspace emulator and functions.

    At the end of the session every log of the stack is scanned for the credentials the
    workspace emulator issued and the secret settings: one found fails the session, naming
    the file and the kind of secret (never the secret)."""
    stack = Stack(
        with_workspace=False,
        with_functions=False,
        log_dir=tmp_path_factory.mktemp("stack-logs"),
        # short waits, overlaps, retries and leases, so conferences outlast the wait,
        # rate limits answer after a short (still real) backoff, and the fault suite's
        # orphaned leases free in seconds
        extra_env=dict(CHAOS_ENV),
    )
    stack.start()
    saved = {k: os.environ.get(k) for k in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST")}
    os.environ["FIRESTORE_EMULATOR_HOST"] = stack.firestore_host
    os.environ["PUBSUB_EMULATOR_HOST"] = stack.pubsub_host
    try:
        yield stack
        # listed while the workspace emulator still runs; scanned once every process has
        # stopped and flushed its log
        secrets = session_secrets(stack)
    finally:
        stack.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert_no_leaks(stack.log_dir, secrets)


@pytest.fixture
def emulators(local_stack: Stack) -> Stack:
    """The emulators with Firestore emptied for this test."""
    local_stack.reset_firestore()
    return local_stack


@pytest.fixture(scope="session")
def full_stack(local_stack: Stack) -> Stack:
    """The whole local stack: emulators, the workspace emulator and every function."""
    local_stack.add_workspace()
    local_stack.add_functions()
    return local_stack


@pytest.fixture
def stack(full_stack: Stack) -> Stack:
    """The whole stack with Firestore and the workspace emulator reset and users re-seeded."""
    full_stack.reset_firestore()
    status, body = http("POST", f"{full_stack.workspace_url}/_emulator/reset", {})
    assert status < 300, body
    full_stack.seed_users()
    return full_stack


@pytest.fixture
def env(stack: Stack) -> Iterator[Env]:
    """The per-test view of the whole stack (tests/e2e, tests/security)."""
    e = Env(stack)
    try:
        yield e
    finally:
        e.close()
