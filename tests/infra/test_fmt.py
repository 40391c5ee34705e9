"""`terraform fmt -check` holds for infra/, and it does catch a mis-formatted file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parents[2] / "infra"


def _fmt_check(directory: Path) -> subprocess.CompletedProcess[str]:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.fail("terraform is not on PATH: install Terraform >= 1.5 (see infra/README.md)")
    return subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-no-color", str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_infra_is_formatted() -> None:
    result = _fmt_check(INFRA)
    assert result.returncode == 0, f"run `terraform fmt -recursive infra`:\n{result.stdout}"


def test_fmt_check_catches_a_misformatted_file(tmp_path: Path) -> None:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns(".terraform", ".build"))
    outputs = copy / "outputs.tf"
    outputs.write_text(
        outputs.read_text(encoding="utf-8").replace("  value       =", "  value =", 1),
        encoding="utf-8",
    )
    result = _fmt_check(copy)
    assert result.returncode != 0
    assert "outputs.tf" in result.stdout
