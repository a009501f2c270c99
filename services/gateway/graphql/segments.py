"""Segments (insights service; services/insights/service/segments.py has the rules).

Reads: `segments`, `segment(id)` with `memberCount` and keyset-paged `members` (each member resolved to its
customer through the orders loader: one call per page). Mutations (admins; a member gets `FORBIDDEN`):
`createSegment`, `updateSegment`, `deleteSegment`, returning payloads whose `errors` name the input field
(`input.definition.events.0.type`). A static segment's `customerIds` are checked with the orders service first:
an unknown id, or another organisation's, is refused naming `input.customerIds[i]` and nothing is stored.
An unknown segment id and another organisation's are the same: null for reads, `NOT_FOUND` for mutations.
The `segmentId` filters of `customers`, `orders`, `ordersSummary`, `analytics` and `insight` take these ids.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from services.gateway.clients import ServiceError
from services.gateway.graphql.common import DateRangeInput, PageInfo, check_page
from services.gateway.graphql.context import Context, parse_id
from services.gateway.graphql.customers import Customer
from services.gateway.graphql.errors import ErrorCode, PublicError, UserError, from_service, user_errors
from services.gateway.graphql.subscriptions import _partners_only

Row = dict[str, Any]
# The largest list a static segment is given in one mutation (imports go through the insights service).
MAX_STATIC_IDS = 10_000
# Ids per orders batch call when checking a static list (the orders batch endpoint's cap).
CHECK_BATCH = 500


@strawberry.enum
class SegmentKind(Enum):
    DYNAMIC = "dynamic"
    STATIC = "static"


@strawberry.type(description="A segment member: the customer's id, and the customer (null once erased).")
class SegmentMember:
    customer_id: strawberry.ID

    @strawberry.field
    async def customer(self, info: Info[Context, None]) -> Customer | None:
        row = await info.context.loader("orders", "customers").load(str(self.customer_id))
        return Customer.from_row(row) if row else None


@strawberry.type
class SegmentMemberEdge:
    cursor: str
    node: SegmentMember


@strawberry.type
class SegmentMemberConnection:
    edges: list[SegmentMemberEdge]
    page_info: PageInfo
    total_count: int = strawberry.field(description="The segment's member count (every page).")

    @strawberry.field
    def nodes(self) -> list[SegmentMember]:
        return [e.node for e in self.edges]


@strawberry.type(
    description="A named set of the organisation's customers: a saved filter (dynamic) or a list (static)."
)
class Segment:
    id: strawberry.ID
    name: str
    kind: SegmentKind
    definition: JSON | None = strawberry.field(
        description="A dynamic segment's filter (SegmentDefinitionInput's JSON)."
    )
    source: str = strawberry.field(description="Where its members come from: manual, or an import (mixpanel_cohort).")
    member_count: int
    computed_at: dt.datetime | None = strawberry.field(description="When its members were last computed or set.")
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, r: Row) -> Segment:
        return cls(
            id=strawberry.ID(r["id"]),
            name=r["name"],
            kind=SegmentKind(r["kind"]),
            definition=r["definition"],
            source=r["source"],
            member_count=r["memberCount"],
            computed_at=dt.datetime.fromisoformat(r["computedAt"]) if r["computedAt"] else None,
            created_at=dt.datetime.fromisoformat(r["createdAt"]),
            updated_at=dt.datetime.fromisoformat(r["updatedAt"]),
        )

    @strawberry.field(description="Its members in a stable order, by keyset (`first`/`after`).")
    async def members(
        self, info: Info[Context, None], first: int = 50, after: str | None = None
    ) -> SegmentMemberConnection:
        check_page(first, info.context.settings.max_page_size)
        try:
            page = await info.context.call(
                "insights", "POST", f"/internal/segments/{self.id}/members", json={"first": first, "after": after}
            )
        except ServiceError as exc:
            raise from_service(exc) from None
        edges = [
            SegmentMemberEdge(cursor=r["cursor"], node=SegmentMember(customer_id=strawberry.ID(r["customerId"])))
            for r in page["rows"]
        ]
        return SegmentMemberConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page["hasNextPage"], end_cursor=edges[-1].cursor if edges else None),
            total_count=page["segment"]["memberCount"],
        )


@strawberry.input(description='"Did event `type` at least `atLeast` times in the last `lastDays` days (at most 90)."')
class SegmentEventConditionInput:
    type: str = strawberry.field(description="An event type of `eventTypes`.")
    last_days: int
    at_least: int = 1
    category_id: strawberry.ID | None = None
    integration_id: strawberry.ID | None = None

    def to_json(self) -> Row:
        out: Row = {"type": self.type, "atLeast": self.at_least, "lastDays": self.last_days}
        if self.category_id is not None:
            out["categoryId"] = str(self.category_id)
        if self.integration_id is not None:
            out["integrationId"] = str(self.integration_id)
        return out


@strawberry.input(description="A customer filter; every condition given must hold (AND).")
class SegmentDefinitionInput:
    integration_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Visited at least one of these integrations."
    )
    first_seen: DateRangeInput | None = strawberry.field(default=None, description="First active day in the range.")
    last_seen: DateRangeInput | None = strawberry.field(default=None, description="Last active day in the range.")
    events: list[SegmentEventConditionInput] | None = None

    def to_json(self) -> Row:
        out: Row = {}
        if self.integration_ids is not None:
            out["integrationIds"] = [str(i) for i in self.integration_ids]
        if self.first_seen is not None:
            out["firstSeen"] = self.first_seen.to_json()
        if self.last_seen is not None:
            out["lastSeen"] = self.last_seen.to_json()
        if self.events is not None:
            out["events"] = [e.to_json() for e in self.events]
        return out


@strawberry.input(description="A dynamic segment (`definition`) or a static one (`customerIds`, possibly empty).")
class CreateSegmentInput:
    name: str
    definition: SegmentDefinitionInput | None = None
    customer_ids: list[strawberry.ID] | None = None


@strawberry.input(description="What to change; absent fields stay. `customerIds` replaces a static segment's list.")
class UpdateSegmentInput:
    name: str | None = None
    definition: SegmentDefinitionInput | None = None
    customer_ids: list[strawberry.ID] | None = None


@strawberry.type
class SegmentPayload:
    segment: Segment | None
    errors: list[UserError]


@strawberry.type
class DeleteSegmentPayload:
    deleted: bool
    errors: list[UserError]


def _prefixed(errors: list[UserError], prefix: str) -> list[UserError]:
    return [
        UserError(field=f"{prefix}{e.field}" if e.field else e.field, code=e.code, message=e.message) for e in errors
    ]


async def _checked_customers(info: Info[Context, None], raw: list[strawberry.ID]) -> tuple[list[str], list[UserError]]:
    """The ids as strings, or the refusals naming each id the orders service does not know for this organisation."""
    if len(raw) > MAX_STATIC_IDS:
        too_many = f"at most {MAX_STATIC_IDS}"
        return [], [UserError(field="input.customerIds", code=ErrorCode.INVALID_INPUT, message=too_many)]
    ids = [str(parse_id(c, f"input.customerIds[{i}]")) for i, c in enumerate(raw)]
    known: set[str] = set()
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), CHECK_BATCH):
        rows = await info.context.call(
            "orders", "POST", "/internal/customers/batch", json={"ids": unique[start : start + CHECK_BATCH]}
        )
        known |= {str(r["id"]) for r in rows}
    errors = [
        UserError(field=f"input.customerIds[{i}]", code=ErrorCode.NOT_FOUND, message="customer not found")
        for i, c in enumerate(ids)
        if c not in known
    ]
    return ids, errors


async def _body(
    info: Info[Context, None], input: CreateSegmentInput | UpdateSegmentInput
) -> tuple[Row, list[UserError]]:
    body: Row = {}
    if input.name is not None:
        body["name"] = input.name
    if input.definition is not None:
        body["definition"] = input.definition.to_json()
    if input.customer_ids is not None:
        ids, errors = await _checked_customers(info, input.customer_ids)
        if errors:
            return body, errors
        body["customerIds"] = ids
    return body, []


async def _mutate(
    info: Info[Context, None], method: str, path: str, json: Any = None
) -> tuple[Row | None, list[UserError]]:
    try:
        return await info.context.call("insights", method, path, json=json), []
    except ServiceError as exc:
        errors = user_errors(exc)
        return None, errors if exc.code == ErrorCode.NOT_FOUND and exc.field == "id" else _prefixed(errors, "input.")


@strawberry.type
class SegmentsQuery:
    @strawberry.field(description="The organisation's segments by name.")
    async def segments(self, info: Info[Context, None]) -> list[Segment]:
        _partners_only(info, "segments")
        return [Segment.from_row(r) for r in await info.context.call("insights", "GET", "/internal/segments")]

    @strawberry.field(description="A segment; null if unknown.")
    async def segment(self, info: Info[Context, None], id: strawberry.ID) -> Segment | None:
        _partners_only(info, "segment")
        try:
            row = await info.context.call("insights", "GET", f"/internal/segments/{parse_id(id, 'id')}")
        except ServiceError as exc:
            if exc.code == ErrorCode.NOT_FOUND:
                return None
            raise from_service(exc) from None
        return Segment.from_row(row)


@strawberry.type
class SegmentsMutation:
    @strawberry.mutation(description="Admins. Its members are computed (dynamic) or set (static) at once.")
    async def create_segment(self, info: Info[Context, None], input: CreateSegmentInput) -> SegmentPayload:
        _partners_only(info, "createSegment")
        if info.context.viewer.role != "admin":
            raise PublicError("only admins create segments", ErrorCode.FORBIDDEN, "createSegment")
        body, errors = await _body(info, input)
        if errors:
            return SegmentPayload(segment=None, errors=errors)
        row, errors = await _mutate(info, "POST", "/internal/segments", body)
        return SegmentPayload(segment=Segment.from_row(row) if row else None, errors=errors)

    @strawberry.mutation(description="Admins. A new definition or list recomputes its members.")
    async def update_segment(
        self, info: Info[Context, None], id: strawberry.ID, input: UpdateSegmentInput
    ) -> SegmentPayload:
        _partners_only(info, "updateSegment")
        if info.context.viewer.role != "admin":
            raise PublicError("only admins change segments", ErrorCode.FORBIDDEN, "updateSegment")
        sid = parse_id(id, "id")
        body, errors = await _body(info, input)
        if errors:
            return SegmentPayload(segment=None, errors=errors)
        row, errors = await _mutate(info, "PATCH", f"/internal/segments/{sid}", body)
        return SegmentPayload(segment=Segment.from_row(row) if row else None, errors=errors)

    @strawberry.mutation(description="Admins. Filters naming it answer NOT_FOUND afterwards.")
    async def delete_segment(self, info: Info[Context, None], id: strawberry.ID) -> DeleteSegmentPayload:
        _partners_only(info, "deleteSegment")
        row, errors = await _mutate(info, "DELETE", f"/internal/segments/{parse_id(id, 'id')}")
        return DeleteSegmentPayload(deleted=row is not None, errors=errors)
