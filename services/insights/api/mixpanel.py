"""Mixpanel connections: thin handlers over services/insights/service/mixpanel.py. Admins only.

Connecting and importing a cohort call Mixpanel before their own transactions (`org_endpoint`: a slow peer
never holds a transaction open); the rest run in one tenant transaction. No answer carries a credential.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.routing import Route

from services.insights.service import mixpanel as workflow
from shared.db import tenant_tx
from shared.service.endpoint import Call, OrgCall, TenantCall, org_endpoint, tenant_endpoint

Secret = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class Connect(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    project_id: str = Field(alias="projectId", max_length=20)
    project_token: Secret = Field(alias="projectToken")
    username: Secret
    secret: Secret
    region: str = Field(max_length=10)
    forward_contacts: bool = Field(default=True, alias="forwardContacts")
    event_types: list[str] = Field(default_factory=list, alias="eventTypes", max_length=200)


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    paused: bool | None = None
    forward_contacts: bool | None = Field(default=None, alias="forwardContacts")
    event_types: list[str] | None = Field(default=None, alias="eventTypes", max_length=200)


class ImportCohort(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    cohort_id: int = Field(alias="cohortId", ge=1, le=2**62)
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    every_minutes: int | None = Field(default=None, alias="everyMinutes", ge=15, le=7 * 24 * 60)


def _orders(call: Call) -> workflow.OrdersContacts:
    """This process's client of the orders service (cohort members matched to customers), made on first use."""
    state = call.request.app.state
    client: workflow.OrdersContacts | None = getattr(state, "mixpanel_orders", None)
    if client is None:
        client = state.mixpanel_orders = workflow.OrdersContacts.from_settings(call.service.settings)
    return client


@tenant_endpoint(admin=True)
async def list_connections(call: TenantCall) -> Any:
    return await workflow.list_connections(call.conn, call.org_id)


@org_endpoint(admin=True)
async def connect(call: OrgCall) -> Any:
    body = call.parse(Connect)
    created = await workflow.connect(
        call.pool,
        call.service.settings,
        call.org_id,
        workflow.ConnectInput(
            project_id=body.project_id,
            project_token=body.project_token,
            username=body.username,
            secret=body.secret,
            region=body.region,
            forward_contacts=body.forward_contacts,
            event_types=body.event_types,
        ),
    )
    async with tenant_tx(call.pool, call.org_id) as conn:
        return await workflow.status(conn, call.org_id, created.id)


@tenant_endpoint(admin=True)
async def get_connection(call: TenantCall) -> Any:
    return await workflow.status(call.conn, call.org_id, call.path_uuid("id"))


@tenant_endpoint(admin=True)
async def change_connection(call: TenantCall) -> Any:
    body, connection_id = call.parse(Change), call.path_uuid("id")
    await workflow.change(
        call.conn,
        call.org_id,
        connection_id,
        paused=body.paused,
        forward_contacts=body.forward_contacts,
        event_types=body.event_types,
    )
    return await workflow.status(call.conn, call.org_id, connection_id)


@tenant_endpoint(admin=True)
async def delete_connection(call: TenantCall) -> Any:
    await workflow.delete(call.conn, call.org_id, call.path_uuid("id"))
    return {"deleted": True}


@org_endpoint(admin=True)
async def import_cohort(call: OrgCall) -> Any:
    body = call.parse(ImportCohort)
    return await workflow.import_cohort(
        call.pool,
        call.service.settings,
        _orders(call),
        call.org_id,
        call.path_uuid("id"),
        body.cohort_id,
        name=body.name,
        every_minutes=body.every_minutes,
    )


@tenant_endpoint(admin=True)
async def list_cohorts(call: TenantCall) -> Any:
    return await workflow.cohort_imports(call.conn, call.org_id, call.path_uuid("id"))


routes = [
    Route("/internal/mixpanel/connections", list_connections, methods=["GET"]),
    Route("/internal/mixpanel/connections", connect, methods=["POST"]),
    Route("/internal/mixpanel/connections/{id}", get_connection, methods=["GET"]),
    Route("/internal/mixpanel/connections/{id}", change_connection, methods=["PATCH"]),
    Route("/internal/mixpanel/connections/{id}", delete_connection, methods=["DELETE"]),
    Route("/internal/mixpanel/connections/{id}/cohorts", import_cohort, methods=["POST"]),
    Route("/internal/mixpanel/connections/{id}/cohorts", list_cohorts, methods=["GET"]),
]
