"""Both layers of tenancy in the orders database.

1. Row-level security: the application role sees, writes and changes only rows of the
   organisation set for the transaction (`app.org_id`), and nothing without one. The
   tables are enumerated from the catalogue, so a new table cannot slip through.
2. Explicit filters: every repository read (and the lookups behind writes) names the
   organisation itself, so it stays correct even on a connection that bypasses RLS (the
   owner pool here).
3. The SECURITY DEFINER functions are the only cross-tenant doors, and PUBLIC cannot open them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from services.orders.domain.commission import CommStatus, Status
from services.orders.domain.filters import CustomerFilter, OrderFilter
from services.orders.repository import audit, catalogue, customers, members, orders, organisations
from services.orders.service import commission, custom_fields, teams
from services.orders.service import customers as customer_service
from services.orders.service import orders as order_service
from services.orders.service import organisation as organisation_service
from shared.db import tenant_tx
from shared.errors import NotFound
from shared.messaging.contracts import SEGMENT_MEMBERS_CHANGED, Event
from shared.messaging.outbox import first_delivery
from shared.service import segment_copies
from tests.factories import Tenant, create_order

DEFINER_FUNCTIONS = {
    "resolve_api_key",
    "resolve_provider",
    "resolve_memberships",
    "outbox_claim",
    "outbox_mark_sent",
    # The relay's housekeeping (shared/sql/outbox_housekeeping.sql): one number, and deleting published rows.
    "outbox_lag_seconds",
    "outbox_prune",
}


@dataclass
class Seeded:
    tenant: Tenant
    order_ids: list[uuid.UUID]
    customer_ids: list[uuid.UUID]
    paid_order_id: uuid.UUID
    email: str
    member_ids: list[uuid.UUID]
    admin_member_id: uuid.UUID


async def _seed(pool: asyncpg.Pool, owner_pool: asyncpg.Pool, t: Tenant) -> Seeded:
    """Rows for this organisation in every organisation-scoped table."""
    email = f"buyer-{t.org_id.hex[:8]}@example.com"
    paid = await create_order(pool, t, status="SUCCESSFUL", email=email)
    pending = await create_order(pool, t, status="PENDING", product="App card")
    async with tenant_tx(pool, t.org_id) as conn:
        outcome = await commission.apply_provider_webhook(
            conn,
            t.org_id,
            t.provider["id"],
            f"wh-{uuid.uuid4().hex}",
            {"order_id": str(pending["id"]), "sequence": 1, "status": "SUCCESSFUL"},
        )
        assert outcome == "applied"
        assert await first_delivery(conn, "rls-test", uuid.uuid4(), t.org_id) is True
        await audit.append(
            conn, t.org_id, actor="user:rls-test", request_id=None, action="settings.updated", target=None, change={}
        )
        await catalogue.create_catalogue_product(
            conn,
            t.org_id,
            provider_id=t.provider["id"],
            category_id=t.categories["Broadband"],
            name="Catalogue fibre",
            commission_rate="20.00",
            currency="GBP",
        )
        team = await teams.create(conn, t.org_id, "RLS team")
        admin = await members.by_subject(conn, t.org_id, t.admin_subject)
        assert admin is not None
        await teams.add_member(conn, t.org_id, team["id"], admin["id"])
        await custom_fields.define(conn, t.org_id, entity="customer", name="RLS field", type="text", choices=None)
        change = {"segment_id": str(uuid.uuid4()), "version": 1, "added": [str(paid["customer_id"])], "removed": []}
        segment_event = Event(uuid.uuid4(), SEGMENT_MEMBERS_CHANGED, t.org_id, datetime.now(UTC), 1, change)
        await segment_copies.on_members_changed(conn, segment_event)  # the copy of segment membership
    rows = await owner_pool.fetch("SELECT id, role, subject FROM members WHERE org_id = $1", t.org_id)
    return Seeded(
        tenant=t,
        order_ids=[paid["id"], pending["id"]],
        customer_ids=[r["id"] for r in await owner_pool.fetch("SELECT id FROM customers WHERE org_id = $1", t.org_id)],
        paid_order_id=paid["id"],
        email=email,
        member_ids=[r["id"] for r in rows],
        admin_member_id=next(r["id"] for r in rows if r["subject"] == t.admin_subject),
    )


@pytest.fixture
async def seeded(
    pool: asyncpg.Pool, owner_pool: asyncpg.Pool, tenant: Tenant, other_tenant: Tenant
) -> tuple[Seeded, Seeded]:
    return await _seed(pool, owner_pool, tenant), await _seed(pool, owner_pool, other_tenant)


# Reference data of no organisation (FX rates): readable by every organisation, written by the owner alone.
REFERENCE_TABLES = {"fx_rates"}


async def _tables(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
                  pg_get_userbyid(c.relowner) AS owner,
                  EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'org_id'
                                                         AND a.attnum > 0 AND NOT a.attisdropped) AS has_org_id
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
            ORDER BY 1"""
    )
    return [dict(r) for r in rows]


async def _scoped_tables(conn: asyncpg.Connection) -> dict[str, str]:
    """Organisation-scoped table -> the column naming its organisation."""
    return {
        t["name"]: ("id" if t["name"] == "organisations" else "org_id")
        for t in await _tables(conn)
        if t["has_org_id"] or t["name"] == "organisations"
    }


@asynccontextmanager
async def _rolled_back(pool: asyncpg.Pool, org_id: uuid.UUID | None) -> AsyncIterator[asyncpg.Connection]:
    """A transaction (scoped to `org_id` when given) that never commits."""
    async with pool.acquire() as conn:
        tr = conn.transaction()
        await tr.start()
        try:
            if org_id is not None:
                await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
            yield conn
        finally:
            await tr.rollback()


# --- 1. row-level security --------------------------------------------------------------


async def test_every_org_table_forces_rls_and_the_app_role_owns_nothing(pool, settings):
    app_role = settings.role_name("orders", "app")
    owner_role = settings.role_name("orders", "owner")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT current_user") == app_role
        role = await conn.fetchrow("SELECT rolbypassrls, rolsuper FROM pg_roles WHERE rolname = $1", app_role)
        assert role["rolbypassrls"] is False and role["rolsuper"] is False
        # A member of the owner role could SET ROLE to it and bypass everything.
        assert await conn.fetchval("SELECT pg_has_role($1, $2, 'MEMBER')", app_role, owner_role) is False
        tables = await _tables(conn)
        scoped = await _scoped_tables(conn)
        policies = await conn.fetch(
            "SELECT tablename, policyname, permissive, roles, cmd, qual, with_check FROM pg_policies"
            " WHERE schemaname = 'public'"
        )

        assert {
            "organisations",
            "members",
            "orders",
            "customers",
            "commission_ledger",
            "outbox",
            "order_rollups_daily",
        } <= scoped.keys(), scoped
        for t in tables:
            assert t["owner"] != app_role, f"{t['name']} is owned by the application role"
            if t["name"] in scoped or t["name"] in REFERENCE_TABLES:
                assert t["rls"] is True, f"{t['name']}: row-level security is not enabled"
                assert t["forced"] is True, f"{t['name']}: row-level security is not forced"
            else:
                # A table holding no organisation must be out of the application's reach.
                for priv in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                    assert (
                        await conn.fetchval(
                            "SELECT has_table_privilege($1, $2, $3)", app_role, f"public.{t['name']}", priv
                        )
                        is False
                    ), (t["name"], priv)

        by_table: dict[str, list[asyncpg.Record]] = {}
        for p in policies:
            by_table.setdefault(p["tablename"], []).append(p)
        assert set(by_table) == set(scoped) | REFERENCE_TABLES, "a policy on an unscoped table, or a scoped one without"
        for name in REFERENCE_TABLES:  # every organisation reads them, none writes (migration 012)
            assert [(p["cmd"], p["qual"]) for p in by_table.pop(name)] == [("SELECT", "true")], name
        for name, ps in by_table.items():
            for p in ps:
                # Every policy pins rows to app_org(): a permissive USING (true) would open the table.
                assert "app_org()" in (p["qual"] or ""), (name, p["policyname"], p["qual"])
                if p["cmd"] in ("ALL", "INSERT", "UPDATE"):
                    assert "app_org()" in (p["with_check"] or ""), (name, p["policyname"], p["with_check"])


async def test_seed_touches_every_scoped_table(owner_pool, seeded):
    a, b = seeded
    async with owner_pool.acquire() as conn:
        for table, col in (await _scoped_tables(conn)).items():
            for s in (a, b):
                n = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {col} = $1", s.tenant.org_id)
                assert n > 0, (
                    f"the test seed left {table} empty for an organisation: the RLS checks would prove nothing"
                )


async def test_without_an_organisation_every_table_is_empty(pool, seeded):
    async with pool.acquire() as conn:
        tables = await _scoped_tables(conn)
        # Outside any transaction, and on a pooled connection that had an organisation set in
        # an earlier transaction (set_config(..., true) must not outlive it).
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(seeded[0].tenant.org_id))
            assert await conn.fetchval("SELECT count(*) FROM orders") == 2
        for table in tables:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        async with conn.transaction():
            for table in tables:
                assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.org_id', '', true)")
            for table in tables:
                assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table


async def test_the_app_role_cannot_switch_row_security_off(pool, seeded):
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("SET LOCAL row_security = off")
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                await conn.fetchval("SELECT count(*) FROM orders")


async def test_with_org_a_set_no_row_of_org_b_is_visible(pool, seeded):
    a, b = seeded
    async with tenant_tx(pool, a.tenant.org_id) as conn:
        for table, col in (await _scoped_tables(conn)).items():
            mine, others, of_b = await conn.fetchrow(
                f"SELECT count(*) FILTER (WHERE {col} = $1), count(*) FILTER (WHERE {col} <> $1),"
                f" count(*) FILTER (WHERE {col} = $2) FROM {table}",
                a.tenant.org_id,
                b.tenant.org_id,
            )
            assert mine > 0, f"{table}: org A's own rows are not visible"
            assert others == 0 and of_b == 0, f"{table}: {others} rows of other organisations visible"
        # By id, too: org B's rows do not exist for org A.
        assert await conn.fetchval("SELECT count(*) FROM orders WHERE id = ANY($1)", b.order_ids) == 0
        assert await conn.fetchval("SELECT count(*) FROM customers WHERE id = ANY($1)", b.customer_ids) == 0
        assert await conn.fetchval("SELECT count(*) FROM commission_ledger WHERE order_id = ANY($1)", b.order_ids) == 0
        assert await conn.fetchval("SELECT count(*) FROM members WHERE id = ANY($1)", b.member_ids) == 0
        assert await conn.fetchval("SELECT count(*) FROM organisations WHERE id = $1", b.tenant.org_id) == 0


async def _b_refs(owner_pool: asyncpg.Pool, b: Seeded) -> asyncpg.Record:
    return await owner_pool.fetchrow(
        "SELECT integration_id, product_id, category_id, provider_id, customer_id FROM orders WHERE id = $1",
        b.paid_order_id,
    )


@pytest.mark.parametrize(
    "table",
    [
        "organisations",
        "members",
        "categories",
        "providers",
        "integrations",
        "integration_categories",
        "products",
        "customers",
        "customer_visits",
        "orders",
        "commission_ledger",
        "webhook_receipts",
        "outbox",
        "processed_events",
        "order_rollups_daily",
    ],
)
async def test_insert_of_a_row_of_org_b_fails_while_org_a_is_set(pool, owner_pool, seeded, table):
    a, b = seeded
    B = b.tenant.org_id
    r = await _b_refs(owner_pool, b)
    statements: dict[str, tuple[str, list[Any]]] = {
        "organisations": ("INSERT INTO organisations (id, name) VALUES ($1, 'Intruder')", [uuid.uuid4()]),
        "members": ("INSERT INTO members (org_id, email, role) VALUES ($1, 'intruder@example.com', 'admin')", [B]),
        "categories": ("INSERT INTO categories (org_id, name) VALUES ($1, 'Intruder')", [B]),
        "providers": (
            "INSERT INTO providers (org_id, public_id, name, webhook_secret)"
            " VALUES ($1, 'prv_intruder' || md5(random()::text), 'X', 'whsec_x')",
            [B],
        ),
        "integrations": (
            "INSERT INTO integrations (org_id, name, channel, api_key_hash, api_key_prefix)"
            " VALUES ($1, 'Intruder', 'web', decode(md5(random()::text), 'hex'), 'pk_x')",
            [B],
        ),
        "integration_categories": (
            "INSERT INTO integration_categories (org_id, integration_id, category_id) VALUES ($1, $2, $3)",
            [B, r["integration_id"], a.tenant.categories["Broadband"]],
        ),
        "products": (
            "INSERT INTO products (org_id, integration_id, category_id, provider_id, name, currency)"
            " VALUES ($1, $2, $3, $4, 'Intruder', 'GBP')",
            [B, r["integration_id"], r["category_id"], r["provider_id"]],
        ),
        "customers": (
            "INSERT INTO customers (org_id, kind, anonymous_id, display_name) VALUES ($1, 'anonymous', 'x', 'X')",
            [B],
        ),
        "customer_visits": (
            "INSERT INTO customer_visits (org_id, customer_id, integration_id, first_seen, last_seen)"
            " VALUES ($1, $2, $3, now(), now())",
            [B, r["customer_id"], a.tenant.second_integration_id],
        ),
        "orders": (
            "INSERT INTO orders (org_id, integration_id, product_id, category_id, provider_id, customer_id,"
            " external_ref, status, comm_status, currency) VALUES ($1, $2, $3, $4, $5, $6, 'intruder',"
            " 'PENDING', 'N/A', 'GBP')",
            [B, r["integration_id"], r["product_id"], r["category_id"], r["provider_id"], r["customer_id"]],
        ),
        "commission_ledger": (
            "INSERT INTO commission_ledger (org_id, order_id, to_status, to_comm, amount, currency, source)"
            " VALUES ($1, $2, 'SUCCESSFUL', 'SUCCESSFUL', 999, 'GBP', 'manual')",
            [B, b.paid_order_id],
        ),
        "webhook_receipts": (
            "INSERT INTO webhook_receipts (org_id, provider_id, webhook_id, outcome)"
            " VALUES ($1, $2, 'intruder', 'applied')",
            [B, r["provider_id"]],
        ),
        "outbox": ("INSERT INTO outbox (org_id, type, payload) VALUES ($1, 'intruder', '{}'::jsonb)", [B]),
        "processed_events": (
            "INSERT INTO processed_events (consumer, event_id, org_id) VALUES ('x', gen_random_uuid(), $1)",
            [B],
        ),
        "order_rollups_daily": (
            "INSERT INTO order_rollups_daily (org_id, day, integration_id, category_id, status,"
            " comm_status, currency, orders, commission) VALUES ($1, current_date, $2, $3,"
            " 'SUCCESSFUL', 'PENDING', 'GBP', 1000, 1000)",
            [B, r["integration_id"], r["category_id"]],
        ),
    }
    sql, args = statements[table]
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(a.tenant.org_id))
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                await conn.execute(sql, *args)


async def test_a_row_of_org_a_cannot_be_moved_to_org_b(pool, owner_pool, seeded):
    a, b = seeded
    cat = a.tenant.categories["Broadband"]
    async with pool.acquire() as conn:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(a.tenant.org_id))
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
                await conn.execute("UPDATE categories SET org_id = $2 WHERE id = $1", cat, b.tenant.org_id)
    assert await owner_pool.fetchval("SELECT org_id FROM categories WHERE id = $1", cat) == a.tenant.org_id


async def test_update_and_delete_of_org_b_rows_by_id_affect_nothing(pool, owner_pool, seeded):
    a, b = seeded
    before = await owner_pool.fetch("SELECT * FROM orders WHERE org_id = $1 ORDER BY id", b.tenant.org_id)
    ledger_before = await owner_pool.fetchval(
        "SELECT count(*) FROM commission_ledger WHERE org_id = $1", b.tenant.org_id
    )
    async with tenant_tx(pool, a.tenant.org_id) as conn:
        assert (
            await conn.execute(
                "UPDATE orders SET comm_status = 'SUCCESSFUL', commission_amount = 1 WHERE id = $1", b.paid_order_id
            )
            == "UPDATE 0"
        )
        assert await conn.execute("UPDATE orders SET external_ref = 'x' WHERE id = ANY($1)", b.order_ids) == "UPDATE 0"
        assert await conn.execute("DELETE FROM commission_ledger WHERE order_id = ANY($1)", b.order_ids) == "DELETE 0"
        assert await conn.execute("DELETE FROM orders WHERE id = $1", b.paid_order_id) == "DELETE 0"
        assert (
            await conn.execute("UPDATE customers SET display_name = 'x' WHERE id = ANY($1)", b.customer_ids)
            == "UPDATE 0"
        )
        assert await conn.execute("DELETE FROM members WHERE id = ANY($1)", b.member_ids) == "DELETE 0"
        assert await conn.execute("UPDATE organisations SET name = 'x' WHERE id = $1", b.tenant.org_id) == "UPDATE 0"
        assert await conn.fetch("SELECT id FROM orders WHERE id = $1 FOR UPDATE", b.paid_order_id) == []
    after = await owner_pool.fetch("SELECT * FROM orders WHERE org_id = $1 ORDER BY id", b.tenant.org_id)
    assert [dict(r) for r in after] == [dict(r) for r in before]
    assert (
        await owner_pool.fetchval("SELECT count(*) FROM commission_ledger WHERE org_id = $1", b.tenant.org_id)
        == ledger_before
    )
    assert await owner_pool.fetchval("SELECT count(*) FROM members WHERE org_id = $1", b.tenant.org_id) == len(
        b.member_ids
    )


async def test_a_provider_webhook_routed_to_org_b_cannot_touch_an_order_of_org_a(pool, owner_pool, seeded):
    """The webhook actor runs for the provider's organisation; an order id of another one is unknown."""
    a, b = seeded
    target = a.order_ids[0]
    before = await owner_pool.fetchrow("SELECT * FROM orders WHERE id = $1", target)
    async with tenant_tx(pool, b.tenant.org_id) as conn:
        outcome = await commission.apply_provider_webhook(
            conn,
            b.tenant.org_id,
            b.tenant.provider["id"],
            f"wh-{uuid.uuid4().hex}",
            {"order_id": str(target), "sequence": 99, "status": "FAILED"},
        )
    assert outcome == "unknown_order"
    assert dict(await owner_pool.fetchrow("SELECT * FROM orders WHERE id = $1", target)) == dict(before)


# --- 2. explicit filters (RLS bypassed) --------------------------------------------------


async def test_owner_pool_really_bypasses_rls(owner_pool, seeded):
    """Precondition of the tests below: on this connection only the SQL's own predicates protect."""
    a, b = seeded
    async with _rolled_back(owner_pool, a.tenant.org_id) as conn:
        assert await conn.fetchval("SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user") is True
        assert await conn.fetchval("SELECT count(*) FROM orders WHERE org_id = $1", b.tenant.org_id) == 2


async def test_order_reads_filter_by_organisation(owner_pool, seeded):
    a, b = seeded
    A, bt = a.tenant.org_id, b.tenant
    b_customer = await owner_pool.fetchval("SELECT customer_id FROM orders WHERE id = $1", b.paid_order_id)
    async with _rolled_back(owner_pool, A) as conn:
        tz = await organisations.time_zone(conn, A)
        page, more = await orders.list_page(conn, A, OrderFilter(), tz, 500, None)
        assert {r["id"] for r in page} == set(a.order_ids) and more is False
        for f in (
            OrderFilter(customer_id=b_customer),
            OrderFilter(integration_ids=[bt.integration_id]),
            OrderFilter(category_ids=list(bt.categories.values())),
            OrderFilter(integration_ids=[bt.integration_id, bt.second_integration_id], search="ref-"),
        ):
            assert await orders.list_page(conn, A, f, tz, 500, None) == ([], False), f

        assert await orders.by_ids(conn, A, b.order_ids) == []
        assert {r["id"] for r in await orders.by_ids(conn, A, a.order_ids + b.order_ids)} == set(a.order_ids)

        whole = await orders.summary(conn, A, OrderFilter(), tz)  # from the rollup
        assert whole["total_orders"] == 2 and whole["successful_orders"] == 2
        rows = await orders.summary(conn, A, OrderFilter(search="ref-"), tz)  # from the rows
        assert rows["total_orders"] == 2
        zero = {
            "total_orders": 0,
            "successful_orders": 0,
            "pending_orders": 0,
            "failed_orders": 0,
            "commission_pending": [],
            "commission_paid": [],
        }
        for f in (
            OrderFilter(integration_ids=[bt.integration_id, bt.second_integration_id]),
            OrderFilter(category_ids=list(bt.categories.values())),
            OrderFilter(customer_id=b_customer),
            OrderFilter(integration_ids=[bt.integration_id], search="ref-"),
        ):
            assert await orders.summary(conn, A, f, tz) == zero, f

        assert await orders.ledger(conn, A, b.paid_order_id) == []
        assert len(await orders.ledger(conn, A, a.paid_order_id)) == 1


async def test_order_writes_filter_by_organisation(owner_pool, seeded):
    a, b = seeded
    A = a.tenant.org_id
    async with _rolled_back(owner_pool, A) as conn:
        with pytest.raises(NotFound):
            await commission.change_state(
                conn,
                A,
                b.paid_order_id,
                status=None,
                comm_status=CommStatus.SUCCESSFUL,
                amount=None,
                currency=None,
                source="manual",
                reference=None,
                actor="test",
            )
        with pytest.raises(NotFound) as exc:
            await order_service.create(
                conn,
                A,
                a.tenant.integration_id,
                external_ref="cross",
                product_id=b.tenant.products["Broadband"],
                email=None,
                anonymous_id="cross-anon",
                status=Status.PENDING,
                amount=None,
                currency=None,
            )
        assert exc.value.field == "productId"


async def test_customer_reads_filter_by_organisation(owner_pool, seeded):
    a, b = seeded
    A, bt = a.tenant.org_id, b.tenant
    async with _rolled_back(owner_pool, A) as conn:
        tz = await organisations.time_zone(conn, A)
        page, _ = await customers.list_page(conn, A, CustomerFilter(), tz, 500, None)
        assert {r["id"] for r in page} == set(a.customer_ids)
        for f in (
            CustomerFilter(integration_ids=[bt.integration_id, bt.second_integration_id]),
            CustomerFilter(search=b.email),
        ):
            assert await customers.list_page(conn, A, f, tz, 500, None) == ([], False), f
        assert await customers.by_ids(conn, A, b.customer_ids) == []
        assert {r["id"] for r in await customers.by_ids(conn, A, a.customer_ids + b.customer_ids)} == set(
            a.customer_ids
        )
        for cid in b.customer_ids:
            with pytest.raises(NotFound):
                await customers.profile(conn, A, cid)
            with pytest.raises(NotFound):
                await customers.timeline(conn, A, cid)
        own = await customers.profile(conn, A, a.customer_ids[0])
        assert own["id"] == a.customer_ids[0]


async def test_customer_identification_never_resolves_to_another_organisation(owner_pool, seeded):
    a, b = seeded
    A = a.tenant.org_id
    b_anon = await owner_pool.fetchval(
        "SELECT anonymous_id FROM customers WHERE org_id = $1 AND anonymous_id IS NOT NULL LIMIT 1", b.tenant.org_id
    )
    assert b_anon
    async with _rolled_back(owner_pool, A) as conn:
        now = datetime.now(UTC)
        by_email = await customer_service.identify(
            conn, A, email=b.email, anonymous_id=None, integration_id=a.tenant.integration_id, channel=None, seen_at=now
        )
        by_anon = await customer_service.identify(
            conn, A, email=None, anonymous_id=b_anon, integration_id=a.tenant.integration_id, channel=None, seen_at=now
        )
        for cid in (by_email, by_anon):
            assert cid not in b.customer_ids
            assert await conn.fetchval("SELECT org_id FROM customers WHERE id = $1", cid) == A


async def test_catalogue_lookups_filter_by_organisation(owner_pool, seeded):
    a, b = seeded
    A, at, bt = a.tenant.org_id, a.tenant, b.tenant
    b_integrations = [bt.integration_id, bt.second_integration_id]
    async with _rolled_back(owner_pool, A) as conn:
        assert await catalogue.categories_by_ids(conn, A, list(bt.categories.values())) == []
        assert {
            r["id"]
            for r in await catalogue.categories_by_ids(
                conn, A, list(at.categories.values()) + list(bt.categories.values())
            )
        } == set(at.categories.values())
        assert await catalogue.products_by_ids(conn, A, list(bt.products.values())) == []
        assert {
            r["id"]
            for r in await catalogue.products_by_ids(conn, A, list(at.products.values()) + list(bt.products.values()))
        } == set(at.products.values())
        assert await catalogue.integrations_by_ids(conn, A, b_integrations) == []
        assert len(await catalogue.integrations_by_ids(conn, A, [at.integration_id, *b_integrations])) == 1
        for iid in b_integrations:
            assert await catalogue.list_products(conn, A, iid) == []
            with pytest.raises(NotFound):
                await catalogue.get_integration(conn, A, iid)
        assert {r["id"] for r in await catalogue.list_products(conn, A)} == set(at.products.values())


async def test_catalogue_and_member_writes_filter_by_organisation(owner_pool, seeded):
    a, b = seeded
    A, bt = a.tenant.org_id, b.tenant
    before = await owner_pool.fetchrow("SELECT * FROM integrations WHERE id = $1", bt.integration_id)
    async with _rolled_back(owner_pool, A) as conn:
        with pytest.raises(NotFound):
            await catalogue.update_integration(
                conn, A, bt.integration_id, name="Hijacked", channel=None, category_ids=None
            )
        with pytest.raises(NotFound):
            await catalogue.rotate_key(conn, A, bt.integration_id)
        with pytest.raises(NotFound) as exc:
            await catalogue.update_integration(
                conn,
                A,
                a.tenant.integration_id,
                name=None,
                channel=None,
                category_ids=[*a.tenant.categories.values(), bt.categories["Broadband"]],
            )
        assert exc.value.field == "categoryIds"
        with pytest.raises(NotFound) as exc:
            await catalogue.create_integration(conn, A, "Cross", "web", [bt.categories["Broadband"]])
        assert exc.value.field == "categoryIds"
        for mid in b.member_ids:
            assert await members.role_for_update(conn, A, mid) is None
            with pytest.raises(NotFound):
                await organisation_service.remove_member(conn, A, mid, a.tenant.admin_subject)
            await members.delete(conn, A, mid)  # filtered by organisation: deletes nothing of B
        # Nothing of org B moved even inside the transaction.
        assert dict(await conn.fetchrow("SELECT * FROM integrations WHERE id = $1", bt.integration_id)) == dict(before)
        assert await conn.fetchval("SELECT count(*) FROM members WHERE org_id = $1", bt.org_id) == len(b.member_ids)


# --- 3. the cross-tenant doors ------------------------------------------------------------


async def test_security_definer_functions_are_exactly_the_doors_and_closed_to_public(pool, settings):
    app_role = settings.role_name("orders", "app")
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT p.oid::regprocedure::text AS signature, p.proname, p.proconfig,
                      pg_get_userbyid(p.proowner) AS owner
                 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE n.nspname = 'public' AND p.prosecdef"""
        )
        assert {r["proname"] for r in rows} == DEFINER_FUNCTIONS
        for r in rows:
            sig = r["signature"]
            assert await conn.fetchval("SELECT has_function_privilege('public', $1, 'EXECUTE')", sig) is False, sig
            assert await conn.fetchval("SELECT has_function_privilege($1, $2, 'EXECUTE')", app_role, sig) is True, sig
            assert r["owner"] != app_role, sig
            # A definer function must not resolve names through a search_path the caller controls.
            assert any(c.startswith("search_path=") for c in (r["proconfig"] or [])), sig


async def test_references_cannot_cross_organisations_even_without_rls(owner_pool, tenant, other_tenant):
    """Composite (org_id, id) foreign keys: the database itself refuses a cross-tenant reference."""
    import asyncpg
    import pytest as _pytest

    async with owner_pool.acquire() as conn:  # the owner bypasses RLS: only the keys stand in the way
        with _pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(
                "INSERT INTO products (org_id, integration_id, category_id, provider_id, name, currency)"
                " VALUES ($1, $2, $3, $4, 'x', 'GBP')",
                tenant.org_id,
                tenant.integration_id,
                other_tenant.categories["Broadband"],
                tenant.provider["id"],
            )
