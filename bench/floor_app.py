"""The floor of the orders page: a bare strawberry schema answering the same 50 rows from memory.

Same response shape and scalar types as the gateway's `orders` (ID, enums, Decimal, DateTime,
nested customer / integration / category objects), served the same way (uvicorn, one worker,
`uvicorn --factory bench.floor_app:app`), with strawberry's parser and validation caches (the
gateway has them too) and nothing else: no authentication, no service calls, no DataLoaders.

BENCH_FLOOR_DATA names a JSON file holding the `edges` of a gateway response to copy.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal
from enum import Enum
from typing import Any

import strawberry
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache


@strawberry.enum
class OrderStatus(Enum):
    PENDING = "PENDING"
    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"


@strawberry.enum
class CommStatus(Enum):
    NA = "N/A"
    PENDING = "PENDING"
    SUCCESSFUL = "SUCCESSFUL"


@strawberry.enum
class CustomerKind(Enum):
    GENERIC = "generic"
    ANONYMOUS = "anonymous"


@strawberry.enum
class Channel(Enum):
    WEB = "web"
    MOBILE = "mobile"
    API = "api"
    PARTNER = "partner"


@strawberry.type
class Money:
    amount: Decimal
    currency: str


@strawberry.type
class Customer:
    id: strawberry.ID
    kind: CustomerKind
    email: str | None
    display_name: str


@strawberry.type
class Integration:
    id: strawberry.ID
    name: str
    channel: Channel


@strawberry.type
class Category:
    id: strawberry.ID
    name: str


@strawberry.type
class Order:
    id: strawberry.ID
    external_ref: str
    status: OrderStatus
    comm_status: CommStatus
    commission: Money
    created_at: dt.datetime
    customer: Customer | None
    integration: Integration | None
    category: Category | None


@strawberry.type
class OrderEdge:
    cursor: str
    node: Order


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class OrderConnection:
    edges: list[OrderEdge]
    page_info: PageInfo


def _edges(raw: list[dict[str, Any]]) -> list[OrderEdge]:
    out = []
    for e in raw:
        n = e["node"]
        c, i, k = n["customer"], n["integration"], n["category"]
        out.append(OrderEdge(cursor=e["cursor"], node=Order(
            id=strawberry.ID(n["id"]), external_ref=n["externalRef"], status=OrderStatus(n["status"]),
            comm_status=CommStatus[n["commStatus"]],
            commission=Money(amount=Decimal(n["commission"]["amount"]), currency=n["commission"]["currency"]),
            created_at=dt.datetime.fromisoformat(n["createdAt"]),
            customer=Customer(id=strawberry.ID(c["id"]), kind=CustomerKind[c["kind"]], email=c["email"],
                              display_name=c["displayName"]),
            integration=Integration(id=strawberry.ID(i["id"]), name=i["name"], channel=Channel[i["channel"]]),
            category=Category(id=strawberry.ID(k["id"]), name=k["name"]))))
    return out


def app() -> GraphQL:
    with open(os.environ["BENCH_FLOOR_DATA"]) as fh:
        edges = _edges(json.load(fh))
    connection = OrderConnection(edges=edges, page_info=PageInfo(has_next_page=True, end_cursor=edges[-1].cursor))

    @strawberry.type
    class Query:
        @strawberry.field
        def orders(self, first: int = 50, after: str | None = None) -> OrderConnection:
            return connection

    schema = strawberry.Schema(query=Query, extensions=[lambda: ParserCache(maxsize=512),
                                                        lambda: ValidationCache(maxsize=512)])
    return GraphQL(schema, graphql_ide=None, allow_queries_via_get=False)
