"""GraphQL errors a client is meant to see: each names a code and, when it applies, the field."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError

from services.gateway.orders_client import ServiceError


class PublicError(GraphQLError):
    def __init__(self, message: str, code: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message, extensions={"code": code, "field": field, **extra})


def from_service(exc: ServiceError, prefix: str = "") -> PublicError:
    field = f"{prefix}{exc.field}" if exc.field and prefix else exc.field
    return PublicError(exc.message, exc.code, field)


@strawberry.type(description="A refusal of a mutation, naming the input field and the reason.")
class UserError:
    field: str | None
    code: str
    message: str


def user_errors(exc: ServiceError) -> list[UserError]:
    if exc.errors:
        return [UserError(field=e.get("field"), code=exc.code, message=e.get("message", exc.message)) for e in exc.errors]
    return [UserError(field=exc.field, code=exc.code, message=exc.message)]
