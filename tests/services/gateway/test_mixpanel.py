# ruff: noqa: F811  (the Mixpanel fixtures are imported by name)
"""Mixpanel connections through GraphQL: a gateway and an insights API of this module's own (real processes'
code over real sockets), the insights API pointed at the fake Mixpanel. Bad credentials and an unknown region
refused naming the field with nothing stored, credentials never readable back, admins only, status after
forwarding, cohort import and an unknown cohort, and another organisation's connection unknown everywhere."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.insights.service import mixpanel as workflow
from services.insights.service import mixpanel_peer
from tests.factories import gql
from tests.services.insights.mixpanel_support import (  # noqa: F401  (fixtures)
    drain,
    fake_mixpanel,
    mixpanel_settings,
    new_project,
    orders_contacts,
    store_events,
)

FIELDS = """id projectId region forwardContacts eventTypes paused backfillDone forwarded failed profiles
  lastSuccessAt lastError backlog failures { eventId eventType field reason } createdAt"""
CONNECT = f"""mutation($input: MixpanelConnectionInput!) {{
  connectMixpanel(input: $input) {{ connection {{ {FIELDS} }} errors {{ field code message }} }}
}}"""
LIST = f"{{ mixpanelConnections {{ {FIELDS} }} }}"
GET = f"query($id: ID!) {{ mixpanelConnection(id: $id) {{ {FIELDS} }} }}"
PAUSE = "mutation($id: ID!) { pauseMixpanelConnection(id: $id) { connection { paused } errors { field code } } }"
RESUME = "mutation($id: ID!) { resumeMixpanelConnection(id: $id) { connection { paused } errors { field code } } }"
DELETE = "mutation($id: ID!) { deleteMixpanelConnection(id: $id) { deleted errors { field code } } }"
IMPORT = """mutation($c: ID!, $cohort: String!, $name: String) {
  importMixpanelCohort(connectionId: $c, cohortId: $cohort, name: $name) {
    cohortImport { cohortId segmentId members added removed unmatchedCount unmatched } errors { field code message }
  }
}"""


@pytest.fixture(scope="module")
async def mp_gateway(
    gateway_settings: Any, mixpanel_settings: Any, asgi_server: Any
) -> AsyncIterator[httpx.AsyncClient]:
    from services.gateway.app import create_app as gateway_app
    from services.insights.api.app import create_app as insights_app

    insights = insights_app(mixpanel_settings)
    async with insights.router.lifespan_context(insights), asgi_server(insights) as url:
        gw = gateway_app(dataclasses.replace(gateway_settings, insights_api_url=url))
        async with gw.router.lifespan_context(gw):
            transport = httpx.ASGITransport(app=gw)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
                yield client
    await mixpanel_peer.close_sessions()


def _input(project: Any, **kw: Any) -> dict[str, Any]:
    values = {
        "projectId": project.project_id,
        "projectToken": project.token,
        "serviceAccountUsername": project.username,
        "serviceAccountSecret": project.secret,
        "region": project.region,
        "forwardContacts": False,
        "eventTypes": ["page_view", "order_placed"],
    }
    return {**values, **kw}


async def test_connecting_checks_the_credentials_and_never_shows_them(mp_gateway, fake_mixpanel, tenant) -> None:
    project = await new_project(fake_mixpanel)
    for change, field in (
        ({"serviceAccountSecret": "wrong"}, "input.credentials"),
        ({"region": "APAC"}, "input.region"),
        ({"eventTypes": ["page_view", "nope"]}, "input.eventTypes[1]"),
    ):
        data = await gql(mp_gateway, CONNECT, {"input": _input(project, **change)}, token=tenant.admin_token)
        payload = data["data"]["connectMixpanel"]
        assert payload["connection"] is None and payload["errors"][0]["field"] == field, (change, payload)
    assert (await gql(mp_gateway, LIST, token=tenant.admin_token))["data"]["mixpanelConnections"] == []

    member = await gql(mp_gateway, CONNECT, {"input": _input(project)}, token=tenant.member_token)
    assert "FORBIDDEN" in str(member) and not (member.get("data") or {}).get("connectMixpanel", {}).get("connection")

    data = await gql(mp_gateway, CONNECT, {"input": _input(project)}, token=tenant.admin_token)
    connection = data["data"]["connectMixpanel"]["connection"]
    assert connection["projectId"] == project.project_id and connection["region"] == "US"
    assert connection["eventTypes"] == ["page_view", "order_placed"] and connection["backlog"] == 0
    listed = await mp_gateway.post(
        "/graphql", json={"query": LIST}, headers={"authorization": f"Bearer {tenant.admin_token}"}
    )
    for secret in (project.secret, project.token, project.username):
        assert secret not in listed.text and secret not in str(data)
    # The schema has no field that could carry them back.
    types = await gql(
        mp_gateway, '{ __type(name: "MixpanelConnection") { fields { name } } }', token=tenant.admin_token
    )
    names = {f["name"] for f in types["data"]["__type"]["fields"]} if types.get("data") else set()
    assert not names & {"projectToken", "serviceAccountUsername", "serviceAccountSecret", "secret", "token"}


async def test_status_pause_resume_delete_and_cohort_import(
    mp_gateway, insights_pool, mixpanel_settings, fake_mixpanel, orders_contacts, tenant
) -> None:
    project = await new_project(fake_mixpanel)
    data = await gql(mp_gateway, CONNECT, {"input": _input(project)}, token=tenant.admin_token)
    cid = data["data"]["connectMixpanel"]["connection"]["id"]
    await store_events(insights_pool, tenant.org_id, tenant.integration_id, [{"type": "page_view"}] * 3)
    shown = (await gql(mp_gateway, GET, {"id": cid}, token=tenant.admin_token))["data"]["mixpanelConnection"]
    assert shown["backlog"] == 3 and shown["forwarded"] == 0
    await drain(insights_pool, mixpanel_settings, orders_contacts, tenant.org_id, uuid.UUID(cid))
    shown = (await gql(mp_gateway, GET, {"id": cid}, token=tenant.admin_token))["data"]["mixpanelConnection"]
    assert shown["backlog"] == 0 and shown["forwarded"] == 3 and shown["lastSuccessAt"] and shown["backfillDone"]

    paused = await gql(mp_gateway, PAUSE, {"id": cid}, token=tenant.admin_token)
    assert paused["data"]["pauseMixpanelConnection"]["connection"]["paused"] is True
    resumed = await gql(mp_gateway, RESUME, {"id": cid}, token=tenant.admin_token)
    assert resumed["data"]["resumeMixpanelConnection"]["connection"]["paused"] is False

    await fake_mixpanel.add_cohort(project.project_id, 42, [{"distinct_id": "someone-else"}])
    imported = await gql(
        mp_gateway, IMPORT, {"c": cid, "cohort": "42", "name": "From Mixpanel"}, token=tenant.admin_token
    )
    result = imported["data"]["importMixpanelCohort"]
    assert result["errors"] == [] and result["cohortImport"]["unmatched"] == ["someone-else"]
    assert result["cohortImport"]["members"] == 0 and result["cohortImport"]["unmatchedCount"] == 1
    unknown = await gql(mp_gateway, IMPORT, {"c": cid, "cohort": "43", "name": "X"}, token=tenant.admin_token)
    [error] = unknown["data"]["importMixpanelCohort"]["errors"]
    assert error["field"] == "cohortId" and error["code"] == "NOT_FOUND"

    deleted = await gql(mp_gateway, DELETE, {"id": cid}, token=tenant.admin_token)
    assert deleted["data"]["deleteMixpanelConnection"]["deleted"] is True
    assert (await gql(mp_gateway, GET, {"id": cid}, token=tenant.admin_token))["data"]["mixpanelConnection"] is None


async def test_another_organisations_connection_is_unknown_on_every_path(
    mp_gateway, fake_mixpanel, tenant, other_tenant
) -> None:
    project = await new_project(fake_mixpanel)
    data = await gql(mp_gateway, CONNECT, {"input": _input(project)}, token=other_tenant.admin_token)
    theirs = data["data"]["connectMixpanel"]["connection"]["id"]
    await fake_mixpanel.add_cohort(project.project_id, 5, [{"distinct_id": "a"}])
    token = tenant.admin_token
    assert (await gql(mp_gateway, GET, {"id": theirs}, token=token))["data"]["mixpanelConnection"] is None
    assert (await gql(mp_gateway, LIST, token=token))["data"]["mixpanelConnections"] == []
    for op, name in (
        (PAUSE, "pauseMixpanelConnection"),
        (RESUME, "resumeMixpanelConnection"),
        (DELETE, "deleteMixpanelConnection"),
    ):
        [error] = (await gql(mp_gateway, op, {"id": theirs}, token=token))["data"][name]["errors"]
        assert error["code"] == "NOT_FOUND", (name, error)
    imported = await gql(mp_gateway, IMPORT, {"c": theirs, "cohort": "5", "name": "Theirs"}, token=token)
    assert imported["data"]["importMixpanelCohort"]["errors"][0]["code"] == "NOT_FOUND"
    # ... and theirs is untouched.
    still = await gql(mp_gateway, GET, {"id": theirs}, token=other_tenant.admin_token)
    assert still["data"]["mixpanelConnection"]["paused"] is False
    assert workflow.MIXPANEL_QUEUE == "insights.mixpanel"
