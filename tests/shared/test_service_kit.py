"""The service kit's parts on their own: cursors, page sizes, and the endpoint decorators' answers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.routing import Route

from shared.auth import service_tokens
from shared.errors import Conflict, DomainError, ErrorCode, NotFound
from shared.messaging.outbox import add_event
from shared.service.endpoint import Call, OrgCall, TenantCall, org_endpoint, system_endpoint, tenant_endpoint
from shared.service.pagination import PageInput, decode_cursor, encode_cursor

# --- cursors and pages ---------------------------------------------------------------------


def test_cursor_round_trips() -> None:
    ts, id = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(ts, id)) == (ts, id)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not-a-cursor",
        "W10",
        "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwgIngiXQ",
        encode_cursor(datetime(2026, 1, 1), uuid.uuid4()),
        "%%%",
    ],
)
def test_bad_cursors_are_refused_naming_after(bad: str) -> None:
    with pytest.raises(DomainError) as exc:
        decode_cursor(bad)
    assert exc.value.code is ErrorCode.INVALID_CURSOR and exc.value.field == "after"


def test_page_size_limit_comes_from_settings(settings: Any) -> None:
    assert PageInput().first == 50
    assert PageInput(first=settings.max_page_size).first == settings.max_page_size
    for first in (settings.max_page_size + 1, 0, -1):
        with pytest.raises(ValidationError) as exc:
            PageInput(first=first)
        assert exc.value.errors()[0]["loc"] == ("first",)
    with pytest.raises(ValidationError):
        PageInput.model_validate({"first": 10, "offset": 5})  # unknown keys are refused, not ignored


# --- the endpoint decorators ---------------------------------------------------------------


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


class Teapot(Conflict):
    """A service's own error: a subclass of the shared hierarchy, mapped without shared code knowing it."""

    status = 418

    def __init__(self) -> None:
        super().__init__(ErrorCode.ILLEGAL_TRANSITION, "no coffee here", "drink")


@tenant_endpoint()
async def parse_body(call: TenantCall) -> Any:
    return {"name": call.parse(Body).name, "org": str(call.org_id), "actor": call.actor}


@tenant_endpoint()
async def write_then_fail(call: TenantCall) -> Any:
    await add_event(call.conn, call.org_id, "kit.test_rolled_back", {"n": 1})
    kind = call.request.query_params["kind"]
    if kind == "teapot":
        raise Teapot()
    if kind == "missing":
        raise NotFound("widget", "widgetId")
    await call.conn.execute("SELECT 'not a number'::int")  # asyncpg.DataError: the input's fault
    return {}


@tenant_endpoint(admin=True)
async def admin_only(call: TenantCall) -> Any:
    return {"ok": True}


@org_endpoint()
async def no_tx(call: OrgCall) -> Any:
    return {"org": str(call.org_id), "id": str(call.path_uuid("id"))}


@system_endpoint(callers=frozenset({"gateway"}))
async def gateway_only(call: Call) -> Any:
    return {"caller": call.identity.caller}


ROUTES = [
    Route("/kit/parse", parse_body, methods=["POST"]),
    Route("/kit/fail", write_then_fail, methods=["POST"]),
    Route("/kit/admin", admin_only, methods=["POST"]),
    Route("/kit/no-tx/{id}", no_tx, methods=["GET"]),
    Route("/kit/system", gateway_only, methods=["GET"]),
]


@pytest.fixture(scope="module")
async def kit_api(settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    from shared.service.app import create_service_app

    app = create_service_app("orders", ROUTES, settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kit.test") as client:
            yield client


def _auth(
    settings: Any, *, org: Any = None, role: str = "member", caller: str = "gateway", audience: str = "orders"
) -> dict[str, str]:
    token = service_tokens.mint(
        settings.service_token_secret,
        caller=caller,
        audience=audience,
        org_id=str(org) if org else None,
        subject="auth0|kit",
        role=role,
    )
    return {"authorization": f"Bearer {token}"}


async def test_token_audience_is_the_services_own_name(kit_api, settings, tenant) -> None:
    ok = await kit_api.post("/kit/parse", json={"name": "x"}, headers=_auth(settings, org=tenant.org_id))
    assert ok.status_code == 200 and ok.json() == {"name": "x", "org": str(tenant.org_id), "actor": "user:auth0|kit"}
    for headers in ({}, {"authorization": "Bearer nonsense"}, _auth(settings, org=tenant.org_id, audience="insights")):
        r = await kit_api.post("/kit/parse", json={"name": "x"}, headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"


async def test_refusals_name_the_code_and_field(kit_api, settings, tenant) -> None:
    h = _auth(settings, org=tenant.org_id)
    r = await kit_api.post("/kit/parse", json={"name": 3, "extra": 1}, headers=h)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["error"]["errors"]} == {"name", "extra"}
    r = await kit_api.post("/kit/parse", content=b"{not json", headers=h)
    assert r.status_code == 400 and r.json()["error"]["code"] == "MALFORMED_JSON"
    r = await kit_api.post("/kit/admin", headers=h)
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"
    assert (
        await kit_api.post("/kit/admin", headers=_auth(settings, org=tenant.org_id, role="admin"))
    ).status_code == 200
    r = await kit_api.post("/kit/parse", json={"name": "x"}, headers=_auth(settings))
    assert r.status_code == 403 and r.json()["error"]["code"] == "NO_ORGANISATION"
    r = await kit_api.get("/kit/no-tx/not-a-uuid", headers=h)
    assert r.status_code == 400 and r.json()["error"] == {
        "code": "INVALID_ID",
        "message": "is not a valid id",
        "field": "id",
    }
    assert (await kit_api.get("/kit/system", headers=_auth(settings))).json() == {"caller": "gateway"}
    r = await kit_api.get("/kit/system", headers=_auth(settings, caller="reports"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("kind", "status", "code", "field"),
    [
        ("teapot", 418, "ILLEGAL_TRANSITION", "drink"),
        ("missing", 404, "NOT_FOUND", "widgetId"),
        ("data", 422, "INVALID_INPUT", None),
    ],
)
async def test_a_refused_request_rolls_its_transaction_back(
    kit_api, settings, tenant, pool, kind, status, code, field
) -> None:
    from shared.db import tenant_tx

    r = await kit_api.post(f"/kit/fail?kind={kind}", headers=_auth(settings, org=tenant.org_id))
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["field"] == field
    async with tenant_tx(pool, tenant.org_id) as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE type = 'kit.test_rolled_back'") == 0
