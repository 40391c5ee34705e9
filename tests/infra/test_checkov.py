"""Static security scan of infra/ with checkov: no failed check.

checkov's own pins clash with the project's, so it lives in its own virtualenv,
`.venv-checkov`, made by `make setup` from requirements-checkov.txt. Every
accepted finding is a `#checkov:skip=CKV_...:reason` line in the resource.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"


def _scan(directory: Path, checkov: Path = CHECKOV) -> dict[str, Any]:
    if not checkov.exists():
        pytest.fail(f"{checkov} is missing: run `make setup` to create .venv-checkov")
    result = subprocess.run(
        [
            str(checkov),
            "-d",
            str(directory),
            "--framework",
            "terraform",
            "--quiet",
            "--compact",
            "--skip-download",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        # No network: never ask the Prisma Cloud platform for anything.
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE"},
    )
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov gave no report (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return report


def _failed(report: dict[str, Any]) -> list[str]:
    checks = report.get("results", {}).get("failed_checks", [])
    return [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}" for c in checks
    ]


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return _scan(INFRA)


def test_checkov_finds_nothing(report: dict[str, Any]) -> None:
    # With --quiet, a clean scan's report has no "results" at all; a dirty one lists failures.
    assert _failed(report) == []
    assert report.get("summary", {}).get("passed", 0) > 0


def test_every_skip_is_justified_on_its_own_line() -> None:
    for path in INFRA.glob("*.tf"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "checkov:skip" in line:
                assert re.fullmatch(r"\s*#checkov:skip=CKV2?_[A-Z0-9_]+:\S.{20,}", line), (
                    f"{path.name}:{number}: skip without a reason: {line.strip()}"
                )


def test_checkov_catches_an_unskipped_finding(tmp_path: Path) -> None:
    copy = tmp_path / "infra"
    copy.mkdir()
    source = (INFRA / "source.tf").read_text(encoding="utf-8")
    (copy / "source.tf").write_text(
        source.replace('public_access_prevention    = "enforced"', "").replace(
            "#checkov:skip=CKV_GCP_62", "# no skip CKV_GCP_62"
        ),
        encoding="utf-8",
    )
    failed = _failed(_scan(copy))
    assert any(f.startswith("CKV_GCP_114 ") for f in failed), failed
    assert any(f.startswith("CKV_GCP_62 ") for f in failed), failed


def test_a_missing_checkov_venv_fails_and_names_make_setup(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="make setup"):
        _scan(INFRA, tmp_path / "bin" / "checkov")
