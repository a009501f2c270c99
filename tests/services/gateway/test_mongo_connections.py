"""MongoDB connections through GraphQL (issue 11), against the local peer: connect, read the status, pause, resume,
update, delete; the credentials never readable back (answers masked, the stored column a SecretBox token); a
refusal names `input.uri` and stores nothing; members are refused; organisation B neither sees nor changes A's
connection (indistinguishable from an unknown id)."""

from __future__ import annotations

import uuid
from typing import Any

from shared.db import tenant_tx
from shared.secrets import secret_box
from tests.factories import gql
from tests.services.reports.mongo_peer import AUTH_DATABASE, USERS, Peer, free_port, mongo_auth_peer  # noqa: F401

FIELDS = """id uri host database collections status failing lastSuccessAt lastAttemptAt indexesCreatedAt backlog
            collectionStatus { collection forwarded backlog updatedAt } failures { at collection reason }"""
CONNECT = f"""mutation($input: MongoConnectionInput!) {{
  connectMongo(input: $input) {{ connection {{ {FIELDS} }} errors {{ field code message }} }} }}"""
LIST = f"{{ mongoConnections {{ {FIELDS} }} }}"
ONE = f"query($id: ID!) {{ mongoConnection(id: $id) {{ {FIELDS} }} }}"
PAUSE = "mutation($id: ID!) { pauseMongoConnection(id: $id) { connection { status } errors { field code } } }"
RESUME = "mutation($id: ID!) { resumeMongoConnection(id: $id) { connection { status } errors { field code } } }"
DELETE = "mutation($id: ID!) { deleteMongoConnection(id: $id) { deleted errors { field code } } }"
UPDATE = f"""mutation($id: ID!, $input: MongoConnectionUpdateInput!) {{
  updateMongoConnection(id: $id, input: $input) {{ connection {{ {FIELDS} }} errors {{ field code message }} }} }}"""


async def test_connect_read_pause_resume_update_delete_with_credentials_never_readable(
    gateway: Any,
    reports_pool: Any,
    mongo_auth_peer: Peer,  # noqa: F811
    tenant: Any,
    other_tenant: Any,
) -> None:
    peer = mongo_auth_peer
    secret = USERS["writer"]
    uri = peer.uri("writer", secret, AUTH_DATABASE) + "&tls=false"
    body = await gql(
        gateway,
        CONNECT,
        {"input": {"uri": uri, "database": AUTH_DATABASE, "collections": ["orders", "contact_profiles"]}},
        token=tenant.admin_token,
    )
    payload = body["data"]["connectMongo"]
    assert payload["errors"] == [], payload
    c = payload["connection"]
    assert c["uri"] == f"mongodb://***:***@127.0.0.1:{peer.port}" and c["host"] == f"127.0.0.1:{peer.port}"
    assert c["database"] == AUTH_DATABASE and c["collections"] == ["contact_profiles", "orders"]
    assert c["status"] == "ACTIVE" and c["failing"] is False
    # Never readable back: not in any answer, and the stored column is a token only the key opens.
    listed = await gql(gateway, LIST, token=tenant.admin_token)
    one = await gql(gateway, ONE, {"id": c["id"]}, token=tenant.admin_token)
    for answer in (body, listed, one):
        assert secret not in str(answer) and "writer" not in str(answer)
    assert [x["id"] for x in listed["data"]["mongoConnections"]] == [c["id"]]
    async with tenant_tx(reports_pool, tenant.org_id) as conn:
        stored = await conn.fetchval(
            "SELECT uri_secret FROM mongo_connections WHERE org_id = $1 AND id = $2", tenant.org_id, uuid.UUID(c["id"])
        )
    assert stored.startswith("enc:v1:") and secret not in stored and "writer" not in stored
    assert secret_box().decrypt(stored) == uri

    # Members are refused (the credentials' target is the admins' business).
    member = await gql(gateway, LIST, token=tenant.member_token)
    assert member["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # Organisation B: A's connection is an unknown id for every path, and B's list is empty.
    theirs = await gql(gateway, LIST, token=other_tenant.admin_token)
    assert theirs["data"]["mongoConnections"] == []
    assert (await gql(gateway, ONE, {"id": c["id"]}, token=other_tenant.admin_token))["data"]["mongoConnection"] is None
    unknown = str(uuid.uuid4())
    for query in (PAUSE, RESUME, DELETE):
        name = query.split("{")[1].split("(")[0].strip()
        for id in (c["id"], unknown):
            r = (await gql(gateway, query, {"id": id}, token=other_tenant.admin_token))["data"][name]
            assert r["errors"] == [{"field": "id", "code": "NOT_FOUND"}], (name, r)
    r = await gql(gateway, UPDATE, {"id": c["id"], "input": {"database": "x"}}, token=other_tenant.admin_token)
    assert r["data"]["updateMongoConnection"]["errors"][0]["code"] == "NOT_FOUND"
    assert (await gql(gateway, ONE, {"id": c["id"]}, token=tenant.admin_token))["data"]["mongoConnection"][
        "database"
    ] == AUTH_DATABASE

    # Pause and resume; update the collections (the URI kept, not re-entered); a new URI is checked again.
    paused = await gql(gateway, PAUSE, {"id": c["id"]}, token=tenant.admin_token)
    assert paused["data"]["pauseMongoConnection"]["connection"]["status"] == "PAUSED"
    resumed = await gql(gateway, RESUME, {"id": c["id"]}, token=tenant.admin_token)
    assert resumed["data"]["resumeMongoConnection"]["connection"]["status"] == "ACTIVE"
    updated = await gql(
        gateway, UPDATE, {"id": c["id"], "input": {"collections": ["events"]}}, token=tenant.admin_token
    )
    assert updated["data"]["updateMongoConnection"]["connection"]["collections"] == ["events"]
    wrong = peer.uri("writer", "Not-the-pw-9", AUTH_DATABASE)
    refused = await gql(gateway, UPDATE, {"id": c["id"], "input": {"uri": wrong}}, token=tenant.admin_token)
    [error] = refused["data"]["updateMongoConnection"]["errors"]
    assert error["field"] == "input.uri" and "authentication failed" in error["message"]
    assert "Not-the-pw-9" not in str(refused)
    async with tenant_tx(reports_pool, tenant.org_id) as conn:  # the refused URI replaced nothing
        assert secret_box().decrypt(await conn.fetchval("SELECT uri_secret FROM mongo_connections")) == uri

    deleted = await gql(gateway, DELETE, {"id": c["id"]}, token=tenant.admin_token)
    assert deleted["data"]["deleteMongoConnection"] == {"deleted": True, "errors": []}
    assert (await gql(gateway, LIST, token=tenant.admin_token))["data"]["mongoConnections"] == []


async def test_refusals_name_the_field_and_store_nothing(
    gateway: Any,
    mongo_auth_peer: Peer,  # noqa: F811
    tenant: Any,
) -> None:
    peer = mongo_auth_peer
    cases = [
        ({"uri": f"mongodb://127.0.0.1:{free_port()}/", "database": "d"}, "input.uri", "cannot reach"),
        ({"uri": peer.uri("reader", USERS["reader"], AUTH_DATABASE), "database": AUTH_DATABASE}, "input.uri",
         "may not write"),
        ({"uri": "http://example.com", "database": "d"}, "input.uri", "mongodb://"),
        ({"uri": peer.uri(), "database": "d", "collections": ["activity_feed"]}, "input.collections[0]", "unknown"),
        ({"uri": peer.uri(), "database": "has space"}, "input.database", "database name"),
    ]  # fmt: skip
    for given, field, reason in cases:
        r = await gql(gateway, CONNECT, {"input": given}, token=tenant.admin_token)
        [error] = r["data"]["connectMongo"]["errors"]
        assert error["field"] == field and reason in error["message"], (given, error)
        assert r["data"]["connectMongo"]["connection"] is None
        assert USERS["reader"] not in str(r)
    assert (await gql(gateway, LIST, token=tenant.admin_token))["data"]["mongoConnections"] == []
