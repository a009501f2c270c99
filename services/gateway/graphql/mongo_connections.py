"""MongoDB connections (reports service, services/reports/service/mongo_forwarding.py; issue 11): the documented
collections forwarded to an organisation's own MongoDB. Admins only (the reports service checks the role).

`connectMongo(input)` checks the target before storing anything (reachable, authenticated, allowed to write); a
refusal names `input.uri` with the reason. The URI carries credentials: it is stored encrypted and never answered,
`uri` being its masked form (scheme and hosts) and `host` the hosts. Another organisation's connection reads as
an unknown one: null for `mongoConnection`, `NOT_FOUND` naming `id` for mutations.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from services.gateway.clients import ServiceError
from services.gateway.graphql.context import Context, parse_id
from services.gateway.graphql.errors import UserError, from_service

Row = dict[str, Any]
BASE = "/internal/reports/mongo-connections"


@strawberry.enum
class MongoConnectionStatus(Enum):
    ACTIVE = "active"
    PAUSED = "paused"


@strawberry.input(description="Where to forward: a MongoDB URI, a database, the collections.")
class MongoConnectionInput:
    uri: str = strawberry.field(
        description="mongodb:// or mongodb+srv:// connection string with its credentials and TLS options; stored "
        "encrypted, never returned."
    )
    database: str
    collections: list[str] | None = strawberry.field(
        default=None, description="The documented collections to forward (see /docs); null: all of them."
    )


@strawberry.input(description="What to change; a field left null is kept.")
class MongoConnectionUpdateInput:
    uri: str | None = None
    database: str | None = None
    collections: list[str] | None = None


def _when(v: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(v) if v else None


@strawberry.type(description="One collection of a connection: what was forwarded and what is waiting.")
class MongoCollectionStatus:
    collection: str
    forwarded: int = strawberry.field(description="Documents written so far (a replayed batch counts again).")
    backlog: int | None = strawberry.field(
        description="Documents changed and not yet forwarded; null where not counted (events and devices, read by "
        "time from the insights service; organisation profiles, a snapshot)."
    )
    updated_at: dt.datetime | None


@strawberry.type(description="A pass that failed, and why.")
class MongoFailure:
    at: dt.datetime
    collection: str | None
    reason: str


@strawberry.type(description="An organisation's MongoDB the documented collections are forwarded to.")
class MongoConnection:
    id: strawberry.ID
    uri: str = strawberry.field(description="The URI with its credentials and options masked.")
    host: str
    database: str
    collections: list[str]
    status: MongoConnectionStatus
    failing: bool = strawberry.field(description="Whether the latest passes failed (retried with back-off).")
    failing_since: dt.datetime | None
    last_success_at: dt.datetime | None = strawberry.field(description="The latest pass that forwarded everything.")
    last_attempt_at: dt.datetime | None
    indexes_created_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    backlog: int | None = strawberry.field(description="The collections' backlogs added up (null if one is unknown).")
    collection_status: list[MongoCollectionStatus]
    failures: list[MongoFailure] = strawberry.field(description="The newest failures, newest first.")

    @classmethod
    def from_row(cls, r: Row) -> MongoConnection:
        return cls(
            id=strawberry.ID(r["id"]),
            uri=r["uri"],
            host=r["host"],
            database=r["database"],
            collections=list(r["collections"]),
            status=MongoConnectionStatus(r["status"]),
            failing=r["failing"],
            failing_since=_when(r["failingSince"]),
            last_success_at=_when(r["lastSuccessAt"]),
            last_attempt_at=_when(r["lastAttemptAt"]),
            indexes_created_at=_when(r["indexesCreatedAt"]),
            created_at=dt.datetime.fromisoformat(r["createdAt"]),
            updated_at=dt.datetime.fromisoformat(r["updatedAt"]),
            backlog=r["backlog"],
            collection_status=[
                MongoCollectionStatus(
                    collection=s["collection"],
                    forwarded=s["forwarded"],
                    backlog=s["backlog"],
                    updated_at=_when(s["updatedAt"]),
                )
                for s in r["collectionStatus"]
            ],
            failures=[
                MongoFailure(at=dt.datetime.fromisoformat(f["at"]), collection=f["collection"], reason=f["reason"])
                for f in r["failures"]
            ],
        )


@strawberry.type
class MongoConnectionPayload:
    connection: MongoConnection | None
    errors: list[UserError]


@strawberry.type
class DeleteMongoConnectionPayload:
    deleted: bool
    errors: list[UserError]


def _field(name: str | None) -> str | None:
    return name if name is None or name == "id" else f"input.{name}"


def _errors(exc: ServiceError) -> list[UserError]:
    if exc.errors:
        return [
            UserError(field=_field(e.get("field")), code=exc.code, message=e.get("message", exc.message))
            for e in exc.errors
        ]
    return [UserError(field=_field(exc.field), code=exc.code, message=exc.message)]


async def _change(info: Info[Context, None], method: str, path: str, body: Row | None = None) -> MongoConnectionPayload:
    try:
        r = await info.context.call("reports", method, path, json=body if body is not None else {})
    except ServiceError as exc:
        return MongoConnectionPayload(connection=None, errors=_errors(exc))
    return MongoConnectionPayload(connection=MongoConnection.from_row(r), errors=[])


@strawberry.type
class MongoConnectionsQuery:
    @strawberry.field(description="The organisation's MongoDB connections with their status (admins).")
    async def mongo_connections(self, info: Info[Context, None]) -> list[MongoConnection]:
        r = await info.context.call("reports", "GET", BASE)
        return [MongoConnection.from_row(x) for x in r["connections"]]

    @strawberry.field
    async def mongo_connection(self, info: Info[Context, None], id: strawberry.ID) -> MongoConnection | None:
        key = parse_id(id, "id")
        try:
            r = await info.context.call("reports", "GET", f"{BASE}/{key}")
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise from_service(exc) from None
        return MongoConnection.from_row(r)


@strawberry.type
class MongoConnectionsMutation:
    @strawberry.mutation(
        description="Connects a MongoDB (admins): checked first (reachable, authenticated, allowed to write), then "
        "its collections are forwarded, the retained window first, and kept current."
    )
    async def connect_mongo(self, info: Info[Context, None], input: MongoConnectionInput) -> MongoConnectionPayload:
        body: Row = {"uri": input.uri, "database": input.database}
        if input.collections is not None:
            body["collections"] = input.collections
        return await _change(info, "POST", BASE, body)

    @strawberry.mutation(description="Changes a connection's URI, database or collections (a new target is checked).")
    async def update_mongo_connection(
        self, info: Info[Context, None], id: strawberry.ID, input: MongoConnectionUpdateInput
    ) -> MongoConnectionPayload:
        key = parse_id(id, "id")
        body = {k: v for k, v in (("uri", input.uri), ("database", input.database), ("collections", input.collections))}
        return await _change(info, "PUT", f"{BASE}/{key}", {k: v for k, v in body.items() if v is not None})

    @strawberry.mutation(description="Stops forwarding until resumed (what changes meanwhile is forwarded then).")
    async def pause_mongo_connection(self, info: Info[Context, None], id: strawberry.ID) -> MongoConnectionPayload:
        return await _change(info, "POST", f"{BASE}/{parse_id(id, 'id')}/pause")

    @strawberry.mutation
    async def resume_mongo_connection(self, info: Info[Context, None], id: strawberry.ID) -> MongoConnectionPayload:
        return await _change(info, "POST", f"{BASE}/{parse_id(id, 'id')}/resume")

    @strawberry.mutation(description="Deletes a connection (what was forwarded stays in the target).")
    async def delete_mongo_connection(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> DeleteMongoConnectionPayload:
        try:
            await info.context.call("reports", "DELETE", f"{BASE}/{parse_id(id, 'id')}")
        except ServiceError as exc:
            return DeleteMongoConnectionPayload(deleted=False, errors=_errors(exc))
        return DeleteMongoConnectionPayload(deleted=True, errors=[])
