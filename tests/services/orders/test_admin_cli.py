"""Operator provisioning commands, against the real database."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from services.orders import admin


def run_cli(capsys: Any, *argv: str) -> tuple[int, Any, str]:
    code = admin.main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else None, err


async def test_provision_an_organisation_end_to_end(capsys, gateway, issuer, tenant):
    code, org, _ = await asyncio.to_thread(
        run_cli,
        capsys,
        "create-organisation",
        "--name",
        "Newco",
        "--admin-email",
        "boss@newco.example",
        "--currency",
        "EUR",
    )
    assert code == 0
    token = issuer.mint("auth0|boss-newco", email="boss@newco.example")
    r = await gateway.post(
        "/graphql",
        json={"query": "{ me { role organisationId } organisation { baseCurrency } }"},
        headers={"authorization": f"Bearer {token}"},
    )
    data = r.json()["data"]
    assert data["me"] == {"role": "ADMIN", "organisationId": org["organisation_id"]}
    assert data["organisation"]["baseCurrency"] == "EUR"
    code, provider, _ = await asyncio.to_thread(
        run_cli, capsys, "add-provider", "--org", org["organisation_id"], "--name", "Bank"
    )
    assert code == 0 and provider["webhook_secret"].startswith("whsec_")


async def test_bad_input_is_refused_clearly(capsys, tenant):
    code, _, err = await asyncio.to_thread(
        run_cli,
        capsys,
        "create-organisation",
        "--name",
        "X",
        "--admin-email",
        "a@b.example",
        "--time-zone",
        "Nowhere/Land",
    )
    assert code == 2 and "timeZone" in err
    code, _, err = await asyncio.to_thread(
        run_cli,
        capsys,
        "add-product",
        "--org",
        str(tenant.org_id),
        "--integration",
        str(tenant.integration_id),
        "--category",
        str(tenant.categories["Broadband"]),
        "--provider",
        str(tenant.provider["id"]),
        "--name",
        "P",
        "--rate",
        "1.234",
        "--currency",
        "GBP",
    )
    assert code == 2 and "rate" in err


async def test_publish_organisations_backfills_every_organisations_settings_event(capsys, pool, tenant, other_tenant):
    from shared.db import tenant_tx
    from shared.messaging import contracts

    code, result, _ = await asyncio.to_thread(run_cli, capsys, "publish-organisations")
    assert code == 0 and result["published"] >= 2
    for t in (tenant, other_tenant):
        async with tenant_tx(pool, t.org_id) as conn:
            rows = await conn.fetch(
                "SELECT payload FROM outbox WHERE org_id = $1 AND type = $2",
                t.org_id,
                contracts.ORGANISATION_SETTINGS_CHANGED,
            )
        assert [r["payload"]["time_zone"] for r in rows] == ["Europe/London"]
        assert set(rows[0]["payload"]) == set(contracts.ORGANISATION_SETTINGS_FIELDS)
