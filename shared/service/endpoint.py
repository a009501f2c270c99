"""The endpoint decorators of every internal API.

An internal endpoint trusts only a service token (minted by the gateway or another service
for this service's audience); the organisation it works for comes from that token, never
from the request. Three shapes, by what the handler needs:

- `tenant_endpoint`: an organisation and a transaction in which row-level security admits
  only that organisation's rows (`TenantCall.conn`). Most endpoints.
- `org_endpoint`: an organisation, no transaction (streams, calls that open their own).
- `system_endpoint`: no organisation (sign-in lookups, webhook routing).

Provider users (role `provider`, a provider's own staff) are refused by every endpoint unless it
says `providers=True`, and such an endpoint scopes what it reads and writes to
`call.provider_id`: a new endpoint is closed to them until someone decides otherwise.

Expected failures are `shared.errors.DomainError`s, answered as JSON errors naming the code,
the field and the reason; invalid input answers 422 with every field's reason.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
import jwt
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from shared import logging as slog
from shared.auth import service_tokens
from shared.db import tenant_tx
from shared.errors import DomainError, ErrorCode
from shared.health import DependencyUnavailable
from shared.http import JSON, BadJSON, error, json_body, validation_error
from shared.service.app import ServiceState, service_state
from shared.service.client import ServiceError, Unavailable

M = TypeVar("M", bound=BaseModel)
C = TypeVar("C", bound="Call")
Handler = Callable[[Request], Awaitable[Response]]


class InvalidInput(Exception):
    """Input that failed validation; answered 422 with every field's reason."""

    def __init__(self, exc: ValidationError, prefix: str) -> None:
        super().__init__(str(exc))
        self.exc, self.prefix = exc, prefix


@dataclass
class Call:
    """One request to an internal endpoint: who calls, for what, with which body."""

    request: Request
    service: ServiceState
    identity: service_tokens.ServiceIdentity
    body: Any

    def parse(self, model: type[M], data: Any = None, prefix: str = "") -> M:
        """`data` (default: the body) validated as `model`; field names in errors carry `prefix`."""
        try:
            return model.model_validate(self.body if data is None else data)
        except ValidationError as exc:
            raise InvalidInput(exc, prefix) from None

    def path_uuid(self, name: str) -> UUID:
        return _uuid(self.request.path_params[name], name)

    def query_uuid(self, name: str) -> UUID | None:
        raw = self.request.query_params.get(name)
        return _uuid(raw, name) if raw else None

    @property
    def pool(self) -> asyncpg.Pool:
        return self.service.pool

    @property
    def provider_id(self) -> UUID | None:
        """The provider a provider user works for (None for everyone else): scope every row to it."""
        return UUID(self.identity.provider_id) if self.identity.provider_id else None

    @property
    def actor(self) -> str:
        """Who acts, as recorded in ledgers: the signed-in user, else the calling service."""
        return f"user:{self.identity.subject}" if self.identity.subject else f"service:{self.identity.caller}"


@dataclass
class OrgCall(Call):
    org_id: UUID


@dataclass
class TenantCall(OrgCall):
    conn: asyncpg.Connection


def _uuid(raw: str, name: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise DomainError(ErrorCode.INVALID_ID, "is not a valid id", name) from None


async def _authenticate(
    request: Request, *, org: bool, admin: bool, callers: frozenset[str] | None, providers: bool = False
) -> tuple[ServiceState, service_tokens.ServiceIdentity, Any]:
    state = service_state(request.app)
    auth = request.headers.get("authorization", "")
    if not auth.startswith("Bearer "):
        raise DomainError(ErrorCode.UNAUTHENTICATED, "service token required", status=401)
    try:
        identity = service_tokens.verify(state.settings.service_token_secret, auth[7:], audience=state.name)
    except jwt.PyJWTError:
        raise DomainError(ErrorCode.UNAUTHENTICATED, "invalid service token", status=401) from None
    if callers is not None and identity.caller not in callers:
        raise DomainError(ErrorCode.FORBIDDEN, f"only {', '.join(sorted(callers))} may call this", status=403)
    if org and not identity.org_id:
        raise DomainError(ErrorCode.NO_ORGANISATION, "this call needs an organisation", status=403)
    if admin and identity.role != "admin":
        raise DomainError(ErrorCode.FORBIDDEN, "this action needs the admin role", status=403)
    if identity.role == "provider" and not providers:
        raise DomainError(ErrorCode.FORBIDDEN, "provider users see and update their provider's orders only", status=403)
    try:
        body = await json_body(request) if request.method in ("POST", "PATCH", "PUT") else None
    except BadJSON:
        raise DomainError(ErrorCode.MALFORMED_JSON, "request body is not valid JSON") from None
    return state, identity, body


def _answer(result: Any) -> Response:
    return result if isinstance(result, Response) else JSON(result)


async def _guarded(run: Callable[[], Awaitable[Any]]) -> Response:
    """Runs the handler; expected failures become error answers (and roll the transaction back)."""
    try:
        return _answer(await run())
    except InvalidInput as exc:
        return validation_error(exc.exc, exc.prefix)
    except DomainError as exc:
        return error(exc.status, exc.code, exc.message, exc.field)
    except asyncpg.DataError as exc:
        # A value PostgreSQL refuses (out of range, bad encoding): the client's input, not a fault.
        return error(422, ErrorCode.INVALID_INPUT, str(exc).split("\n")[0])
    except ServiceError as exc:
        # A service this one called refused the request (e.g. the orders service an unknown API key): the
        # caller's mistake, passed on with its code and field.
        return error(exc.status, exc.code, exc.message, exc.field, errors=exc.errors or None)
    except Unavailable as exc:
        return error(503, ErrorCode.UNAVAILABLE, f"{exc}; try again")
    except DependencyUnavailable as exc:
        # An outage, not a bug: already reported once per interval where it was raised (shared/db.py);
        # the caller is told which dependency, without its address, and may retry.
        return error(503, ErrorCode.UNAVAILABLE, f"{exc.public} unavailable ({exc.cause}); try again")


def system_endpoint(*, callers: frozenset[str] | None = None) -> Callable[[Callable[[Call], Awaitable[Any]]], Handler]:
    """An endpoint with no organisation; `callers` restricts which services may call it."""

    def decorate(fn: Callable[[Call], Awaitable[Any]]) -> Handler:
        @functools.wraps(fn)
        async def handler(request: Request) -> Response:
            async def run() -> Any:
                state, identity, body = await _authenticate(request, org=False, admin=False, callers=callers)
                return await fn(Call(request, state, identity, body))

            return await _guarded(run)

        return handler

    return decorate


def org_endpoint(
    *, admin: bool = False, providers: bool = False
) -> Callable[[Callable[[OrgCall], Awaitable[Any]]], Handler]:
    """An endpoint for one organisation that opens its own transactions (or streams); `providers` admits
    provider users, whose rows the handler must scope to `call.provider_id`."""

    def decorate(fn: Callable[[OrgCall], Awaitable[Any]]) -> Handler:
        @functools.wraps(fn)
        async def handler(request: Request) -> Response:
            async def run() -> Any:
                state, identity, body = await _authenticate(
                    request, org=True, admin=admin, callers=None, providers=providers
                )
                assert identity.org_id is not None
                with slog.bound_org(identity.org_id):
                    return await fn(OrgCall(request, state, identity, body, UUID(identity.org_id)))

            return await _guarded(run)

        return handler

    return decorate


def tenant_endpoint(
    *, admin: bool = False, providers: bool = False
) -> Callable[[Callable[[TenantCall], Awaitable[Any]]], Handler]:
    """An endpoint running in one tenant transaction: committed on success, rolled back on any error;
    `providers` admits provider users, whose rows the handler must scope to `call.provider_id`."""

    def decorate(fn: Callable[[TenantCall], Awaitable[Any]]) -> Handler:
        @functools.wraps(fn)
        async def handler(request: Request) -> Response:
            async def run() -> Any:
                state, identity, body = await _authenticate(
                    request, org=True, admin=admin, callers=None, providers=providers
                )
                assert identity.org_id is not None
                org_id = UUID(identity.org_id)
                with slog.bound_org(identity.org_id):
                    async with tenant_tx(state.pool, org_id) as conn:
                        return await fn(TenantCall(request, state, identity, body, org_id, conn))

            return await _guarded(run)

        return handler

    return decorate
