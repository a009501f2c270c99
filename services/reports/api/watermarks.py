"""The data watermark per source for the caller's organisation: how fresh the reports' data is."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from services.reports.service import watermarks
from shared.service.endpoint import TenantCall, tenant_endpoint


@tenant_endpoint()
async def get_watermarks(call: TenantCall) -> Any:
    return {"watermarks": await watermarks.of_organisation(call.conn, call.org_id)}


routes = [Route("/internal/reports/watermarks", get_watermarks, methods=["GET"])]
