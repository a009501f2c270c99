"""Recording admin actions: who (the signed-in user), when, under which request id, what changed."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from services.orders.repository import audit
from shared import logging as slog
from shared.http import dumps
from shared.service.endpoint import TenantCall


class AuditAction(StrEnum):
    MEMBER_INVITED = "member.invited"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    SETTINGS_UPDATED = "settings.updated"
    INTEGRATION_CREATED = "integration.created"
    INTEGRATION_UPDATED = "integration.updated"
    INTEGRATION_KEY_ROTATED = "integration.key_rotated"
    INTEGRATION_PRODUCT_ADDED = "integration.product_added"
    INTEGRATION_PRODUCT_REMOVED = "integration.product_removed"
    INTEGRATION_PRODUCT_REORDERED = "integration.product_reordered"
    INTEGRATION_PRODUCT_TOGGLED = "integration.product_toggled"
    COMMISSION_SET_BY_HAND = "commission.set_by_hand"
    CUSTOMER_ERASED = "customer.erased"


def _plain(value: Any) -> Any:
    """JSON-safe (decimals, ids and times as strings) for the jsonb column."""
    return json.loads(dumps(value))


async def record_operator(conn: Any, org_id: Any, action: AuditAction, target: Any, change: dict[str, Any]) -> None:
    """Appends an operator command's action (no signed-in user: the actor is `operator`)."""
    await audit.append(
        conn,
        org_id,
        actor="operator",
        request_id=None,
        action=action.value,
        target=str(target) if target is not None else None,
        change=_plain(change),
    )


async def record(call: TenantCall, action: AuditAction, target: Any, change: dict[str, Any]) -> None:
    """Appends to the audit log in the request's transaction: the action and its record commit together."""
    await audit.append(
        call.conn,
        call.org_id,
        actor=call.actor,
        request_id=slog.request_id.get(),
        action=action.value,
        target=str(target) if target is not None else None,
        change=_plain(change),
    )
