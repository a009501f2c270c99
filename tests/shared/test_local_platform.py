"""Operator commands find the embedded servers of `./platform up`, or say exactly what to set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _admin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.orders.admin", *args],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _bare_env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("DATABASE_URL", "REDIS_URL"))}
    env["PLATFORM_DATA_DIR"] = str(data)
    return env


def test_without_a_platform_the_command_says_what_to_set(tmp_path: Path) -> None:
    result = _admin(_bare_env(tmp_path / "empty"), "publish-organisations")
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr and "./platform up" in result.stderr
    assert "Traceback" not in result.stderr


def test_beside_a_running_platform_the_command_finds_its_embedded_server(servers: None, tmp_path: Path) -> None:
    url = os.environ.get("DATABASE_URL", "")
    if "127.0.0.1" not in url or "@" not in url:
        pytest.fail("the test harness's embedded PostgreSQL is expected here")
    port = url.rsplit(":", 1)[1].split("/")[0]
    data = tmp_path / "data"
    (data / "postgres").mkdir(parents=True)  # what ./platform up leaves behind
    env = {**_bare_env(data), "EMBEDDED_PG_PORT": port}
    env["DB_PREFIX"] = os.environ.get("DB_PREFIX", "")
    result = _admin(env, "publish-organisations")
    assert result.returncode == 0, result.stderr
    assert '"published"' in result.stdout
