"""Scan log files for secrets: credentials the workspace emulator issued, secret settings.

The emulator's record (`GET /_emulator/secrets`) covers every access, refresh and channel
token and signed JWT it issued, and, since Google sign-in, every authorization code
(listed with the refresh tokens) and ID token (with the signed JWTs); any kind it adds
later is scanned too. Secrets only a test sees (the connect flow's browser cookie, say)
are added with `remember`.

Used at the end of the test session (tests/conftest.py) and by tests/security. Every
secret is looked for as is and percent-encoded (as it would appear in a logged URL or
form body), all at once: the secrets become one regular expression shaped like a trie,
so a scan is one pass over each file however many thousands of tokens were issued.
A finding names the file and the kind of secret, never the secret itself.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from devstack.stack import Stack, http
from shared.settings import Settings

MIN_LENGTH = 8
"""Shorter strings are not credentials anyone issues here and would match by chance."""
MAX_PROBE = 64
"""Longer secrets are looked for by their last 64 characters (see `_forms`)."""
Trie = dict[str, Any]


@dataclass(frozen=True, order=True)
class Leak:
    """`kind` of secret found in `path`, `count` times (the secret is deliberately absent)."""

    path: Path
    kind: str
    count: int

    def __str__(self) -> str:
        return f"{self.path.name}: {self.count} x {self.kind}"


class SecretLeak(AssertionError):
    """Secrets were written to logs."""


def _forms(secret: str) -> set[str]:
    """What to look for: the secret as is and percent-encoded, each cut to its last
    `MAX_PROBE` characters (a JWT's signature: as telling, and a far smaller expression)."""
    return {form[-MAX_PROBE:] for form in (secret, quote(secret, safe=""))}


def _pattern(node: Trie) -> str:
    """The alternation of every word below `node`; chains of single letters are literal,
    so recursion happens only at branches."""
    branches = []
    for first in sorted(k for k in node if k):
        chain, child = re.escape(first), node[first]
        while len(child) == 1 and "" not in child:
            ((letter, child),) = child.items()
            chain += re.escape(letter)
        branches.append(chain + _pattern(child))
    if not branches:
        return ""
    end = "" in node
    if len(branches) == 1 and not end:
        return branches[0]
    group = "(?:" + "|".join(branches) + ")"
    return group + "?" if end else group


def matcher(words: Iterable[str]) -> re.Pattern[str]:
    """One regular expression matching any of `words` (each match is a whole word)."""
    trie: Trie = {}
    for word in words:
        node = trie
        for letter in word:
            node = node.setdefault(letter, {})
        node[""] = {}
    if not trie:
        return re.compile(r"(?!)")  # matches nothing
    return re.compile(_pattern(trie))


def find_leaks(paths: Iterable[Path], secrets: Mapping[str, Iterable[str]]) -> list[Leak]:
    """Every (file, kind) where one of `secrets` (kind -> values) appears."""
    kind_of: dict[str, str] = {}
    for kind, values in secrets.items():
        for value in values:
            if len(value) >= MIN_LENGTH:
                kind_of.update(dict.fromkeys(_forms(value), kind))
    pattern = matcher(kind_of)
    leaks = []
    for path in sorted(paths):
        text = path.read_bytes().decode("latin-1")  # lossless; every secret is ASCII
        found = Counter(kind_of[m.group()] for m in pattern.finditer(text))
        leaks += [Leak(path, kind, count) for kind, count in sorted(found.items())]
    return leaks


_REMEMBERED: dict[str, set[str]] = {}
"""Secrets tests met on the way (kind -> values), scanned with the emulator's."""


def remember(kind: str, *values: str) -> None:
    """Have the session's scan (and `session_secrets`) look for these too."""
    _REMEMBERED.setdefault(kind, set()).update(v for v in values if v)


def log_files(log_dir: Path) -> list[Path]:
    return sorted(p for p in log_dir.rglob("*") if p.is_file())


def session_secrets(stack: Stack) -> dict[str, list[str]]:
    """What must never be logged: every credential the workspace emulator issued in this
    session (if it runs) and the secret settings set for the functions or this process."""
    secrets: dict[str, list[str]] = {}
    if stack.workspace_url and "workspace" in stack.procs:
        status, raw = http("GET", f"{stack.workspace_url}/_emulator/secrets")
        if status != 200:
            raise RuntimeError(f"could not list the workspace emulator's secrets: {status}")
        secrets.update(json.loads(raw))
    env = {**os.environ, **stack.function_env()}
    for name in sorted(Settings.secret_env_names()):
        if env.get(name):
            secrets[f"env {name}"] = [env[name]]
    for kind, values in sorted(_REMEMBERED.items()):
        secrets[kind] = sorted(values)
    return secrets


def assert_no_leaks(log_dir: Path, secrets: Mapping[str, Iterable[str]]) -> None:
    """Raise `SecretLeak` naming each file and kind of secret found (never the secret)."""
    leaks = find_leaks(log_files(log_dir), secrets)
    if leaks:
        found = "; ".join(map(str, leaks))
        raise SecretLeak(f"secrets written to the logs in {log_dir}: {found}")
