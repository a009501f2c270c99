"""The demo/bulk loader against a real PostgreSQL of its own: what it loads, and that it
leaves the schema, the rollups and row-level security exactly as they must be."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

import demo.orders as demo
from demo.orders import DEMO_ORG_ID, demo_loaded, load_demo
from infra.embedded import EmbeddedPostgres, free_port
from services.orders.domain.names import anonymous_name
from services.orders.repository.catalogue import hash_api_key
from shared.bootstrap import bootstrap
from shared.config import Settings
from shared.secrets import SecretBox

CUSTOMERS, ORDERS, DAYS = 500, 3000, 90
SECOND_ORG = UUID("00000000-0000-4000-8000-0000000000d2")


@pytest.fixture(scope="module")
def demo_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("demo-pg"), free_port()).start()
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="module")
async def demo_db(demo_pg: EmbeddedPostgres) -> AsyncIterator[dict[str, Any]]:
    """A bootstrapped orders database, with a snapshot of its schema taken before any load."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ORDERS_DATABASE_URL", raising=False)
        settings = Settings(database_url=demo_pg.url, db_prefix="demo_")
        await bootstrap(settings, ("orders",))
        owner_dsn = settings.service_database_url("orders", "owner")
        conn = await asyncpg.connect(owner_dsn)
        try:
            schema = await _schema(conn)
        finally:
            await conn.close()
        yield {
            "settings": settings,
            "owner": owner_dsn,
            "app": settings.service_database_url("orders"),
            "schema": schema,
        }


@pytest.fixture(scope="module")
async def loaded(demo_db: dict[str, Any]) -> dict[str, Any]:
    messages: list[str] = []
    now = time.time()
    result = await load_demo(
        demo_db["owner"], customers=CUSTOMERS, orders=ORDERS, days=DAYS, progress=messages.append, now=now
    )
    return {**demo_db, "result": result, "messages": messages, "now": now}


@pytest.fixture
async def owner(demo_db: dict[str, Any]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(demo_db["owner"])
    try:
        yield conn
    finally:
        await conn.close()


async def _schema(conn: asyncpg.Connection) -> dict[str, Any]:
    """Everything the bulk mode drops and recreates, plus the trigger states."""
    constraints = await conn.fetch(
        "SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def, convalidated"
        " FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2"
    )
    indexes = await conn.fetch(
        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1, 2"
    )
    triggers = await conn.fetch(
        "SELECT tgrelid::regclass::text AS tbl, tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2"
    )
    return {
        "constraints": [tuple(r) for r in constraints],
        "indexes": [tuple(r) for r in indexes],
        "triggers": [tuple(r) for r in triggers],
    }


class _Boom(Exception):
    pass


def _fail_at(prefix: str) -> Callable[[str], None]:
    def progress(msg: str) -> None:
        if msg.startswith(prefix):
            raise _Boom(msg)

    return progress


async def _org_rows(conn: asyncpg.Connection, org_id: UUID) -> dict[str, int]:
    tables = (
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
        "order_rollups_daily",
    )
    counts = {t: await conn.fetchval(f"SELECT count(*) FROM {t} WHERE org_id = $1", org_id) for t in tables}
    counts["organisations"] = await conn.fetchval("SELECT count(*) FROM organisations WHERE id = $1", org_id)
    return counts


# Runs first, on empty tables (so through the bulk mode, which drops foreign keys and indexes).
async def test_a_failed_load_leaves_nothing_behind(demo_db: dict[str, Any], owner: asyncpg.Connection) -> None:
    org = uuid4()
    for where in ("customers", "orders 2", "order rollups"):
        with pytest.raises(_Boom):
            await load_demo(demo_db["owner"], org_id=org, customers=300, orders=2500, progress=_fail_at(where))
        assert not await demo_loaded(demo_db["owner"], org)
        assert set((await _org_rows(owner, org)).values()) == {0}
        assert await _schema(owner) == demo_db["schema"]


async def test_counts_and_catalogue(loaded: dict[str, Any], owner: asyncpg.Connection) -> None:
    result = loaded["result"]
    assert result.org_id == DEMO_ORG_ID and (result.customers, result.orders) == (CUSTOMERS, ORDERS)
    assert await demo_loaded(loaded["owner"])
    counts = await _org_rows(owner, DEMO_ORG_ID)
    assert counts["organisations"] == 1 and counts["customers"] == CUSTOMERS and counts["orders"] == ORDERS
    decided = await owner.fetchval("SELECT count(*) FROM orders WHERE org_id = $1 AND status <> 'PENDING'", DEMO_ORG_ID)
    paid = await owner.fetchval(
        "SELECT count(*) FROM orders WHERE org_id = $1 AND comm_status = 'SUCCESSFUL'", DEMO_ORG_ID
    )
    assert counts["commission_ledger"] == ORDERS + decided + paid  # placed, decided, paid: a history, not one row
    assert counts["categories"] == 3 and counts["providers"] == 3 and counts["integrations"] >= 3
    assert any(m.startswith("orders ") for m in loaded["messages"])
    # Loaded into empty tables, so in bulk mode: foreign keys and indexes were dropped and rebuilt.
    assert any(m.startswith("orders: ") and "indexes built" in m for m in loaded["messages"])

    org = await owner.fetchrow("SELECT * FROM organisations WHERE id = $1", DEMO_ORG_ID)
    assert (org["name"], org["base_currency"], org["time_zone"], org["marketplace_url"], org["primary_colour"]) == (
        "Demo Partner",
        "GBP",
        "Europe/London",
        "https://marketplace.demo-partner.example",
        "#1E5EFF",
    )
    members = {r["role"]: r for r in await owner.fetch("SELECT * FROM members WHERE org_id = $1", DEMO_ORG_ID)}
    assert members["admin"]["subject"] == demo.DEMO_ADMIN_SUBJECT
    assert members["admin"]["email"] == demo.DEMO_ADMIN_EMAIL and members["admin"]["status"] == "active"
    assert members["member"]["subject"] == f"{demo.DEMO_ADMIN_SUBJECT}-member"
    assert members["member"]["status"] == "active" and members["member"]["email"] != demo.DEMO_ADMIN_EMAIL
    fibrenet = await owner.fetchval("SELECT id FROM providers WHERE org_id = $1 AND name = 'FibreNet'", DEMO_ORG_ID)
    assert (members["provider"]["subject"], members["provider"]["provider_id"]) == (
        demo.DEMO_PROVIDER_SUBJECT,
        fibrenet,
    )

    names = {r["name"] for r in await owner.fetch("SELECT name FROM categories WHERE org_id = $1", DEMO_ORG_ID)}
    assert names == {"Broadband", "Credit Cards", "Current Accounts"}
    currencies = {
        r["currency"] for r in await owner.fetch("SELECT currency FROM products WHERE org_id = $1", DEMO_ORG_ID)
    }
    assert currencies == {"GBP", "EUR"}
    # Every product's category is one of its integration's categories.
    assert (
        await owner.fetchval(
            "SELECT count(*) FROM products p WHERE p.org_id = $1"
            " AND NOT EXISTS (SELECT 1 FROM integration_categories ic"
            " WHERE ic.integration_id = p.integration_id AND ic.category_id = p.category_id)",
            DEMO_ORG_ID,
        )
        == 0
    )


async def test_keys_and_provider_secrets_resolve_for_the_app_role(loaded: dict[str, Any]) -> None:
    result = loaded["result"]
    app = await asyncpg.connect(loaded["app"])
    try:
        for integration in result.integrations:
            assert set(integration) == {"id", "name", "api_key"}
            row = await app.fetchrow("SELECT * FROM resolve_api_key($1)", hash_api_key(integration["api_key"]))
            assert (row["org_id"], row["integration_id"]) == (DEMO_ORG_ID, integration["id"])
        for provider in result.providers:
            assert provider["public_id"].startswith("prv_") and provider["webhook_secret"].startswith("whsec_")
            row = await app.fetchrow("SELECT * FROM resolve_provider($1)", provider["public_id"])
            stored = SecretBox.from_settings().decrypt(row["webhook_secret"])  # encrypted at rest
            assert (row["org_id"], row["provider_id"], stored) == (
                DEMO_ORG_ID,
                provider["id"],
                provider["webhook_secret"],
            )
    finally:
        await app.close()


async def test_statuses_follow_the_rules(loaded: dict[str, Any], owner: asyncpg.Connection) -> None:
    rows = await owner.fetch(
        "SELECT status, comm_status, count(*) AS n FROM orders WHERE org_id = $1 GROUP BY 1, 2", DEMO_ORG_ID
    )
    n = {(r["status"], r["comm_status"]): r["n"] for r in rows}
    assert set(n) == {("SUCCESSFUL", "PENDING"), ("SUCCESSFUL", "SUCCESSFUL"), ("PENDING", "N/A"), ("FAILED", "N/A")}
    successful = n["SUCCESSFUL", "PENDING"] + n["SUCCESSFUL", "SUCCESSFUL"]
    assert 0.50 < successful / ORDERS < 0.60
    assert 0.26 < n["PENDING", "N/A"] / ORDERS < 0.34
    assert 0.12 < n["FAILED", "N/A"] / ORDERS < 0.18
    assert 0.30 < n["SUCCESSFUL", "SUCCESSFUL"] / successful < 0.50
    # The commission status is N/A exactly when the order is not SUCCESSFUL.
    assert (
        await owner.fetchval(
            "SELECT count(*) FROM orders WHERE org_id = $1 AND (status = 'SUCCESSFUL') <> (comm_status <> 'N/A')",
            DEMO_ORG_ID,
        )
        == 0
    )
    # Amount, currency, category and provider are the product's; references stay unique per integration.
    assert (
        await owner.fetchval(
            """SELECT count(*) FROM orders o JOIN products p ON p.id = o.product_id
            WHERE o.org_id = $1 AND (o.commission_amount <> p.commission_rate OR o.currency <> p.currency
               OR o.category_id <> p.category_id OR o.provider_id <> p.provider_id
               OR o.integration_id <> p.integration_id OR o.provider_seq <> 0)""",
            DEMO_ORG_ID,
        )
        == 0
    )
    assert (
        await owner.fetchval(
            "SELECT count(DISTINCT (integration_id, external_ref)) FROM orders WHERE org_id = $1", DEMO_ORG_ID
        )
        == ORDERS
    )
    assert await owner.fetchval("SELECT count(DISTINCT currency) FROM orders WHERE org_id = $1", DEMO_ORG_ID) == 2


async def test_orders_spread_over_the_period(loaded: dict[str, Any], owner: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    row = await owner.fetchrow(
        "SELECT min(created_at) AS lo, max(created_at) AS hi, count(DISTINCT created_at::date) AS days,"
        " count(*) FILTER (WHERE updated_at < created_at OR updated_at > now()) AS bad_updates,"
        " count(*) FILTER (WHERE status = 'PENDING' AND updated_at <> created_at) AS touched_pending"
        " FROM orders WHERE org_id = $1",
        DEMO_ORG_ID,
    )
    assert now - timedelta(days=DAYS, minutes=5) <= row["lo"] < now - timedelta(days=DAYS - 2)
    assert now - timedelta(days=2) < row["hi"] <= now
    assert row["days"] >= DAYS - 1 and row["bad_updates"] == 0 and row["touched_pending"] == 0
    older, newer = await owner.fetchrow(
        "SELECT count(*) FILTER (WHERE created_at < now() - interval '60 days'),"
        " count(*) FILTER (WHERE created_at >= now() - interval '30 days') FROM orders WHERE org_id = $1",
        DEMO_ORG_ID,
    )
    assert newer > older  # recent days are busier


async def test_rollups_equal_the_orders(loaded: dict[str, Any], owner: asyncpg.Connection) -> None:
    direct = await owner.fetch(
        "SELECT status, comm_status, currency, count(*) AS n, sum(commission_amount) AS amount FROM orders"
        " WHERE org_id = $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        DEMO_ORG_ID,
    )
    rolled = await owner.fetch(
        "SELECT status, comm_status, currency, sum(orders) AS n, sum(commission) AS amount FROM order_rollups_daily"
        " WHERE org_id = $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        DEMO_ORG_ID,
    )
    assert [tuple(r) for r in direct] == [tuple(r) for r in rolled]
    assert sum(r["n"] for r in direct) == ORDERS
    # Cell by cell too: day (in the organisation's time zone), integration and category.
    mismatched = await owner.fetchval(
        """WITH d AS (SELECT (created_at AT TIME ZONE 'Europe/London')::date AS day, integration_id, category_id,
                             status, comm_status, currency, count(*) AS orders, sum(commission_amount) AS commission
                        FROM orders WHERE org_id = $1 GROUP BY 1, 2, 3, 4, 5, 6),
                r AS (SELECT day, integration_id, category_id, status, comm_status, currency, orders, commission
                        FROM order_rollups_daily WHERE org_id = $1)
           SELECT count(*) FROM ((SELECT * FROM d EXCEPT SELECT * FROM r) UNION ALL
                                 (SELECT * FROM r EXCEPT SELECT * FROM d)) x""",
        DEMO_ORG_ID,
    )
    assert mismatched == 0


async def test_rollup_trigger_is_back_on(loaded: dict[str, Any], owner: asyncpg.Connection) -> None:
    assert await _schema(owner) == loaded["schema"]  # indexes, constraints and triggers as migrated
    tx = owner.transaction()
    await tx.start()
    try:
        order = await owner.fetchrow(
            "SELECT * FROM orders WHERE org_id = $1 AND status = 'SUCCESSFUL' LIMIT 1", DEMO_ORG_ID
        )
        key = (
            "SELECT orders, commission FROM order_rollups_daily WHERE org_id = $1 AND integration_id = $2 AND"
            " category_id = $3 AND status = $4 AND comm_status = $5 AND currency = $6 AND"
            " day = ($7 AT TIME ZONE 'Europe/London')::date"
        )
        args = (
            DEMO_ORG_ID,
            order["integration_id"],
            order["category_id"],
            order["status"],
            order["comm_status"],
            order["currency"],
            order["created_at"],
        )
        before = await owner.fetchrow(key, *args)
        await owner.execute(
            "INSERT INTO orders (org_id, integration_id, product_id, category_id, provider_id, customer_id,"
            " external_ref, status, comm_status, commission_amount, currency, created_at)"
            " SELECT org_id, integration_id, product_id, category_id, provider_id, customer_id, 'trigger-check',"
            " status, comm_status, commission_amount, currency, created_at FROM orders WHERE id = $1",
            order["id"],
        )
        after = await owner.fetchrow(key, *args)
        assert after["orders"] == before["orders"] + 1
        assert after["commission"] == before["commission"] + order["commission_amount"]
    finally:
        await tx.rollback()  # the demo data stays as loaded


async def test_customers(loaded: dict[str, Any], owner: asyncpg.Connection) -> None:
    rows = await owner.fetch("SELECT * FROM customers WHERE org_id = $1", DEMO_ORG_ID)
    generic = [r for r in rows if r["kind"] == "generic"]
    anonymous = [r for r in rows if r["kind"] == "anonymous"]
    assert 0.5 < len(generic) / CUSTOMERS < 0.7 and len(generic) + len(anonymous) == CUSTOMERS
    assert all(r["display_name"] == r["email"] and r["email"].endswith("@example.com") for r in generic)
    assert len({r["email"].lower() for r in generic}) == len(generic)
    assert all(r["email"] is None and r["display_name"] == anonymous_name(r["anonymous_id"]) for r in anonymous)
    assert all(r["channel"] in ("web", "mobile", "api") and r["merged_into"] is None for r in rows)
    assert all(r["first_seen"] <= r["last_seen"] <= datetime.now(UTC) for r in rows)
    # Visits: one to three integrations each, within the customer's first and last visit ...
    visits = await owner.fetch(
        "SELECT v.customer_id, count(*) AS n, bool_and(v.first_seen >= c.first_seen AND v.last_seen <= c.last_seen"
        " AND v.first_seen <= v.last_seen AND v.visits >= 1) AS inside FROM customer_visits v"
        " JOIN customers c ON c.id = v.customer_id WHERE v.org_id = $1 GROUP BY 1",
        DEMO_ORG_ID,
    )
    assert len(visits) == CUSTOMERS and all(1 <= r["n"] <= 3 and r["inside"] for r in visits)
    # ... and every order falls inside its customer's history, through an integration they visited.
    assert (
        await owner.fetchval(
            """SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id
            WHERE o.org_id = $1 AND (o.created_at < c.first_seen OR o.created_at > c.last_seen
               OR NOT EXISTS (SELECT 1 FROM customer_visits v WHERE v.customer_id = o.customer_id
                              AND v.integration_id = o.integration_id AND o.created_at BETWEEN v.first_seen
                              AND v.last_seen))""",
            DEMO_ORG_ID,
        )
        == 0
    )


async def test_ledger_tells_each_orders_history_in_time(loaded: dict[str, Any], owner: asyncpg.Connection) -> None:
    """Placed PENDING, then decided by the provider, then (paid commissions) confirmed: later each time,
    never in the future, ending at the order's current state."""
    rows = await owner.fetch(
        """SELECT o.id, o.status, o.comm_status, o.created_at,
                  array_agg(l.to_status ORDER BY l.id) AS statuses, array_agg(l.to_comm ORDER BY l.id) AS comms,
                  array_agg(l.occurred_at ORDER BY l.id) AS times, array_agg(l.from_status ORDER BY l.id) AS froms
             FROM orders o JOIN commission_ledger l ON l.order_id = o.id
            WHERE o.org_id = $1 GROUP BY o.id""",
        DEMO_ORG_ID,
    )
    assert len(rows) == ORDERS
    now = await owner.fetchval("SELECT now()")
    for r in rows:
        assert r["froms"][0] is None and r["statuses"][0] == "PENDING" and r["times"][0] == r["created_at"]
        assert (r["statuses"][-1], r["comms"][-1]) == (r["status"], r["comm_status"])
        assert list(r["times"]) == sorted(r["times"]) and r["times"][-1] <= now
    assert any(len(r["statuses"]) == 3 for r in rows) and any(len(r["statuses"]) == 2 for r in rows)
    reasons = await owner.fetch(
        "SELECT DISTINCT failure_reason FROM orders WHERE org_id = $1 AND status = 'FAILED'", DEMO_ORG_ID
    )
    assert reasons and all(r["failure_reason"] for r in reasons)
    assert await owner.fetchval("SELECT count(*) FROM orders WHERE org_id = $1 AND kind = 'sign_up'", DEMO_ORG_ID) > 0


async def test_second_organisation_loads_beside_the_first(loaded: dict[str, Any], owner: asyncpg.Connection) -> None:
    assert not await demo_loaded(loaded["owner"], SECOND_ORG)
    # Same seed: the same demo, with identifiers of its own (into non-empty tables: no bulk mode).
    messages: list[str] = []
    # Same seed and the same end of the time line as the first load: the same data.
    second = await load_demo(
        loaded["owner"],
        org_id=SECOND_ORG,
        org_name="Second Partner",
        customers=CUSTOMERS,
        orders=ORDERS,
        days=DAYS,
        now=loaded["now"],
        progress=messages.append,
    )
    assert not any("indexes built" in m for m in messages)
    assert await demo_loaded(loaded["owner"], SECOND_ORG) and await demo_loaded(loaded["owner"])
    counts = await _org_rows(owner, SECOND_ORG)
    assert counts["customers"] == CUSTOMERS and counts["orders"] == ORDERS
    assert await owner.fetchval("SELECT count(*) FROM orders WHERE org_id = $1", DEMO_ORG_ID) == ORDERS
    first = loaded["result"]
    assert {p["public_id"] for p in first.providers}.isdisjoint(p["public_id"] for p in second.providers)
    assert {i["api_key"] for i in first.integrations}.isdisjoint(i["api_key"] for i in second.integrations)
    same = await owner.fetchval(
        """SELECT count(*) FROM orders a JOIN orders b ON a.external_ref = b.external_ref
            WHERE a.org_id = $1 AND b.org_id = $2 AND a.status = b.status AND a.comm_status = b.comm_status
              AND a.commission_amount = b.commission_amount AND a.currency = b.currency""",
        DEMO_ORG_ID,
        SECOND_ORG,
    )
    assert same == ORDERS
    assert await _schema(owner) == loaded["schema"]
    with pytest.raises(ValueError, match="already exists"):
        await load_demo(loaded["owner"], org_id=SECOND_ORG, customers=10, orders=10)
    # A failure outside bulk mode leaves nothing behind either, and the trigger on.
    org = uuid4()
    with pytest.raises(_Boom):
        await load_demo(loaded["owner"], org_id=org, customers=100, orders=500, progress=_fail_at("order rollups"))
    assert set((await _org_rows(owner, org)).values()) == {0}
    assert await _schema(owner) == loaded["schema"]


async def test_row_level_security_hides_other_organisations(loaded: dict[str, Any]) -> None:
    app = await asyncpg.connect(loaded["app"])
    try:
        for table in ("organisations", "customers", "orders", "order_rollups_daily", "commission_ledger"):
            assert await app.fetchval(f"SELECT count(*) FROM {table}") == 0
        async with app.transaction():
            await app.execute("SELECT set_config('app.org_id', $1, true)", str(DEMO_ORG_ID))
            assert await app.fetchval("SELECT count(*) FROM orders") == ORDERS
            assert await app.fetchval("SELECT count(*) FROM customers") == CUSTOMERS
            assert await app.fetchval("SELECT count(DISTINCT org_id) FROM orders") == 1
            assert await app.fetchval("SELECT array_agg(id) FROM organisations") == [DEMO_ORG_ID]
        assert await app.fetchval("SELECT count(*) FROM orders") == 0
    finally:
        await app.close()


async def test_command_line(
    loaded: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shared.config

    monkeypatch.setattr(shared.config, "get_settings", lambda: loaded["settings"])
    org = uuid4()
    code = await demo._main(["--customers", "40", "--orders", "200", "--org-id", str(org), "--no-ledger"])
    out = capsys.readouterr()
    assert code == 0 and "orders 200/200" in out.err
    printed = json.loads(out.out)
    assert printed["org_id"] == str(org) and (printed["customers"], printed["orders"]) == (40, 200)
    assert all(i["api_key"].startswith("pk_") for i in printed["integrations"])
    assert all(p["webhook_secret"].startswith("whsec_") for p in printed["providers"])
    conn = await asyncpg.connect(loaded["owner"])
    try:
        assert await conn.fetchval("SELECT count(*) FROM commission_ledger WHERE org_id = $1", org) == 0
        assert await conn.fetchval("SELECT count(*) FROM orders WHERE org_id = $1", org) == 200
        assert await conn.fetchval("SELECT sum(orders) FROM order_rollups_daily WHERE org_id = $1", org) == 200
    finally:
        await conn.close()
    assert await demo._main(["--org-id", str(org)]) == 1  # already loaded


def test_amounts_encode_like_decimals() -> None:
    amount = demo._Amount("12.50")
    assert amount == Decimal("12.50") and amount.as_tuple() == Decimal("12.50").as_tuple()
