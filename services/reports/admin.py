"""Operator commands of the reports service.

    python -m services.reports.admin backfill     # fill the reports store of an existing deployment
    python -m services.reports.admin encrypt-secrets   # MongoDB URIs under the first encryption key

`backfill`: the reports store is fed by events only and never opens another service's database, so the
backfill is the sources republishing what they hold: the orders service's `publish-organisations` and
`publish-orders` (every organisation's settings, every order as `order.created` with its current state) and
the insights service's `publish-business-events` (every stored business event of its 90-day raw window).
Run it where those services' settings are (as `./platform up`'s checkout is); the relays and the reports
worker do the rest. Everything is recorded once however often it is republished (orders by their newest
state, business events by their own `event_id`), so running it twice is harmless; the other subscribers
(the insights service) dedupe the same way.

What a backfill cannot bring back, because no source republishes it: the commission ledger's past changes
(orders republish their state, not their history), `customer.created` of customers without orders or business
events, and FX rates loaded before the reports service existed (the orders service has no republish command
for them yet: `load-fx-rates` publishes new and changed rates only).

`encrypt-secrets`: the MongoDB connections' URIs (they carry credentials) re-encrypted under the first key of
`SECRETS_ENCRYPTION_KEYS` (shared/secret_rotation.py; run beside the orders and insights services' own
`encrypt-secrets` when a key rotates).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from typing import Any

from shared.config import get_settings
from shared.local import require_database
from shared.secret_rotation import StoredSecrets, rotate_stored
from shared.secrets import SecretKeyError

STEPS = (
    ("services.orders.admin", "publish-organisations"),
    ("services.orders.admin", "publish-orders"),
    ("services.insights.admin", "publish-business-events"),
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.reports.admin",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("backfill", help="have the orders and insights services republish what the reports store keeps")
    sub.add_parser("encrypt-secrets", help="re-encrypt the MongoDB URIs under the first key")
    return p


# Where the reports service keeps credentials (migration 010).
STORED_SECRETS = (StoredSecrets("mongo_connections", ("org_id", "id"), ("uri_secret",)),)


def backfill() -> dict[str, Any]:
    """Runs each source's republish command in turn (each as its own process, with its own settings)."""
    out: dict[str, Any] = {}
    for module, command in STEPS:
        done = subprocess.run([sys.executable, "-m", module, command], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{module} {command} failed: {done.stderr.strip()}")
        out[command] = json.loads(done.stdout)
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    require_database()
    try:
        if args.cmd == "encrypt-secrets":
            owner_url = get_settings().service_database_url("reports", "owner")
            result: Any = asyncio.run(rotate_stored(owner_url, STORED_SECRETS))
        else:
            result = backfill()
    except SecretKeyError as exc:  # a configuration problem: named, without a traceback or the key
        print(f"error: SECRETS_ENCRYPTION_KEYS: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
