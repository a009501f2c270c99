"""Report runs' internal API: thin handlers over service/runs.py.

`POST /internal/reports/runs` queues a run for the signed-in user (their email travels in the body, from the
gateway's viewer); `GET /internal/reports/runs` pages the runs newest first, `GET /internal/reports/runs/{id}` one.
Members see their own runs, admins every run of the organisation (a run's file is the organisation's data, a
member's run history is theirs). `/internal/exports/report_run.{fmt}` streams a run's stored file for the
gateway's signed download links (declared before the reports' `/internal/exports/{kind}.{fmt}`).
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import StreamingResponse
from starlette.routing import Route

from services.reports.repository import runs as runs_store
from services.reports.service import runs as workflow
from shared.errors import DomainError, ErrorCode
from shared.service.endpoint import OrgCall, TenantCall, org_endpoint, tenant_endpoint
from shared.service.pagination import PageInput


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: dict[str, Any]
    format: Literal["csv", "xlsx", "pdf"]
    email: str = Field(min_length=3, max_length=320)


class FileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    filter: dict[str, Any] = Field(default_factory=dict)
    time_zone: str | None = Field(default=None, alias="timeZone", max_length=64)


def _requester(call: OrgCall, email: str) -> dict[str, str]:
    if not call.identity.subject:
        raise DomainError(ErrorCode.FORBIDDEN, "report runs are run for a signed-in user", status=403)
    return {"subject": call.identity.subject, "email": email, "role": call.identity.role or "member"}


def _only_own(call: OrgCall) -> str | None:
    return None if call.identity.role == "admin" else call.identity.subject


@tenant_endpoint()
async def post_run(call: TenantCall) -> Any:
    body = call.parse(RunRequest)
    run = await workflow.create_run(call.conn, call.org_id, _requester(call, body.email), body.input, body.format)
    return workflow.run_json(run)


@tenant_endpoint()
async def get_runs(call: TenantCall) -> Any:
    page = call.parse(PageInput, dict(call.request.query_params))
    rows, more = await runs_store.page(call.conn, call.org_id, _only_own(call), page.first, page.after)
    return {
        "runs": [{**workflow.run_json(r), "cursor": r["cursor"]} for r in rows],
        "hasNextPage": more,
    }


@tenant_endpoint()
async def get_run(call: TenantCall) -> Any:
    run = await runs_store.get(call.conn, call.org_id, call.path_uuid("id"))
    own = _only_own(call)
    if run is None or (own is not None and run["requested_by"] != own):
        raise DomainError(ErrorCode.NOT_FOUND, "no report run has this id", "id", status=404)
    return workflow.run_json(run)


@org_endpoint()
async def run_file(call: OrgCall) -> Any:
    """A run's stored file, streamed a chunk at a time (the link names the run; the organisation is the link's)."""
    body = call.parse(FileRequest)
    try:
        run_id = UUID(str(body.filter.get("runId")))
    except ValueError:
        raise DomainError(ErrorCode.INVALID_ID, "is not a valid id", "runId") from None
    found = await workflow.stream_file(call.pool, call.org_id, run_id)
    if found is None or found[0]["format"] != call.request.path_params["fmt"]:
        raise DomainError(ErrorCode.NOT_FOUND, "this report run has no file", "runId", status=404)
    run, chunks = found
    return StreamingResponse(
        chunks,
        media_type=workflow.MEDIA[run["format"]],
        headers={"content-disposition": f'attachment; filename="report-{run["id"]}.{run["format"]}"'},
    )


routes = [
    Route("/internal/reports/runs", post_run, methods=["POST"]),
    Route("/internal/reports/runs", get_runs, methods=["GET"]),
    Route("/internal/reports/runs/{id}", get_run, methods=["GET"]),
    Route("/internal/exports/report_run.{fmt}", run_file, methods=["POST"]),
]
