"""The layer contract (pyproject `[tool.importlinter]`) passes on the code and bites on a
forbidden import: a mutated copy of the sources must fail `lint-imports`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = str(Path(sys.executable).with_name("lint-imports"))
SOURCES = (
    "shared",
    "functions",
    "emulator",
    "devstack",
    "meetsync_cli",
    "main.py",
    "pyproject.toml",
)


def lint(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT, "--no-cache"], cwd=where, capture_output=True, text=True, timeout=120, check=False
    )


def copy_sources(tmp_path: Path) -> Path:
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, tmp_path / name)
    return tmp_path


def test_the_code_keeps_its_layers() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (
            "shared/domain/lease.py",
            "import shared.store.firestore",
            "domain imports only the standard library",
        ),
        (
            "shared/services/outbox.py",
            "from shared.store import pubsub",
            "services import the domain, other services and logs, never an adapter",
        ),
        (
            "functions/webhook.py",
            "from shared.store.firestore import Store",
            "entry points import services, http, wiring and logs",
        ),
        (
            "emulator/clock.py",
            "import shared.domain.models",
            "the emulator imports nothing of the product",
        ),
        (
            "shared/wiring.py",
            "import meetsync_cli.app",
            "the operator CLI is imported by no product layer",
        ),
    ],
)
def test_a_forbidden_import_fails_the_lint(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    copy = copy_sources(tmp_path)
    target = copy / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    result = lint(copy)
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout, result.stdout
