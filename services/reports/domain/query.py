"""A report's input: which report, its filters, columns, grouping (at most two levels) with aggregates, and sort.

Validated here once, before any SQL is written, every refusal naming its field (`input.columns[2]`,
`input.grouping[0]`, `input.aggregates[1].function`, `input.filters.statuses[0]`), so a bad input changes
nothing and says what to fix. The repository turns a valid `ReportQuery` into one statement.

Grouping: one or two columns, GROUP BY ROLLUP, so each group of the first level gets a subtotal row after its
rows, and the run a grand total. Every other selected column is aggregated (its `aggregates`, else `sum` for
numbers and money, `count` for the rest). Money is never added across currencies: when a money column is
summed, averaged or compared, the currency joins the grouping (outermost, never rolled up), so a subtotal is
per currency. Itemised reports can add custom fields (`custom.<key>`, `contact.custom.<key>`); analytical
reports refuse them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.reports.domain.catalogue import (
    BY_KEY,
    COUNT_ONLY,
    Aggregate,
    Column,
    ColumnType,
    Filter,
    Report,
)
from shared.errors import DomainError, ErrorCode
from shared.presets import DatePreset, DateRange

MAX_COLUMNS = 60
MAX_GROUPING = 2
MAX_SORT = 5
MAX_IDS = 100
DEFAULT_RANGE = DateRange(preset=DatePreset.LAST_30_DAYS)
_CUSTOM_KEY = re.compile(r"^[a-z0-9_]{1,64}$")
CUSTOM = "custom."
CONTACT_CUSTOM = "contact.custom."


class Interval(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


class FiltersInput(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    range: DateRange | None = None
    category_ids: list[UUID] | None = Field(default=None, alias="categoryIds", max_length=MAX_IDS)
    integration_ids: list[UUID] | None = Field(default=None, alias="integrationIds", max_length=MAX_IDS)
    statuses: list[str] | None = Field(default=None, max_length=MAX_IDS)
    types: list[str] | None = Field(default=None, max_length=MAX_IDS)
    interval: Interval | None = None
    segment_id: UUID | None = Field(default=None, alias="segmentId")


class AggregateInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: str
    function: Aggregate


class SortInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    column: str
    descending: bool = False


class ReportInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    report: str
    filters: FiltersInput = Field(default_factory=FiltersInput)
    columns: list[str] | None = Field(default=None, max_length=MAX_COLUMNS)
    grouping: list[str] = Field(default_factory=list, max_length=MAX_GROUPING)
    aggregates: list[AggregateInput] = Field(default_factory=list, max_length=MAX_COLUMNS)
    sort: list[SortInput] | None = Field(default=None, max_length=MAX_SORT)


@dataclass(frozen=True)
class Selected:
    """A column of the answer: a report column, or a custom field (`custom` says whose: entity or contact)."""

    column: Column
    custom: str | None = None  # "entity" | "contact"
    custom_key: str | None = None

    @property
    def key(self) -> str:
        return self.column.key


@dataclass(frozen=True)
class Output:
    """A column of a grouped answer: a grouping column (aggregate None) or an aggregate of a selected column."""

    selected: Selected
    aggregate: Aggregate | None

    @property
    def key(self) -> str:
        return self.selected.key if self.aggregate is None else f"{self.aggregate.value}:{self.selected.key}"

    @property
    def label(self) -> str:
        if self.aggregate is None:
            return self.selected.column.label
        return f"{self.aggregate.value.capitalize()} of {self.selected.column.label}"

    @property
    def type(self) -> ColumnType:
        if self.aggregate is Aggregate.COUNT:
            return ColumnType.NUMBER
        if self.aggregate is Aggregate.AVERAGE and self.selected.column.type is not ColumnType.MONEY:
            return ColumnType.NUMBER
        return self.selected.column.type


@dataclass(frozen=True)
class ReportQuery:
    report: Report
    first_day: date
    last_day: date
    time_zone: str
    category_ids: tuple[UUID, ...] | None
    integration_ids: tuple[UUID, ...] | None
    statuses: tuple[str, ...] | None
    types: tuple[str, ...] | None
    interval: Interval
    columns: tuple[Selected, ...]
    grouping: tuple[Selected, ...]
    aggregates: tuple[Output, ...]  # grouped only: the aggregated columns, in the columns' order
    sort: tuple[tuple[Selected, bool], ...]
    # Grouped: the currency joins the GROUP BY (never rolled up) because a money column is summed or compared.
    by_currency: bool = False
    # Rows of this segment's present members only (the reports service's copy of membership; whether the
    # organisation knows the segment is checked by the service, which holds a connection).
    segment_id: UUID | None = None

    @property
    def grouped(self) -> bool:
        return bool(self.grouping)

    @property
    def outputs(self) -> tuple[Output, ...]:
        """The answer's columns, in order."""
        if not self.grouped:
            return tuple(Output(s, None) for s in self.columns)
        currency: tuple[Output, ...] = ()
        if self.by_currency and not any(g.key == "currency" for g in self.grouping):
            currency = (Output(Selected(self.report.by_key["currency"]), None),)
        return (*(Output(g, None) for g in self.grouping), *currency, *self.aggregates)


def _refuse(field: str, reason: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, reason, field)


def _pydantic_field(loc: tuple[Any, ...]) -> str:
    out = "input"
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else f".{'from' if p == 'from_' else p}"
    return out


def _column(report: Report, name: str, field: str) -> Selected:
    """The column `name` of `report`, a custom field of an itemised one, or a refusal naming `field`."""
    for prefix, whose, allowed in (
        (CONTACT_CUSTOM, "contact", report.contact_custom),
        (CUSTOM, "entity", report.custom),
    ):
        if name.startswith(prefix):
            if not report.itemised:
                raise _refuse(
                    field,
                    f"{report.name} is an analytical report: custom fields are only in itemised reports",
                )
            if not allowed:
                raise _refuse(field, f"the rows of {report.name} have no {whose} custom fields")
            key = name[len(prefix) :]
            if not _CUSTOM_KEY.match(key):
                raise _refuse(field, "a custom field's key is 1 to 64 lower-case letters, digits or underscores")
            label = f"{'Contact ' if whose == 'contact' else ''}custom: {key}"
            return Selected(Column(name, label, ColumnType.TEXT, True, COUNT_ONLY), whose, key)
    column = report.by_key.get(name)
    if column is None:
        raise _refuse(field, f"{report.name} has no column {name!r}; `reports` lists its columns")
    return Selected(column)


def parse(raw: Any, time_zone: str, now: datetime | None = None) -> ReportQuery:
    """A valid `ReportQuery` from the API's JSON input, or the first error, naming its field."""
    try:
        given = ReportInput.model_validate(raw)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise _refuse(_pydantic_field(tuple(e["loc"])), e["msg"]) from None
    report = BY_KEY.get(given.report)
    if report is None:
        raise _refuse("input.report", f"unknown report {given.report!r}; `reports` lists them")
    f = given.filters
    for flt, value in (
        (Filter.CATEGORIES, f.category_ids),
        (Filter.INTEGRATIONS, f.integration_ids),
        (Filter.STATUSES, f.statuses),
        (Filter.TYPES, f.types),
        (Filter.INTERVAL, f.interval),
        (Filter.SEGMENT, f.segment_id),
    ):
        if value is not None and flt not in report.filters:
            raise _refuse(f"input.filters.{flt.value}", f"{report.name} takes no {flt.value} filter")
    for which, values, allowed in (
        ("statuses", f.statuses, report.statuses),
        ("types", f.types, report.types),
    ):
        for i, v in enumerate(values or ()):
            if v not in allowed:
                raise _refuse(f"input.filters.{which}[{i}]", f"{v!r} is not one of {', '.join(allowed)}")
    first, last = (f.range or DEFAULT_RANGE).days(time_zone, now)
    if first is None or last is None:
        raise _refuse("input.filters.range", "give a preset or both from and to")

    names = given.columns if given.columns is not None else list(report.default_columns)
    if not names:
        raise _refuse("input.columns", "choose at least one column")
    columns: list[Selected] = []
    for i, name in enumerate(names):
        s = _column(report, name, f"input.columns[{i}]")
        if any(c.key == s.key for c in columns):
            raise _refuse(f"input.columns[{i}]", f"{name} is already a column")
        columns.append(s)

    grouping: list[Selected] = []
    for i, name in enumerate(given.grouping):
        s = _column(report, name, f"input.grouping[{i}]")
        if not s.column.groupable:
            raise _refuse(f"input.grouping[{i}]", f"{s.column.label} ({name}) cannot be grouped on")
        if any(g.key == s.key for g in grouping):
            raise _refuse(f"input.grouping[{i}]", f"{name} is already a grouping level")
        grouping.append(s)

    by_key = {c.key: c for c in columns}
    chosen: dict[str, list[Aggregate]] = {}
    for i, a in enumerate(given.aggregates):
        if not grouping:
            raise _refuse(f"input.aggregates[{i}]", "aggregates apply to a grouped report: add grouping")
        target = by_key.get(a.column)
        if target is None:
            raise _refuse(f"input.aggregates[{i}].column", f"{a.column!r} is not one of the report's chosen columns")
        if any(g.key == target.key for g in grouping):
            raise _refuse(f"input.aggregates[{i}].column", f"{a.column} is a grouping level, not aggregated")
        if a.function not in target.column.aggregates:
            takes = ", ".join(x.value for x in target.column.aggregates)
            raise _refuse(f"input.aggregates[{i}].function", f"{target.column.label} takes {takes}")
        if a.function in chosen.get(target.key, []):
            raise _refuse(f"input.aggregates[{i}]", f"{a.function.value} of {a.column} is already asked for")
        chosen.setdefault(target.key, []).append(a.function)

    aggregates: list[Output] = []
    if grouping:
        for s in columns:
            if any(g.key == s.key for g in grouping):
                continue
            if s.key == "currency" and report.has_money:
                continue  # the currency of money aggregates: a grouping level of its own (by_currency)
            fns = chosen.get(s.key) or [Aggregate.SUM if Aggregate.SUM in s.column.aggregates else Aggregate.COUNT]
            aggregates.extend(Output(s, fn) for fn in fns)
    by_currency = any(o.selected.column.money and o.aggregate is not Aggregate.COUNT for o in aggregates) or (
        bool(grouping) and "currency" in by_key and report.has_money
    )

    sort: list[tuple[Selected, bool]] = []
    if grouping:
        # A grouped answer is ordered by its levels, in their order (so each subtotal follows its rows); a sort
        # item only sets a level's direction.
        descending: dict[str, bool] = {}
        for i, item in enumerate(given.sort or ()):
            if all(g.key != item.column for g in grouping):
                raise _refuse(f"input.sort[{i}].column", "a grouped report sorts by its grouping columns")
            descending[item.column] = item.descending
        sort = [(g, descending.get(g.key, False)) for g in grouping]
    elif given.sort is None:
        sort = [(Selected(report.by_key[k]), desc) for k, desc in report.default_sort]
    else:
        for i, item in enumerate(given.sort):
            where = f"input.sort[{i}].column"
            key = by_key.get(item.column) or _column(report, item.column, where)
            if any(x.key == key.key for x, _ in sort):
                raise _refuse(where, f"{item.column} is already a sort key")
            sort.append((key, item.descending))
    return ReportQuery(
        report=report,
        first_day=first,
        last_day=last,
        time_zone=time_zone,
        category_ids=tuple(f.category_ids) if f.category_ids is not None else None,
        integration_ids=tuple(f.integration_ids) if f.integration_ids is not None else None,
        statuses=tuple(f.statuses) if f.statuses is not None else None,
        types=tuple(f.types) if f.types is not None else None,
        interval=f.interval or Interval.MONTH,
        columns=tuple(columns),
        grouping=tuple(grouping),
        aggregates=tuple(aggregates),
        sort=tuple(sort),
        by_currency=by_currency,
        segment_id=f.segment_id,
    )
