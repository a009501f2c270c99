"""The floor of the orders page: a bare strawberry schema answering the same 50 rows from memory.

Its types are the gateway's own (`services.gateway.graphql.orders.OrderConnection` and everything
below it), copied at start-up with every resolver turned into a plain attribute: same field names,
same enums and scalars (ID, Decimal, DateTime), same nesting, so the floor follows any change of the
gateway's schema instead of drifting from a hand-kept copy. It is served the same way (uvicorn, one
worker, `uvicorn --factory bench.floor_app:app`), with strawberry's parser and validation caches (the
gateway has them too) and nothing else: no authentication, no service calls, no DataLoaders, no
resolvers.

BENCH_FLOOR_DATA names a JSON file holding the `edges` of a gateway response to copy.
"""

import datetime as dt
import json
import os
from decimal import Decimal
from typing import Any, Optional

import strawberry
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types.base import StrawberryList, StrawberryOptional, get_object_definition
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.private import is_private
from strawberry.utils.str_converters import to_camel_case

from services.gateway.graphql.orders import OrderConnection

_plain_types: dict[type, type] = {}


def _plain_annotation(t: Any) -> Any:
    """The Python annotation of a gateway field's type, with object types replaced by plain copies."""
    if isinstance(t, StrawberryOptional):
        return Optional[_plain_annotation(t.of_type)]  # noqa: UP045 (built at run time from a value)
    if isinstance(t, StrawberryList):
        return list[_plain_annotation(t.of_type)]  # type: ignore[misc]  # built at run time from a value
    if isinstance(t, StrawberryEnumDefinition):
        return t.wrapped_cls  # the gateway's enum itself
    if isinstance(t, type) and get_object_definition(t) is not None:
        return plain(t)
    return t  # scalars: str, int, bool, ID, Decimal, datetime


def plain(cls: type) -> type:
    """A copy of a gateway object type whose fields are all plain attributes (default None).

    Resolver fields keep their name and return type but resolve to whatever the object holds, as
    the floor's objects are built complete, from memory. Private fields are left out.
    """
    if cls in _plain_types:
        return _plain_types[cls]
    definition = get_object_definition(cls, strict=True)
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"__annotations__": annotations, "__module__": __name__}
    for f in definition.fields:
        if is_private(f.type):
            continue
        annotations[f.python_name] = _plain_annotation(f.type)
        namespace[f.python_name] = strawberry.field(default=None, name=f.graphql_name, description=f.description)
    copy = strawberry.type(
        type(definition.name, (), namespace), name=definition.name, description=definition.description
    )
    _plain_types[cls] = copy
    return copy


def _value(t: Any, raw: Any) -> Any:
    """A response value (as JSON) back into the Python value the type holds."""
    if raw is None:
        return None
    if isinstance(t, StrawberryOptional):
        return _value(t.of_type, raw)
    if isinstance(t, StrawberryList):
        return [_value(t.of_type, r) for r in raw]
    if isinstance(t, StrawberryEnumDefinition):
        return t.wrapped_cls[raw]  # GraphQL sends an enum's name, not its value
    if isinstance(t, type) and get_object_definition(t) is not None:
        return build(t, raw)
    if t is Decimal:
        return Decimal(raw)
    if t is dt.datetime:
        return dt.datetime.fromisoformat(raw)
    if t is strawberry.ID:
        return strawberry.ID(raw)
    return raw


def build(cls: type, raw: dict[str, Any]) -> Any:
    """An instance of a plain type from its part of a GraphQL response; fields not in it stay None."""
    definition = get_object_definition(cls, strict=True)
    values = {
        f.python_name: _value(f.type, raw.get(f.graphql_name or to_camel_case(f.python_name)))
        for f in definition.fields
    }
    return cls(**values)


def app() -> GraphQL:
    connection_type = plain(OrderConnection)
    with open(os.environ["BENCH_FLOOR_DATA"]) as fh:
        edges = json.load(fh)
    connection = build(
        connection_type, {"edges": edges, "pageInfo": {"hasNextPage": True, "endCursor": edges[-1]["cursor"]}}
    )

    @strawberry.type
    class Query:
        @strawberry.field
        def orders(self, first: int = 50, after: str | None = None) -> connection_type:  # type: ignore[valid-type]  # a class made at run time
            return connection

    schema = strawberry.Schema(
        query=Query, extensions=[lambda: ParserCache(maxsize=512), lambda: ValidationCache(maxsize=512)]
    )
    return GraphQL(schema, graphql_ide=None, allow_queries_via_get=False)
