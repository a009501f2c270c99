"""Run the whole platform locally: `python -m infra.run` (what `./platform up` calls).

Starts embedded PostgreSQL and Redis under `.data/` unless DATABASE_URL / REDIS_URL are
set, creates the databases and applies migrations, loads demo data on first start, serves
a development OIDC issuer, then supervises every process declared in infra/processes.py
(gateway, orders API, orders worker, outbox relay). Ctrl-C stops everything cleanly; data survives.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from infra.dev_issuer import DevIssuer
from infra.embedded import EmbeddedPostgres, EmbeddedRedis
from infra.processes import local_commands, local_ports, local_urls

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("PLATFORM_DATA_DIR", ROOT / ".data")).resolve()


def say(msg: str) -> None:
    print(f"[platform] {msg}", file=sys.stderr, flush=True)


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def processes(python: str) -> dict[str, list[str]]:
    """The local command of every process of infra/processes.py, on the ports the environment sets."""
    return local_commands(python, local_ports(os.environ))


def _wait_ready(url: str, timeout: float, procs: dict[str, subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, p in procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with code {p.returncode} during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s")


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    env = os.environ.copy()
    env.setdefault("PYTHONPATH", str(ROOT))
    pg = redis = None
    if not env.get("DATABASE_URL"):
        say(f"starting embedded PostgreSQL in {DATA / 'postgres'}")
        pg = EmbeddedPostgres(DATA / "postgres", _port("EMBEDDED_PG_PORT", 54329)).start()
        env["DATABASE_URL"] = pg.url
    if not env.get("REDIS_URL"):
        say(f"starting embedded Redis in {DATA / 'redis'}")
        redis = EmbeddedRedis(DATA / "redis", _port("EMBEDDED_REDIS_PORT", 63799)).start(persistent=True)
        env["REDIS_URL"] = redis.url
    jwks_port = _port("DEV_ISSUER_PORT", 8090)
    env.setdefault("OIDC_ISSUER", f"http://127.0.0.1:{jwks_port}/")
    env.setdefault("OIDC_JWKS_URL", f"http://127.0.0.1:{jwks_port}/.well-known/jwks.json")
    env.setdefault("OIDC_AUDIENCE", "partner-platform")
    ports = local_ports(env)
    for var, url in local_urls(ports).items():  # e.g. ORDERS_API_URL: where the gateway finds the orders API
        env.setdefault(var, url)
    gateway_url = f"http://127.0.0.1:{ports['gateway']}"
    env.setdefault("GATEWAY_PUBLIC_URL", gateway_url)
    env.setdefault("dramatiq_worker_timeout", "100")
    os.environ.update(env)

    procs: dict[str, subprocess.Popen[bytes]] = {}
    issuer_server = None

    def shutdown(code: int) -> None:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, p in procs.items():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop in time; killing it")
                p.kill()
        if issuer_server is not None:
            issuer_server.shutdown()
        if redis is not None:
            redis.stop()
        if pg is not None:
            pg.stop()
        say("stopped")
        sys.exit(code)

    try:
        from shared.bootstrap import bootstrap
        from shared.config import SERVICES, Settings

        settings = Settings()
        say("creating databases and applying migrations")
        asyncio.run(bootstrap(settings, SERVICES))
        demo = _demo(settings)
        issuer = DevIssuer.load_or_create(DATA / "dev-issuer", env["OIDC_ISSUER"], env["OIDC_AUDIENCE"])
        issuer_server = issuer.serve(port=jwks_port)
        for name, cmd in processes(sys.executable).items():
            # Own session: a terminal's Ctrl-C reaches only this supervisor, which stops each child through
            # its main process (Dramatiq's worker processes can hang when the whole group is signalled).
            procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
            say(f"started {name} (pid {procs[name].pid})")
        _wait_ready(f"{gateway_url}/readyz", 90, procs)
    except (Exception, KeyboardInterrupt) as exc:
        say(f"start-up failed: {exc}")
        shutdown(1)
        return

    from demo.orders import DEMO_ADMIN_EMAIL, DEMO_ADMIN_SUBJECT

    token = issuer.mint(DEMO_ADMIN_SUBJECT, email=DEMO_ADMIN_EMAIL, ttl=12 * 3600)
    integration = demo["integrations"][0]
    provider = demo["providers"][0]
    print(
        f"""
Partner platform is running.

  GraphQL (GraphiQL in the browser):  {gateway_url}/graphql
  Integrations REST:                   POST {gateway_url}/v1/orders
  Provider commission webhooks:        POST {gateway_url}/webhooks/providers/{provider["public_id"]}/commission
  Health / readiness:                  {gateway_url}/healthz  {gateway_url}/readyz

  Development login token (admin of "Demo Partner", valid 12 h; send as 'Authorization: Bearer <token>'):
{token}

  New token any time:   uv run python -m infra.dev_issuer token
  Demo API key of "{integration["name"]}":  {integration["api_key"]}
  Demo webhook secret of "{provider["name"]}":  {provider["webhook_secret"]}
  (all demo keys and secrets: {DATA / "demo.json"})

Press Ctrl-C to stop.
""",
        flush=True,
    )

    stop: dict[str, int | None] = {"code": None}

    def on_signal(signum: int, frame: object) -> None:
        stop["code"] = 0

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while stop["code"] is None:
        for name, p in procs.items():
            if p.poll() is not None:
                say(f"{name} exited unexpectedly with code {p.returncode}; stopping the platform")
                stop["code"] = 1
                break
        time.sleep(0.5)
    say("stopping")
    shutdown(stop["code"] or 0)


def _demo(settings: object) -> dict:
    """Loads demo data once; its keys (shown once by the API) are kept in .data/demo.json."""
    from demo.orders import demo_loaded, load_demo

    owner = settings.service_database_url("orders", "owner")  # type: ignore[attr-defined]
    path = DATA / "demo.json"
    if asyncio.run(demo_loaded(owner)) and path.exists():
        say("demo data already loaded")
        return json.loads(path.read_text())
    if asyncio.run(demo_loaded(owner)):
        raise RuntimeError(f"demo organisation exists but {path} is missing; remove {DATA} to start afresh")
    say("loading demo data (first start only)")
    result = asyncio.run(load_demo(owner, progress=lambda m: say(f"  {m}")))
    doc = {"org_id": str(result.org_id), "integrations": result.integrations, "providers": result.providers}
    path.write_text(json.dumps(doc, indent=2, default=str))
    path.chmod(0o600)
    return doc


if __name__ == "__main__":
    main()
