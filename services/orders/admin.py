"""Operator commands: provision organisations, providers and products.

Partners are onboarded by the operator (the dashboard starts at an existing
organisation); everything runs through the service layer, under row-level security.

    python -m services.orders.admin create-organisation --name "Acme" --admin-email ops@acme.example
    python -m services.orders.admin add-category --org ORG --name Broadband
    python -m services.orders.admin add-provider --org ORG --name "FibreNet"
    python -m services.orders.admin add-product --org ORG --integration ID --category ID --provider ID \\
        --name "Fibre 500" --rate 25.00 --currency GBP
    python -m services.orders.admin add-catalogue-product --org ORG --provider ID --category ID \
        --name "Fibre 900" --rate 30.00 --currency GBP   # admins then add it to integrations (GraphQL)
    python -m services.orders.admin invite-provider-user --org ORG --provider prv_... --email staff@fibrenet.example
    python -m services.orders.admin set-commission --org ORG --order ID --provider prv_... --status SUCCESSFUL \
        [--amount 25.00]   # acting for the provider: the ledger says so (source `operator`)
    python -m services.orders.admin publish-organisations   # backfill other services' copies of settings
    python -m services.orders.admin publish-orders [--batch 1000]   # backfill other services' copies of orders
    python -m services.orders.admin encrypt-secrets   # encrypt legacy plaintext, re-encrypt with the first key
    python -m services.orders.admin load-fx-rates --file eurofxref-hist.csv [--skip-unknown-currencies]
        # ECB euro reference rates: upserted, new and changed ones published (services/orders/service/fx_rates.py)

Provider webhook secrets are stored encrypted with SECRETS_ENCRYPTION_KEYS (shared/secrets.py).
`encrypt-secrets` is both the migration step (plaintext written before encryption) and the rotation
step: with SECRETS_ENCRYPTION_KEYS=NEW,OLD it re-encrypts every secret with NEW, after which OLD can go.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pydantic import BaseModel, EmailStr, ValidationError

from services.orders.domain.commission import CommStatus
from services.orders.domain.settings import SettingsUpdate
from services.orders.repository import catalogue, members, organisations
from services.orders.repository import orders as orders_repo
from services.orders.service import commission, fx_rates, organisation
from services.orders.service.audit import AuditAction, record_operator
from shared.config import get_settings
from shared.db import create_pool, system_tx, tenant_tx
from shared.errors import DomainError, ErrorCode
from shared.local import require_database
from shared.messaging import contracts
from shared.secrets import SecretKeyError, secret_box


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m services.orders.admin",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("create-organisation")
    o.add_argument("--name", required=True)
    o.add_argument("--admin-email", required=True)
    o.add_argument("--admin-subject", help="the admin's OIDC subject; otherwise bound at first sign-in by email")
    o.add_argument("--currency", default="GBP")
    o.add_argument("--time-zone", default="Europe/London")
    c = sub.add_parser("add-category")
    c.add_argument("--org", required=True, type=uuid.UUID)
    c.add_argument("--name", required=True)
    v = sub.add_parser("add-provider")
    v.add_argument("--org", required=True, type=uuid.UUID)
    v.add_argument("--name", required=True)
    d = sub.add_parser("add-product", help="a product directly in one integration")
    for name in ("org", "integration", "category", "provider"):
        d.add_argument(f"--{name}", required=True, type=uuid.UUID)
    g = sub.add_parser(
        "add-catalogue-product", help="a product of the provider catalogue, which admins add to integrations"
    )
    for name in ("org", "provider", "category"):
        g.add_argument(f"--{name}", required=True, type=uuid.UUID)
    for q in (d, g):
        q.add_argument("--name", required=True)
        q.add_argument("--rate", required=True)
        q.add_argument("--currency", required=True)
        q.add_argument(
            "--journey-type",
            choices=("embedded", "affiliate"),
            default="embedded",
            help="an embedded journey or an affiliate link (orders of these often wait PENDING longer)",
        )
        q.add_argument("--success", help="what counts as success for this product, e.g. 'account opened'")
    u = sub.add_parser(
        "invite-provider-user",
        help="invite a provider's staff member: they update the commission of that provider's orders only",
    )
    u.add_argument("--org", required=True, type=uuid.UUID)
    u.add_argument("--provider", required=True, help="the provider's id or public id (prv_...)")
    u.add_argument("--email", required=True)
    m = sub.add_parser(
        "set-commission", help="confirm (or correct) a commission acting for the order's provider, by hand"
    )
    m.add_argument("--org", required=True, type=uuid.UUID)
    m.add_argument("--order", required=True, type=uuid.UUID)
    m.add_argument("--provider", required=True, help="the provider acted for: its id or public id (prv_...)")
    m.add_argument("--status", required=True, choices=[s.value for s in CommStatus if s is not CommStatus.NA])
    m.add_argument("--amount", help="a corrected commission amount, in the order's currency")
    sub.add_parser(
        "encrypt-secrets",
        help="encrypt plaintext provider secrets and re-encrypt every secret with the first key (rotation)",
    )
    sub.add_parser(
        "publish-organisations",
        help="republish every organisation's settings (backfills the copies other services keep)",
    )
    b = sub.add_parser(
        "publish-orders",
        help="republish every order as order.created with its current state (backfills the insights copy)",
    )
    b.add_argument("--batch", type=int, default=1000, help="orders per transaction (1 to 10000)")
    f = sub.add_parser(
        "load-fx-rates",
        help="load the ECB's euro reference rates (eurofxref-hist.csv layout); publish the new and changed ones",
    )
    f.add_argument("--file", required=True, type=Path, help="a CSV in the ECB layout: Date,USD,JPY,...")
    f.add_argument(
        "--skip-unknown-currencies",
        action="store_true",
        help="leave out columns of currencies the platform does not accept (the ECB file has BGN, ISK, ...)",
    )
    return p


async def publish_orders(owner_url: str, batch: int) -> dict[str, int]:
    """Appends `order.created` with the current state of every order to the outbox, `batch` orders per
    transaction (the relay publishes each committed batch while the next is written). Runs as the owner:
    every organisation at once. Consumers record each order once whatever they already had (the insights
    service keeps the newest state and keys its funnel steps by order), so running it twice is harmless."""
    if not 1 <= batch <= 10_000:
        raise DomainError(ErrorCode.INVALID_INPUT, "must be from 1 to 10000", "batch")
    owner = await create_pool(owner_url, max_size=1, wait=False)
    published, batches = 0, 0
    after: tuple[uuid.UUID, uuid.UUID] | None = (uuid.UUID(int=0), uuid.UUID(int=0))
    try:
        while after is not None:
            async with system_tx(owner) as conn:
                count, after = await orders_repo.republish_batch(conn, after, batch, contracts.ORDER_CREATED)
            published += count
            batches += 1 if count else 0
    finally:
        await owner.close()
    return {"published": published, "batches": batches}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = get_settings()
    if args.cmd == "encrypt-secrets":
        return await encrypt_secrets(settings.service_database_url("orders", "owner"))
    if args.cmd == "load-fx-rates":
        loaded = await fx_rates.load_file(
            settings.service_database_url("orders", "owner"),
            args.file,
            skip_unknown_currencies=args.skip_unknown_currencies,
        )
        return asdict(loaded)
    if args.cmd == "publish-orders":
        return await publish_orders(settings.service_database_url("orders", "owner"), args.batch)
    if args.cmd == "publish-organisations":
        # Every organisation at once: the owner role, which row-level security does not restrict.
        owner = await create_pool(settings.service_database_url("orders", "owner"), max_size=1, wait=False)
        try:
            async with system_tx(owner) as conn:
                return {"published": await organisation.republish_all(conn)}
        finally:
            await owner.close()
    pool = await create_pool(settings.service_database_url("orders"), max_size=1, wait=False)
    try:
        if args.cmd == "create-organisation":
            SettingsUpdate.model_validate(
                {"name": args.name, "baseCurrency": args.currency, "timeZone": args.time_zone}
            )  # validates
            org_id = uuid.uuid4()
            async with tenant_tx(pool, org_id) as conn:
                org = await organisation.create(
                    conn, org_id, args.name, base_currency=args.currency, time_zone=args.time_zone
                )
                admin = await members.add(conn, org_id, args.admin_email, "admin", subject=args.admin_subject)
            return {"organisation_id": str(org["id"]), "admin_member_id": str(admin["id"])}
        async with tenant_tx(pool, args.org) as conn:
            await organisations.get(conn, args.org)
            if args.cmd == "add-category":
                row = await catalogue.create_category(conn, args.org, args.name)
                return {"category_id": str(row["id"])}
            if args.cmd == "add-provider":
                row = await catalogue.create_provider(conn, args.org, args.name)
                return {
                    "provider_id": str(row["id"]),
                    "public_id": row["public_id"],
                    "webhook_secret": row["webhook_secret"],
                    "webhook_path": f"/webhooks/providers/{row['public_id']}/commission",
                }
            if args.cmd == "invite-provider-user":
                return await _invite_provider_user(conn, args, settings.gateway_public_url)
            if args.cmd == "set-commission":
                return await _set_commission(conn, args)
            try:
                rate = Decimal(args.rate)
            except InvalidOperation:
                raise DomainError(ErrorCode.INVALID_INPUT, "must be a decimal amount", "rate") from None
            if rate < 0 or rate != rate.quantize(Decimal("0.01")):
                raise DomainError(
                    ErrorCode.INVALID_INPUT, "must be a non-negative amount with at most 2 decimals", "rate"
                )
            SettingsUpdate.model_validate({"baseCurrency": args.currency})
            if args.cmd == "add-catalogue-product":
                if not args.name.strip() or len(args.name) > 200:
                    raise DomainError(ErrorCode.INVALID_INPUT, "must be 1 to 200 characters", "name")
                entry = await catalogue.create_catalogue_product(
                    conn,
                    args.org,
                    provider_id=args.provider,
                    category_id=args.category,
                    name=args.name,
                    commission_rate=str(rate),
                    currency=args.currency,
                    journey_type=args.journey_type,
                    success_definition=args.success,
                )
                return {"catalogue_product_id": str(entry["id"])}
            row = await catalogue.create_product(
                conn,
                args.org,
                integration_id=args.integration,
                category_id=args.category,
                provider_id=args.provider,
                name=args.name,
                commission_rate=str(rate),
                currency=args.currency,
                journey_type=args.journey_type,
                success_definition=args.success,
            )
            return {"product_id": str(row["id"])}
    finally:
        await pool.close()


async def _invite_provider_user(conn: Any, args: argparse.Namespace, public_url: str) -> dict[str, Any]:
    try:
        email = str(_Email.model_validate({"email": args.email}).email)
    except ValidationError:
        raise DomainError(ErrorCode.INVALID_INPUT, "is not an email address", "email") from None
    member = await organisation.invite_provider_user(
        conn, args.org, args.provider, email, sign_in_url=public_url.rstrip("/") + f"/?org={args.org}"
    )
    change = {"email": member["email"], "role": "provider", "provider": str(member["provider_id"])}
    await record_operator(conn, args.org, AuditAction.MEMBER_INVITED, member["id"], change)
    return {"member_id": str(member["id"]), "provider_id": str(member["provider_id"]), "status": member["status"]}


async def _set_commission(conn: Any, args: argparse.Namespace) -> dict[str, Any]:
    provider = await catalogue.find_provider(conn, args.org, args.provider)
    if provider is None:
        raise DomainError(ErrorCode.NOT_FOUND, "provider not found", "provider")
    amount = None
    if args.amount is not None:
        try:
            amount = Decimal(args.amount)
        except InvalidOperation:
            raise DomainError(ErrorCode.INVALID_INPUT, "must be a decimal amount", "amount") from None
        if not amount.is_finite() or not 0 <= amount < Decimal("1e12") or amount != amount.quantize(Decimal("0.01")):
            raise DomainError(
                ErrorCode.INVALID_INPUT, "must be a non-negative amount below 10^12 with at most 2 decimals", "amount"
            )
    order, changed = await commission.set_by_hand(
        conn,
        args.org,
        args.order,
        CommStatus(args.status),
        amount,
        "operator",
        provider_id=provider["id"],
        source="operator",
    )
    if changed:
        change = {"commStatus": args.status, "provider": str(provider["id"])}
        if amount is not None:
            change["amount"] = str(amount)
        await record_operator(conn, args.org, AuditAction.COMMISSION_SET_BY_HAND, order["id"], change)
    return {"order_id": str(order["id"]), "comm_status": order["comm_status"], "changed": changed}


class _Email(BaseModel):
    email: EmailStr


async def encrypt_secrets(owner_url: str) -> dict[str, int]:
    """Every provider secret under the current (first) key, in one transaction: all or nothing, so a key
    missing for one row leaves every row as it was. Runs as the owner: every organisation at once."""
    box = secret_box()  # before connecting: a malformed key fails without touching the database
    owner = await create_pool(owner_url, max_size=1, wait=False)
    counts = {"encrypted": 0, "reencrypted": 0}
    try:
        async with system_tx(owner) as conn:
            for provider_id, stored in await catalogue.stored_provider_secrets(conn):
                counts["reencrypted" if box.is_encrypted(stored) else "encrypted"] += 1
                await catalogue.store_provider_secret(conn, provider_id, box.rotate(stored))
    finally:
        await owner.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    require_database()
    try:
        result = asyncio.run(run(args))
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"error: {'.'.join(map(str, first['loc']))}: {first['msg']}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"error: {exc.field or ''}: {exc.message}", file=sys.stderr)
        return 2
    except SecretKeyError as exc:  # a configuration problem: named, without a traceback or the key
        print(f"error: SECRETS_ENCRYPTION_KEYS: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # asyncpg integrity errors: unknown ids and the like
        print(f"error: {type(exc).__name__}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
