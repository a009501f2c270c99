"""The reports catalogue (reports service, services/reports/service/reports.py): `reports` lists seed 002's
predefined reports with their columns, filters and grouping options; `reportPreview(input)` answers the first 10
rows of a configuration and the exact count of its rows; saved configurations (`saveReport`, `savedReports`,
`savedReport(id)`, `deleteSavedReport`) belong to the organisation. Downloads: `requestExport(kind: REPORT,
reportInput)`.

Bad input is answered in the payload's `errors`, naming the field (`input.columns[2]`); nothing is changed. An
unknown id and another organisation's are the same: null for reads, `NOT_FOUND` for mutations.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from services.gateway import export_links
from services.gateway.clients import ServiceError
from services.gateway.graphql.common import DateRangeInput
from services.gateway.graphql.context import Context, parse_id
from services.gateway.graphql.errors import UserError, from_service, user_errors
from shared.errors import ErrorCode

Row = dict[str, Any]


@strawberry.enum
class ReportKind(Enum):
    ITEMISED = "itemised"
    ANALYTICAL = "analytical"


@strawberry.enum
class ReportAggregate(Enum):
    COUNT = "count"
    SUM = "sum"
    AVERAGE = "average"
    MIN = "min"
    MAX = "max"


@strawberry.enum
class ReportInterval(Enum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


@strawberry.type
class ReportColumn:
    key: str
    label: str
    type: str = strawberry.field(description="text, number, money, date, datetime, boolean or id.")
    groupable: bool
    aggregates: list[ReportAggregate]


@strawberry.type
class ReportSortKey:
    column: str
    descending: bool


@strawberry.type(description="A predefined report: what it lists or analyses, its columns, filters and defaults.")
class Report:
    key: str
    area: str
    name: str
    description: str
    kind: ReportKind
    columns: list[ReportColumn]
    default_columns: list[str]
    default_sort: list[ReportSortKey]
    filters: list[str] = strawberry.field(description="The filters it takes (reportInput.filters' fields).")
    statuses: list[str] = strawberry.field(description="What filters.statuses takes.")
    types: list[str] = strawberry.field(description="What filters.types takes.")
    custom_fields: bool = strawberry.field(description="Columns custom.<key> (the entity's custom fields) allowed.")
    contact_custom_fields: bool = strawberry.field(description="Columns contact.custom.<key> allowed.")

    @classmethod
    def from_row(cls, r: Row) -> Report:
        return cls(
            key=r["key"],
            area=r["area"],
            name=r["name"],
            description=r["description"],
            kind=ReportKind(r["kind"]),
            columns=[
                ReportColumn(
                    key=c["key"],
                    label=c["label"],
                    type=c["type"],
                    groupable=c["groupable"],
                    aggregates=[ReportAggregate(a) for a in c["aggregates"]],
                )
                for c in r["columns"]
            ],
            default_columns=r["defaultColumns"],
            default_sort=[ReportSortKey(column=s["column"], descending=s["descending"]) for s in r["defaultSort"]],
            filters=r["filters"],
            statuses=r["statuses"],
            types=r["types"],
            custom_fields=r["customFields"],
            contact_custom_fields=r["contactCustomFields"],
        )


@strawberry.input
class ReportFiltersInput:
    range: DateRangeInput | None = None
    category_ids: list[strawberry.ID] | None = None
    integration_ids: list[strawberry.ID] | None = None
    statuses: list[str] | None = None
    types: list[str] | None = None
    interval: ReportInterval | None = None
    segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Rows of this segment's members only (reports whose rows relate to contacts)."
    )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.range is not None:
            out["range"] = self.range.to_json()
        if self.segment_id is not None:
            out["segmentId"] = str(parse_id(self.segment_id, "input.filters.segmentId"))
        for name, value in (
            ("categoryIds", self.category_ids),
            ("integrationIds", self.integration_ids),
            ("statuses", self.statuses),
            ("types", self.types),
        ):
            if value is not None:
                out[name] = [str(v) for v in value]
        if self.interval is not None:
            out["interval"] = self.interval.value
        return out


@strawberry.input
class ReportAggregateInput:
    column: str
    function: ReportAggregate


@strawberry.input
class ReportSortInput:
    column: str
    descending: bool = False


@strawberry.input(description="A report configuration: the report, its filters, columns, grouping and sort.")
class ReportInput:
    report: str
    filters: ReportFiltersInput | None = None
    columns: list[str] | None = strawberry.field(default=None, description="In order; the report's defaults if null.")
    grouping: list[str] | None = strawberry.field(default=None, description="At most two levels, with subtotals.")
    aggregates: list[ReportAggregateInput] | None = None
    sort: list[ReportSortInput] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"report": self.report}
        if self.filters is not None:
            out["filters"] = self.filters.to_json()
        if self.columns is not None:
            out["columns"] = list(self.columns)
        if self.grouping is not None:
            out["grouping"] = list(self.grouping)
        if self.aggregates is not None:
            out["aggregates"] = [{"column": a.column, "function": a.function.value} for a in self.aggregates]
        if self.sort is not None:
            out["sort"] = [{"column": s.column, "descending": s.descending} for s in self.sort]
        return out


@strawberry.type
class ReportPreviewColumn:
    key: str
    label: str
    type: str


@strawberry.type(description="The first 10 rows of a report configuration and how many rows it has in all.")
class ReportPreview:
    report: str
    kind: ReportKind
    columns: list[ReportPreviewColumn] = strawberry.field(
        description="The answer's columns; grouped answers end with `_row`: row, subtotal or total."
    )
    rows: list[list[str | None]] = strawberry.field(
        description="Cells as text: amounts and numbers exact decimals, times ISO 8601 UTC, booleans true/false."
    )
    total_rows: int
    first_day: dt.date
    last_day: dt.date
    time_zone: str
    base_currency: str


@strawberry.type
class ReportPreviewPayload:
    preview: ReportPreview | None
    errors: list[UserError]


def _cell(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _preview(r: Row) -> ReportPreview:
    return ReportPreview(
        report=r["report"],
        kind=ReportKind(r["kind"]),
        columns=[ReportPreviewColumn(key=c["key"], label=c["label"], type=c["type"]) for c in r["columns"]],
        rows=[[_cell(v) for v in row] for row in r["rows"]],
        total_rows=r["totalRows"],
        first_day=dt.date.fromisoformat(r["firstDay"]),
        last_day=dt.date.fromisoformat(r["lastDay"]),
        time_zone=r["timeZone"],
        base_currency=r["baseCurrency"],
    )


@strawberry.type(description="A saved report configuration of the organisation.")
class SavedReport:
    id: strawberry.ID
    name: str
    description: str
    report: str
    input: JSON = strawberry.field(description="The configuration as saved (ReportInput's JSON).")
    created_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, r: Row) -> SavedReport:
        return cls(
            id=strawberry.ID(r["id"]),
            name=r["name"],
            description=r["description"],
            report=r["report"],
            input=r["input"],
            created_by=r["createdBy"],
            created_at=dt.datetime.fromisoformat(r["createdAt"]),
            updated_at=dt.datetime.fromisoformat(r["updatedAt"]),
        )


@strawberry.type
class SaveReportPayload:
    saved_report: SavedReport | None
    errors: list[UserError]


@strawberry.type
class DeleteSavedReportPayload:
    deleted: bool
    errors: list[UserError]


@strawberry.type
class ReportsQuery:
    @strawberry.field(description="Seed 002's predefined reports, area by area.")
    async def reports(self, info: Info[Context, None]) -> list[Report]:
        r = await info.context.call("reports", "GET", "/internal/reports/catalogue")
        return [Report.from_row(x) for x in r["reports"]]

    @strawberry.field(description="The first 10 rows of this configuration, and the exact count of its rows.")
    async def report_preview(self, info: Info[Context, None], input: ReportInput) -> ReportPreviewPayload:
        try:
            r = await info.context.call("reports", "POST", "/internal/reports/preview", json={"input": input.to_json()})
        except ServiceError as exc:
            return ReportPreviewPayload(preview=None, errors=user_errors(exc))
        return ReportPreviewPayload(preview=_preview(r), errors=[])

    @strawberry.field(description="The organisation's saved report configurations, by name.")
    async def saved_reports(self, info: Info[Context, None]) -> list[SavedReport]:
        r = await info.context.call("reports", "GET", "/internal/reports/saved")
        return [SavedReport.from_row(x) for x in r["savedReports"]]

    @strawberry.field
    async def saved_report(self, info: Info[Context, None], id: strawberry.ID) -> SavedReport | None:
        key = parse_id(id, "id")
        try:
            r = await info.context.call("reports", "GET", f"/internal/reports/saved/{key}")
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise from_service(exc) from None
        return SavedReport.from_row(r)


@strawberry.type
class ReportsMutation:
    @strawberry.mutation(description="Saves a report configuration (with `id`: replaces that one); names are unique.")
    async def save_report(
        self,
        info: Info[Context, None],
        name: str,
        input: ReportInput,
        description: str = "",
        id: strawberry.ID | None = None,
    ) -> SaveReportPayload:
        body: Row = {"name": name, "description": description, "input": input.to_json()}
        if id is not None:
            body["id"] = str(parse_id(id, "id"))
        try:
            r = await info.context.call("reports", "POST", "/internal/reports/saved", json=body)
        except ServiceError as exc:
            return SaveReportPayload(saved_report=None, errors=user_errors(exc))
        return SaveReportPayload(saved_report=SavedReport.from_row(r), errors=[])

    @strawberry.mutation
    async def delete_saved_report(self, info: Info[Context, None], id: strawberry.ID) -> DeleteSavedReportPayload:
        key = parse_id(id, "id")
        try:
            await info.context.call("reports", "DELETE", f"/internal/reports/saved/{key}")
        except ServiceError as exc:
            return DeleteSavedReportPayload(deleted=False, errors=user_errors(exc))
        return DeleteSavedReportPayload(deleted=True, errors=[])


# Report runs: `runReport(input, format)` builds the report as a job and mails it to the requester (attached up to
# REPORT_ATTACHMENT_MAX_BYTES, else a signed download link); `reportRuns`/`reportRun(id)` are the run history
# (members see their own runs, admins every run of the organisation).


@strawberry.enum
class ReportRunFormat(Enum):
    CSV = "csv"
    XLSX = "xlsx"
    PDF = "pdf"


@strawberry.enum
class ReportRunStatus(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@strawberry.type(description="A report run: who asked, what, and what came of it (enough to reproduce it).")
class ReportRun:
    id: strawberry.ID
    requested_by: str
    requester_email: str
    input: JSON = strawberry.field(description="The configuration as given (ReportInput's JSON).")
    format: ReportRunFormat
    status: ReportRunStatus
    attempts: int
    row_count: int | None
    file_size: int | None = strawberry.field(description="Bytes.")
    checksum: str | None = strawberry.field(description="sha256 of the file, hex.")
    duration_ms: int | None
    query_hash: str | None = strawberry.field(description="sha256 of the normalised input and the statement run.")
    watermark: JSON | None = strawberry.field(description="The data watermarks (per source) the run read at.")
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    notified_at: dt.datetime | None = strawberry.field(description="When its email (or failure notice) was sent.")

    @strawberry.field(
        description="A signed link (valid 15 minutes) to the run's stored file; null until it has SUCCEEDED. "
        "Whoever may read the run may download it (members their own runs, admins every run)."
    )
    def download_url(self, info: Info[Context, None]) -> str | None:
        if self.status is not ReportRunStatus.SUCCEEDED:
            return None
        ctx = info.context
        token, _ = export_links.issue(
            ctx.settings.export_token_secret,
            viewer=ctx.viewer,
            kind="report_run",
            fmt=self.format.value,
            filter={"runId": str(self.id)},
        )
        return f"{ctx.settings.gateway_public_url}/exports/{token}"

    @classmethod
    def from_row(cls, r: Row) -> ReportRun:
        def when(v: str | None) -> dt.datetime | None:
            return dt.datetime.fromisoformat(v) if v else None

        return cls(
            id=strawberry.ID(r["id"]),
            requested_by=r["requestedBy"],
            requester_email=r["requesterEmail"],
            input=r["input"],
            format=ReportRunFormat(r["format"]),
            status=ReportRunStatus(r["status"]),
            attempts=r["attempts"],
            row_count=r["rowCount"],
            file_size=r["fileSize"],
            checksum=r["checksum"],
            duration_ms=r["durationMs"],
            query_hash=r["queryHash"],
            watermark=r["watermark"],
            error=r["error"],
            created_at=dt.datetime.fromisoformat(r["createdAt"]),
            started_at=when(r["startedAt"]),
            finished_at=when(r["finishedAt"]),
            notified_at=when(r["notifiedAt"]),
        )


@strawberry.type
class ReportRunEdge:
    cursor: str
    node: ReportRun


@strawberry.type
class ReportRunConnection:
    edges: list[ReportRunEdge]
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class RunReportPayload:
    run: ReportRun | None
    errors: list[UserError]


@strawberry.type
class ReportRunsQuery:
    @strawberry.field(description="Report runs, newest first: a member's own, an admin's every run.")
    async def report_runs(
        self, info: Info[Context, None], first: int = 20, after: str | None = None
    ) -> ReportRunConnection:
        params: Row = {"first": str(first), **({"after": after} if after else {})}
        r = await info.context.call("reports", "GET", "/internal/reports/runs", params=params)
        edges = [ReportRunEdge(cursor=x["cursor"], node=ReportRun.from_row(x)) for x in r["runs"]]
        return ReportRunConnection(
            edges=edges, has_next_page=r["hasNextPage"], end_cursor=edges[-1].cursor if edges else None
        )

    @strawberry.field
    async def report_run(self, info: Info[Context, None], id: strawberry.ID) -> ReportRun | None:
        key = parse_id(id, "id")
        try:
            r = await info.context.call("reports", "GET", f"/internal/reports/runs/{key}")
        except ServiceError as exc:
            if exc.status == 404:
                return None
            raise from_service(exc) from None
        return ReportRun.from_row(r)


@strawberry.type
class ReportRunsMutation:
    @strawberry.mutation(
        description="Runs the report as a job and emails the result to you: attached when small enough, else a "
        "signed download link. PDF holds at most REPORT_PDF_MAX_ROWS rows (refused naming `format`)."
    )
    async def run_report(
        self, info: Info[Context, None], input: ReportInput, format: ReportRunFormat
    ) -> RunReportPayload:
        email = info.context.viewer.email
        if not email:
            return RunReportPayload(
                run=None,
                errors=[UserError(field="email", code=ErrorCode.INVALID_INPUT, message="your account has no email")],
            )
        body: Row = {"input": input.to_json(), "format": format.value, "email": email}
        try:
            r = await info.context.call("reports", "POST", "/internal/reports/runs", json=body)
        except ServiceError as exc:
            return RunReportPayload(run=None, errors=user_errors(exc))
        return RunReportPayload(run=ReportRun.from_row(r), errors=[])
