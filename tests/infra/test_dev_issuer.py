"""Development tokens match the running platform wherever the command runs from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt

ROOT = Path(__file__).resolve().parents[2]


def _token(cwd: Path, env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "infra.dev_issuer", "token", *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


def test_token_uses_the_platforms_issuer_url_and_keys_from_any_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("OIDC_ISSUER", "OIDC_JWKS_URL")}
    env.update(PLATFORM_DATA_DIR=str(data), DEV_ISSUER_PORT="9999")
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    first = _token(elsewhere, env)
    second = _token(tmp_path, env, "--user", "member")
    header1, header2 = jwt.get_unverified_header(first), jwt.get_unverified_header(second)
    assert header1["kid"] == header2["kid"]  # one key pair, in the platform's data folder
    assert sorted(p.name for p in (data / "dev-issuer").glob("*.pem")) == [f"{header1['kid']}.pem"]
    assert not (elsewhere / ".data").exists()
    claims = jwt.decode(first, options={"verify_signature": False})
    assert claims["iss"] == "http://127.0.0.1:9999/" and claims["sub"] == "dev|admin"
    assert jwt.decode(second, options={"verify_signature": False})["sub"] == "dev|admin-member"
