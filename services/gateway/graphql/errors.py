"""GraphQL errors a client is meant to see: each names a code and, when it applies, the field.

Codes are `shared.errors.ErrorCode`, exposed as a schema enum so that dashboards can switch on
them with generated types instead of matching strings; on the wire (`extensions.code`, or a
`UserError.code`) a code is the same string as before.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError

from services.gateway.clients import ServiceError
from shared.errors import ErrorCode

# strawberry registers the enum on the class itself and returns it unchanged, so `ErrorCode` stays the
# shared enum (one set of names, typed for mypy) and is also the schema's `ErrorCode` type.
strawberry.enum(
    ErrorCode,
    name="ErrorCode",
    description="Why a request or a mutation was refused; the same codes as the REST API's.",
)

__all__ = ["ErrorCode", "PublicError", "UserError", "from_service", "user_errors"]


class PublicError(GraphQLError):
    """An expected refusal of a field: shown in production too (see `schema._should_mask`)."""

    def __init__(self, message: str, code: ErrorCode, field: str | None = None, **extra: Any) -> None:
        # The plain string, so that every serializer writes the value the clients have always seen.
        super().__init__(message, extensions={"code": ErrorCode(code).value, "field": field, **extra})


def from_service(exc: ServiceError, prefix: str = "") -> PublicError:
    field = f"{prefix}{exc.field}" if exc.field and prefix else exc.field
    return PublicError(exc.message, exc.code, field)


@strawberry.type(description="A refusal of a mutation, naming the input field and the reason.")
class UserError:
    field: str | None
    code: ErrorCode
    message: str


def user_errors(exc: ServiceError) -> list[UserError]:
    if exc.errors:
        return [
            UserError(field=e.get("field"), code=exc.code, message=e.get("message", exc.message)) for e in exc.errors
        ]
    return [UserError(field=exc.field, code=exc.code, message=exc.message)]
