"""Mixpanel connections (insights service, services/insights/service/mixpanel.py; issue 11): events and contacts
forwarded to an organisation's Mixpanel project, and cohorts imported back as static segments. Admins only (the
insights service checks the role).

`connectMixpanel(input)` checks the credentials with Mixpanel before storing anything; a refusal names
`input.credentials` (or the field at fault: `input.region`, `input.eventTypes[i]`, `input.projectId`) with the
reason. The project token and the service account are stored encrypted and never answered. Another
organisation's connection reads as an unknown one: null for `mixpanelConnection`, `NOT_FOUND` for mutations.
`importMixpanelCohort` answers `NOT_FOUND` naming `cohortId` for a cohort the project does not have.
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
from shared.errors import ErrorCode

Row = dict[str, Any]
BASE = "/internal/mixpanel/connections"


@strawberry.enum
class MixpanelRegion(Enum):
    EU = "EU"
    US = "US"


@strawberry.input(description="A Mixpanel project to forward to, and what to forward.")
class MixpanelConnectionInput:
    project_id: str
    project_token: str = strawberry.field(description="Stored encrypted, never returned.")
    service_account_username: str = strawberry.field(description="Stored encrypted, never returned.")
    service_account_secret: str = strawberry.field(description="Stored encrypted, never returned.")
    region: str = strawberry.field(description="EU or US: the project's data residency.")
    forward_contacts: bool = True
    event_types: list[str] = strawberry.field(
        default_factory=list, description="The catalogue event types forwarded (eventTypes lists them)."
    )


@strawberry.input(description="What to change; a field left null is kept.")
class MixpanelConnectionUpdateInput:
    forward_contacts: bool | None = None
    event_types: list[str] | None = None


def _when(v: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(v) if v else None


@strawberry.type(description="An event Mixpanel refused, and why (not retried: it would fail the same way).")
class MixpanelFailure:
    event_id: strawberry.ID
    event_type: str
    occurred_at: dt.datetime
    field: str | None
    reason: str
    recorded_at: dt.datetime


@strawberry.type(description="An organisation's Mixpanel project its events and contacts are forwarded to.")
class MixpanelConnection:
    id: strawberry.ID
    project_id: str
    region: MixpanelRegion
    forward_contacts: bool
    event_types: list[str]
    paused: bool
    backfill_done: bool = strawberry.field(description="Whether the last 90 days before connecting were sent.")
    forwarded: int
    failed: int
    profiles: int = strawberry.field(description="Profile updates sent.")
    last_success_at: dt.datetime | None
    last_error: str | None = strawberry.field(description="Why the latest batch was not accepted (retried).")
    last_error_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    backlog: int | None = strawberry.field(description="Events still to forward.")
    failures: list[MixpanelFailure] = strawberry.field(description="Refused events, newest first.")
    created_at: dt.datetime

    @classmethod
    def from_row(cls, r: Row) -> MixpanelConnection:
        return cls(
            id=strawberry.ID(r["id"]),
            project_id=r["projectId"],
            region=MixpanelRegion(r["region"]),
            forward_contacts=r["forwardContacts"],
            event_types=list(r["eventTypes"]),
            paused=r["paused"],
            backfill_done=r["backfillDone"],
            forwarded=r["forwarded"],
            failed=r["failed"],
            profiles=r["profiles"],
            last_success_at=_when(r["lastSuccessAt"]),
            last_error=r["lastError"],
            last_error_at=_when(r["lastErrorAt"]),
            next_attempt_at=_when(r["nextAttemptAt"]),
            backlog=r["backlog"],
            failures=[
                MixpanelFailure(
                    event_id=strawberry.ID(f["eventId"]),
                    event_type=f["eventType"],
                    occurred_at=dt.datetime.fromisoformat(f["occurredAt"]),
                    field=f["field"],
                    reason=f["reason"],
                    recorded_at=dt.datetime.fromisoformat(f["recordedAt"]),
                )
                for f in r["failures"]
            ],
            created_at=dt.datetime.fromisoformat(r["createdAt"]),
        )


@strawberry.type(description="A cohort imported as a static segment: its latest import.")
class MixpanelCohortImport:
    connection_id: strawberry.ID
    cohort_id: str
    segment_id: strawberry.ID
    every_minutes: int | None = strawberry.field(description="Re-imported this often (null: on demand only).")
    imported_at: dt.datetime | None
    members: int = strawberry.field(description="Customers matched (by distinct id, else email).")
    added: int
    removed: int
    unmatched_count: int
    unmatched: list[str] = strawberry.field(description="Distinct ids no customer answers to (the first 1,000).")

    @classmethod
    def from_row(cls, r: Row) -> MixpanelCohortImport:
        return cls(
            connection_id=strawberry.ID(r["connectionId"]),
            cohort_id=str(r["cohortId"]),
            segment_id=strawberry.ID(r["segmentId"]),
            every_minutes=r["everyMinutes"],
            imported_at=_when(r["importedAt"]),
            members=r["members"],
            added=r["added"],
            removed=r["removed"],
            unmatched_count=r["unmatchedCount"],
            unmatched=list(r["unmatched"]),
        )


@strawberry.type
class MixpanelConnectionPayload:
    connection: MixpanelConnection | None
    errors: list[UserError]


@strawberry.type
class MixpanelCohortImportPayload:
    cohort_import: MixpanelCohortImport | None
    errors: list[UserError]


@strawberry.type
class DeleteMixpanelConnectionPayload:
    deleted: bool
    errors: list[UserError]


_INPUT_FIELDS = {"username": "serviceAccountUsername", "secret": "serviceAccountSecret"}


def _field(name: str | None, prefix: str) -> str | None:
    if name is None or name in ("id", "connectionId", "cohortId", "name", "everyMinutes"):
        return name
    return f"{prefix}{_INPUT_FIELDS.get(name, name)}"


def _errors(exc: ServiceError, prefix: str = "input.") -> list[UserError]:
    if exc.errors:
        return [
            UserError(field=_field(e.get("field"), prefix), code=exc.code, message=e.get("message", exc.message))
            for e in exc.errors
        ]
    return [UserError(field=_field(exc.field, prefix), code=exc.code, message=exc.message)]


async def _change(
    info: Info[Context, None], method: str, path: str, body: Row | None = None
) -> MixpanelConnectionPayload:
    try:
        r = await info.context.call("insights", method, path, json=body if body is not None else {})
    except ServiceError as exc:
        return MixpanelConnectionPayload(connection=None, errors=_errors(exc))
    return MixpanelConnectionPayload(connection=MixpanelConnection.from_row(r), errors=[])


@strawberry.type
class MixpanelQuery:
    @strawberry.field(description="The organisation's Mixpanel connections with their status (admins).")
    async def mixpanel_connections(self, info: Info[Context, None]) -> list[MixpanelConnection]:
        r = await info.context.call("insights", "GET", BASE)
        return [MixpanelConnection.from_row({**x, "failures": x.get("failures", [])}) for x in r]

    @strawberry.field
    async def mixpanel_connection(self, info: Info[Context, None], id: strawberry.ID) -> MixpanelConnection | None:
        key = parse_id(id, "id")
        try:
            r = await info.context.call("insights", "GET", f"{BASE}/{key}")
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise from_service(exc) from None
        return MixpanelConnection.from_row(r)

    @strawberry.field(description="The cohorts imported from a connection, with their latest import.")
    async def mixpanel_cohort_imports(
        self, info: Info[Context, None], connection_id: strawberry.ID
    ) -> list[MixpanelCohortImport]:
        key = parse_id(connection_id, "connectionId")
        try:
            r = await info.context.call("insights", "GET", f"{BASE}/{key}/cohorts")
        except ServiceError as exc:
            if exc.status == 404:
                return []
            raise from_service(exc) from None
        return [MixpanelCohortImport.from_row(x) for x in r]


@strawberry.type
class MixpanelMutation:
    @strawberry.mutation(
        description="Connects a Mixpanel project (admins): the credentials are checked with Mixpanel first; then the "
        "last 90 days are sent and new events follow as they are stored."
    )
    async def connect_mixpanel(
        self, info: Info[Context, None], input: MixpanelConnectionInput
    ) -> MixpanelConnectionPayload:
        body: Row = {
            "projectId": input.project_id,
            "projectToken": input.project_token,
            "username": input.service_account_username,
            "secret": input.service_account_secret,
            "region": input.region,
            "forwardContacts": input.forward_contacts,
            "eventTypes": input.event_types,
        }
        return await _change(info, "POST", BASE, body)

    @strawberry.mutation(description="Changes what a connection forwards.")
    async def update_mixpanel_connection(
        self, info: Info[Context, None], id: strawberry.ID, input: MixpanelConnectionUpdateInput
    ) -> MixpanelConnectionPayload:
        body = {"forwardContacts": input.forward_contacts, "eventTypes": input.event_types}
        return await _change(
            info, "PATCH", f"{BASE}/{parse_id(id, 'id')}", {k: v for k, v in body.items() if v is not None}
        )

    @strawberry.mutation(description="Stops forwarding until resumed (what is stored meanwhile is sent then).")
    async def pause_mixpanel_connection(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> MixpanelConnectionPayload:
        return await _change(info, "PATCH", f"{BASE}/{parse_id(id, 'id')}", {"paused": True})

    @strawberry.mutation
    async def resume_mixpanel_connection(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> MixpanelConnectionPayload:
        return await _change(info, "PATCH", f"{BASE}/{parse_id(id, 'id')}", {"paused": False})

    @strawberry.mutation(description="Deletes a connection (what was forwarded stays in Mixpanel).")
    async def delete_mixpanel_connection(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> DeleteMixpanelConnectionPayload:
        try:
            await info.context.call("insights", "DELETE", f"{BASE}/{parse_id(id, 'id')}")
        except ServiceError as exc:
            return DeleteMixpanelConnectionPayload(deleted=False, errors=_errors(exc))
        return DeleteMixpanelConnectionPayload(deleted=True, errors=[])

    @strawberry.mutation(
        description="Imports a Mixpanel cohort as a static segment named `name` (the first import), or re-imports it "
        "into its segment (members added and removed); `everyMinutes` re-imports it on a schedule."
    )
    async def import_mixpanel_cohort(
        self,
        info: Info[Context, None],
        connection_id: strawberry.ID,
        cohort_id: str,
        name: str | None = None,
        every_minutes: int | None = None,
    ) -> MixpanelCohortImportPayload:
        key = parse_id(connection_id, "connectionId")
        if not cohort_id.isdigit():
            return MixpanelCohortImportPayload(
                cohort_import=None,
                errors=[
                    UserError(
                        field="cohortId", code=ErrorCode.INVALID_INPUT, message="a Mixpanel cohort id is a number"
                    )
                ],
            )
        body: Row = {"cohortId": int(cohort_id), "name": name, "everyMinutes": every_minutes}
        try:
            r = await info.context.call("insights", "POST", f"{BASE}/{key}/cohorts", json=body)
        except ServiceError as exc:
            return MixpanelCohortImportPayload(cohort_import=None, errors=_errors(exc, prefix=""))
        return MixpanelCohortImportPayload(cohort_import=MixpanelCohortImport.from_row(r), errors=[])
