"""An export endpoint's plumbing, the same in every service: the per-organisation slot, the refusal past it,
and the file streamed as its rows are read (the kit's writers, shared/exports.py).

Past EXPORT_ORG_CONCURRENCY exports of one organisation at once, the next is refused at once with 429 and
Retry-After rather than queued: a queued download would hold a gateway download slot and an internal
connection while it waits, so one organisation's queue would starve everyone's exports.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable

import asyncpg
from starlette.responses import Response

from shared.errors import ErrorCode
from shared.exports import RETRY_AFTER_SECONDS, ExportResponse, ExportSlots
from shared.http import error
from shared.service.endpoint import OrgCall

MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "ndjson": "application/x-ndjson",  # the reports' documented collections: one JSON document a line
}


def _slots(call: OrgCall) -> ExportSlots:
    """This process's export slots, made on first use (one per app, so each test app has its own)."""
    state = call.request.app.state
    slots: ExportSlots | None = getattr(state, "export_slots", None)
    if slots is None:
        slots = state.export_slots = ExportSlots(call.service.settings.export_org_concurrency)
    return slots


async def streamed_export(
    call: OrgCall,
    name: str,
    fmt: str,
    open_stream: Callable[[asyncpg.Pool], Awaitable[AsyncGenerator[bytes, None]]],
) -> Response:
    """`open_stream(pool)` streamed as `<name>.<fmt>` once this organisation has a free export slot (given back
    when the download ends, however it ends), reading on the service's export pool."""
    release = _slots(call).take(call.org_id)
    if release is None:
        refusal = error(
            429,
            ErrorCode.RATE_LIMITED,
            f"this organisation already runs {call.service.settings.export_org_concurrency} exports;"
            " retry when one has finished",
            retryAfter=RETRY_AFTER_SECONDS,
        )
        refusal.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
        return refusal
    try:
        stream = await open_stream(call.service.export_pool or call.pool)
    except BaseException:
        release()
        raise
    return ExportResponse(
        stream, release, media_type=MEDIA[fmt], headers={"content-disposition": f'attachment; filename="{name}.{fmt}"'}
    )
