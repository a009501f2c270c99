"""`./platform test` runs the lint, format and type gates before pytest, and a finding fails it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _check(*paths: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        ["./platform", "check", *map(str, paths)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_test_command_runs_the_checks_before_pytest() -> None:
    script = (ROOT / "platform").read_text()
    test_branch = script[script.index("\n  test)") : script.index("\n  check)")]
    assert test_branch.index("run_checks .") < test_branch.index("pytest")
    assert "set -euo pipefail" in script  # a failing check stops the command


@pytest.mark.parametrize(
    ("source", "finding"),
    [
        ("import os\n\n\ndef f() -> int:\n    return 1\n", "F401"),  # an unused import (ruff check)
        ("def f() -> int:\n    return 1\n\n\n\n\n\n", "would be reformatted"),  # not formatted (ruff format)
        ('def f() -> int:\n    return "one"\n', "Incompatible return value"),  # a type error (mypy)
    ],
)
def test_a_finding_fails_the_checks(tmp_path: Path, source: str, finding: str) -> None:
    bad = tmp_path / "bad_module.py"
    bad.write_text(source)
    result = _check(bad)
    assert result.returncode != 0 and finding in result.stdout + result.stderr, result.stdout + result.stderr


def test_clean_code_passes_the_checks(tmp_path: Path) -> None:
    good = tmp_path / "good_module.py"
    good.write_text('"""A clean module."""\n\n\ndef f() -> int:\n    return 1\n')
    result = _check(good)
    assert result.returncode == 0, result.stdout + result.stderr
