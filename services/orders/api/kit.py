"""The endpoint decorator: service-token auth, tenant transaction, validation and errors."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import jwt
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from services.orders.domain.commission import IllegalTransition
from services.orders.errors import DomainError, Forbidden
from shared import logging as slog
from shared.auth import service_tokens
from shared.db import tenant_tx
from shared.http import JSON, BadJSON, error, json_body, validation_error

logger = logging.getLogger("orders.api")
M = TypeVar("M", bound=BaseModel)


@dataclass
class Call:
    request: Request
    identity: service_tokens.ServiceIdentity
    conn: asyncpg.Connection | None
    org_id: UUID | None
    body: Any

    def parse(self, model: type[M], data: Any = None, prefix: str = "") -> M:
        try:
            return model.model_validate(self.body if data is None else data)
        except ValidationError as exc:
            raise InvalidInput(exc, prefix) from None

    def path_uuid(self, name: str) -> UUID:
        try:
            return UUID(self.request.path_params[name])
        except ValueError:
            raise DomainError("INVALID_ID", "is not a valid id", name) from None

    @property
    def actor(self) -> str:
        return f"user:{self.identity.subject}" if self.identity.subject else f"service:{self.identity.caller}"


class InvalidInput(Exception):
    def __init__(self, exc: ValidationError, prefix: str) -> None:
        self.exc, self.prefix = exc, prefix


def endpoint(*, org: bool = True, admin: bool = False, tx: bool = True) -> Callable[[Callable[[Call], Awaitable[Any]]], Callable[[Request], Awaitable[Response]]]:
    def decorate(fn: Callable[[Call], Awaitable[Any]]) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(fn)
        async def handler(request: Request) -> Response:
            state = request.app.state
            auth = request.headers.get("authorization", "")
            if not auth.startswith("Bearer "):
                return error(401, "UNAUTHENTICATED", "service token required")
            try:
                identity = service_tokens.verify(state.settings.service_token_secret, auth[7:], audience="orders")
            except jwt.PyJWTError:
                return error(401, "UNAUTHENTICATED", "invalid service token")
            if org and not identity.org_id:
                return error(403, "NO_ORGANISATION", "this call needs an organisation")
            if admin and identity.role != "admin":
                return error(403, "FORBIDDEN", "this action needs the admin role")
            try:
                body = await json_body(request) if request.method in ("POST", "PATCH", "PUT") else None
            except BadJSON:
                return error(400, "MALFORMED_JSON", "request body is not valid JSON")
            org_id = UUID(identity.org_id) if identity.org_id else None
            token = slog.org_id.set(identity.org_id)
            try:
                if tx and org_id is not None:
                    async with tenant_tx(state.pool, org_id) as conn:
                        result = await fn(Call(request, identity, conn, org_id, body))
                else:
                    result = await fn(Call(request, identity, None, org_id, body))
            except InvalidInput as exc:
                return validation_error(exc.exc, exc.prefix)
            except DomainError as exc:
                return error(exc.status, exc.code, exc.message, exc.field)
            except Forbidden as exc:
                return error(403, exc.code, exc.message)
            except IllegalTransition as exc:
                return error(409, "ILLEGAL_TRANSITION", str(exc), exc.field)
            except asyncpg.DataError as exc:
                return error(422, "INVALID_INPUT", str(exc).split("\n")[0])
            finally:
                slog.org_id.reset(token)
            return result if isinstance(result, Response) else JSON(result)

        return handler

    return decorate
