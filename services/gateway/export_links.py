"""Signed, short-lived export links, and the route that streams them."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from services.gateway.auth import Viewer
from services.gateway.clients import OrdersClient, ServiceClient, ServiceError, Unavailable
from shared.errors import ErrorCode
from shared.http import error

TTL_SECONDS = 15 * 60


def issue(
    secret: str, *, viewer: Viewer, kind: str, fmt: str, filter: dict[str, Any], time_zone: str | None = None
) -> tuple[str, dt.datetime]:
    exp = int(time.time()) + TTL_SECONDS
    token = jwt.encode(
        {
            "aud": "export",
            "org": viewer.org_id,
            "sub": viewer.subject,
            "role": viewer.role,
            "kind": kind,
            "fmt": fmt,
            "filter": filter,
            "tz": time_zone,
            "exp": exp,
        },
        secret,
        algorithm="HS256",
    )
    return token, dt.datetime.fromtimestamp(exp, dt.UTC)


async def download(request: Request) -> Response:
    state = request.app.state
    try:
        claims = jwt.decode(
            request.path_params["token"],
            state.settings.export_token_secret,
            algorithms=["HS256"],
            audience="export",
            options={"require": ["exp", "org", "kind", "fmt"]},
        )
    except jwt.PyJWTError:
        return _private(error(403, ErrorCode.INVALID_EXPORT_LINK, "this export link is invalid or has expired"))
    orders: OrdersClient = state.orders
    # The Analytics tab's and the insights builder's exports come from the insights service, the lists' from orders.
    insights = str(claims["kind"]).startswith(("analytics_", "insight_"))
    source: ServiceClient = (
        state.reports
        if claims["kind"] in ("report", "report_run", "collection")
        else state.insights
        if insights
        else orders
    )
    # A link is a bearer URL: check its user against current membership, as every other request is
    # checked, so a member removed (or demoted) after the link was issued downloads nothing.
    try:
        if not await _still_member(orders, claims):
            return _private(error(403, ErrorCode.INVALID_EXPORT_LINK, "this export link's user is no longer a member"))
        upstream = await source.stream(
            f"/internal/exports/{claims['kind']}.{claims['fmt']}",
            org_id=claims["org"],
            subject=claims.get("sub"),
            role=claims.get("role"),
            json={"filter": claims.get("filter", {}), **({"timeZone": claims["tz"]} if claims.get("tz") else {})},
        )
    except ServiceError as exc:
        refusal = error(exc.status, exc.code, exc.message, exc.field)
        if exc.retry_after:  # too many exports of this organisation at once: when to try again
            refusal.headers["retry-after"] = exc.retry_after
        return _private(refusal)
    except Unavailable:
        return _private(error(503, ErrorCode.UNAVAILABLE, f"the {source.service} service is unavailable"))
    # Only the headers that describe the file travel on; the rest were the internal hop's.
    headers = {"content-disposition": upstream.content_disposition} if upstream.content_disposition else {}
    return _private(StreamingResponse(upstream.body, media_type=upstream.content_type, headers=headers))


async def _still_member(orders: OrdersClient, claims: dict[str, Any]) -> bool:
    """The link's user still belongs to the link's organisation with the role the link was issued for
    (an admin demoted to member keeps member exports; the role only ever narrows)."""
    subject = claims.get("sub")
    if not subject:
        return False
    for membership in await orders.memberships(str(subject), None):
        if str(membership["org_id"]) == claims["org"] and membership.get("status") == "active":
            return membership["role"] == claims.get("role") or membership["role"] == "admin"
    return False


def _private(response: Response) -> Response:
    """Downloads are personal data: never cached, and their URL never sent on as a referrer."""
    response.headers["cache-control"] = "no-store"
    response.headers["referrer-policy"] = "no-referrer"
    return response
