"""The insights builder's question: an event type, a measure, filters, breakdowns, a range and an interval.

Validated here once, with every error naming its field (`input.filters[1].values`), before any SQL is
written; the repository turns a valid `Insight` into one statement. Fields an insight can name, per type
(`fields_of`):

- the event's own columns: `integrationId`, `categoryId`, `productId`, `channel`, `currency` (the rollups'
  dimensions: an insight on these alone is answered from rollups, 25 months back), `state`, `entityId`;
- a business type's fields: `fields.<name>` (`domain.business`), its custom-field values `custom.<key>`;
- a line item's product: `item.productId` (an event counts once in each of its products' buckets);
- the customer: `customer.id`, `customer.accountCurrency`, `customer.firstSeenMonth` (the month the customer
  was first seen: a cohort), `customer.isNew` ('true' on the day the customer was first seen);
- the event's properties: `properties.<key>`.

What a field allows follows its kind: numbers and dates compare (greater/less than), text and ids equal or
contain, every field can be tested for being set; numbers and free ids do not break down (every value its own
bar), nor does `entityId` or `customer.id`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from itertools import pairwise
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.insights.domain import catalogue
from services.insights.domain.buckets import local_midnight
from services.insights.domain.business import FieldKind
from shared.errors import DomainError, ErrorCode
from shared.presets import DateRange

MAX_BREAKDOWNS = 3
MAX_BUCKETS = 5000
DEFAULT_TOP = 25
MAX_TOP = 500
MAX_FILTERS = 20
MAX_FILTER_VALUES = 100
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


class Measure(StrEnum):
    COUNT = "COUNT"
    TOTAL_AMOUNT = "TOTAL_AMOUNT"
    AVERAGE_AMOUNT = "AVERAGE_AMOUNT"
    UNIQUE_CUSTOMERS = "UNIQUE_CUSTOMERS"

    @property
    def money(self) -> bool:
        return self in (Measure.TOTAL_AMOUNT, Measure.AVERAGE_AMOUNT)


class Operator(StrEnum):
    EQUALS = "EQUALS"
    NOT_EQUALS = "NOT_EQUALS"
    IN = "IN"
    CONTAINS = "CONTAINS"
    GREATER_THAN = "GREATER_THAN"
    LESS_THAN = "LESS_THAN"
    IS_SET = "IS_SET"


class Interval(StrEnum):
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


class ChartType(StrEnum):
    BAR = "BAR"
    LIST = "LIST"
    TABLE = "TABLE"
    STACKED_BAR = "STACKED_BAR"
    PIE = "PIE"
    LINE = "LINE"


class Kind(StrEnum):
    """What a field's values are: how they compare, and how they are written in SQL."""

    TEXT = "text"
    ID = "id"
    NUMBER = "number"
    DATE = "date"
    MONTH = "month"  # YYYY-MM


# The event columns an insight can name: their kind, the rollup dimension holding them (None: raw events only)
# and whether they break down. The repository reads each (`repository.insight`).
_COLUMNS: dict[str, tuple[Kind, str | None, bool]] = {
    "integrationId": (Kind.ID, "integration_id", True),
    "categoryId": (Kind.ID, "category_id", True),
    "productId": (Kind.ID, "product_id", True),
    "channel": (Kind.TEXT, "channel", True),
    "currency": (Kind.TEXT, "currency", True),
    "state": (Kind.TEXT, None, True),
    "entityId": (Kind.TEXT, None, False),
    "customer.id": (Kind.ID, None, False),
    "customer.accountCurrency": (Kind.TEXT, None, True),
    "customer.firstSeenMonth": (Kind.MONTH, None, True),
    "customer.isNew": (Kind.TEXT, None, True),  # 'true' on the customer's first day (a new contact), then 'false'
    "item.productId": (Kind.ID, None, True),
}
_FIELD_KINDS = {
    FieldKind.TEXT: Kind.TEXT,
    FieldKind.ENUM: Kind.TEXT,
    FieldKind.NUMBER: Kind.NUMBER,
    FieldKind.DATE: Kind.DATE,
}


@dataclass(frozen=True)
class FieldRef:
    """A field an insight names, resolved: what it is and how to read it."""

    name: str
    kind: Kind
    rollup_column: str | None
    breakdown: bool
    json_source: tuple[str, str] | None = None  # (events column, key) for values read from a JSON object


def fields_of(event_type: catalogue.EventType) -> list[FieldRef]:
    """The fields of `event_type` an insight can name (properties and custom fields are open: any key)."""
    out = [
        FieldRef(name, kind, rollup, breaks)
        for name, (kind, rollup, breaks) in _COLUMNS.items()
        if name != "item.productId" or (event_type.business is not None and event_type.business.line_items)
    ]
    if event_type.business is not None:
        for f in event_type.business.fields:
            out.append(
                FieldRef(f"fields.{f.name}", _FIELD_KINDS[f.kind], None, f.breakdown, json_source=("fields", f.name))
            )
    return out


def resolve_field(event_type: catalogue.EventType, name: str, where: str) -> FieldRef:
    """The field `name` of `event_type`, or an error naming `where` (the input's field) and the reason."""
    for f in fields_of(event_type):
        if f.name == name:
            return f
    for prefix, column in (("properties.", "properties"), ("custom.", "custom_fields")):
        if name.startswith(prefix):
            key = name[len(prefix) :]
            if not _KEY.fullmatch(key):
                raise DomainError(ErrorCode.INVALID_INPUT, f"{key!r} is not a property name", where)
            if column == "custom_fields" and event_type.business is None:
                break
            # Open keys: compared as text, and as numbers when the stored value is a JSON number.
            return FieldRef(name, Kind.TEXT, None, True, json_source=(column, key))
    known = ", ".join(f.name for f in fields_of(event_type))
    raise DomainError(
        ErrorCode.INVALID_INPUT,
        f"{name!r} is not a field of {event_type.name} events (its fields: {known}, properties.<key>"
        + (", custom.<key>)" if event_type.business is not None else ")"),
        where,
    )


@dataclass(frozen=True)
class Filter:
    field: FieldRef
    operator: Operator
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Insight:
    """A valid question, its range resolved in the organisation's time zone."""

    event_type: catalogue.EventType
    measure: Measure
    filters: tuple[Filter, ...]
    breakdowns: tuple[FieldRef, ...]
    first_day: date
    last_day: date
    time_zone: str
    interval: Interval
    chart_type: ChartType
    top: int
    offset: int
    base_currency: bool
    buckets: tuple[tuple[datetime, datetime], ...] = field(default=())
    # Events of this segment's customers only (read from raw events: the rollups name no customer).
    segment_id: UUID | None = None

    @property
    def start(self) -> datetime:
        return self.buckets[0][0]

    @property
    def end(self) -> datetime:
        return self.buckets[-1][1]

    @property
    def stored_types(self) -> tuple[str, ...]:
        """The stored event types counted for this insight (`order`: its completed orders)."""
        b = self.event_type.business
        return (b.counted_type,) if b is not None and b.counted_type else (self.event_type.name,)

    @property
    def money_by_currency(self) -> bool:
        """Money measured per currency (one series per currency), not converted to the base currency."""
        return self.measure.money and not self.base_currency


class FilterInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str = Field(min_length=1, max_length=80)
    operator: Operator
    values: list[Any] = Field(default_factory=list, max_length=MAX_FILTER_VALUES)


class InsightInput(BaseModel):
    """The input as the API takes it (camelCase, as GraphQL's `InsightInput`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    event_type: str = Field(alias="eventType", min_length=1, max_length=64)
    measure: Measure = Measure.COUNT
    filters: list[FilterInput] = Field(default_factory=list, max_length=MAX_FILTERS)
    breakdowns: list[str] = Field(default_factory=list)
    range: DateRange
    interval: Interval = Interval.DAY
    chart_type: ChartType = Field(default=ChartType.BAR, alias="chartType")
    top: int = Field(default=DEFAULT_TOP, ge=1, le=MAX_TOP)
    offset: int = Field(default=0, ge=0, alias="breakdownOffset")
    currency: str | None = Field(default=None, description="BASE: amounts converted to the base currency.")
    segment_id: UUID | None = Field(default=None, alias="segmentId")


def _pydantic_field(loc: tuple[Any, ...]) -> str:
    names = {
        "event_type": "eventType",
        "chart_type": "chartType",
        "offset": "breakdownOffset",
        "from_": "from",
        "segment_id": "segmentId",
    }
    out = "input"
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else f".{names.get(str(p), str(p))}"
    return out


def parse(raw: Any, time_zone: str, now: datetime | None = None) -> Insight:
    """A valid `Insight` from the API's JSON input, or the first error, naming its field."""
    try:
        given = InsightInput.model_validate(raw)
    except ValidationError as exc:
        e = exc.errors()[0]
        raise DomainError(ErrorCode.INVALID_INPUT, e["msg"], _pydantic_field(tuple(e["loc"]))) from None
    event_type = catalogue.lookup(given.event_type)
    if event_type is None:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"unknown event type {given.event_type!r}; eventTypes lists them",
            "input.eventType",
        )
    if given.measure.money and not event_type.carries_amount:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"{event_type.name} events carry no amount: measure COUNT or UNIQUE_CUSTOMERS",
            "input.measure",
        )
    if given.currency not in (None, "BASE"):
        raise DomainError(ErrorCode.INVALID_INPUT, "BASE (the base currency) or nothing", "input.currency")
    if given.currency == "BASE" and not given.measure.money:
        raise DomainError(ErrorCode.INVALID_INPUT, "only amounts convert to the base currency", "input.currency")
    if len(given.breakdowns) > MAX_BREAKDOWNS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"at most {MAX_BREAKDOWNS} breakdowns", "input.breakdowns")
    breakdowns: list[FieldRef] = []
    for i, name in enumerate(given.breakdowns):
        ref = resolve_field(event_type, name, f"input.breakdowns[{i}]")
        if not ref.breakdown:
            raise DomainError(
                ErrorCode.INVALID_INPUT,
                f"{name} cannot break down (every value would be its own bar); filter by it instead",
                f"input.breakdowns[{i}]",
            )
        if ref in breakdowns:
            raise DomainError(ErrorCode.INVALID_INPUT, f"{name} is already a breakdown", f"input.breakdowns[{i}]")
        breakdowns.append(ref)
    filters = tuple(_filter(event_type, f, f"input.filters[{i}]") for i, f in enumerate(given.filters))
    first, last = given.range.days(time_zone, now)
    if first is None or last is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "give both from and to, or a preset", "input.range")
    buckets = bucket_bounds(first, last, time_zone, given.interval)
    return Insight(
        event_type=event_type,
        measure=given.measure,
        filters=filters,
        breakdowns=tuple(breakdowns),
        first_day=first,
        last_day=last,
        time_zone=time_zone,
        interval=given.interval,
        chart_type=given.chart_type,
        top=given.top,
        offset=given.offset,
        base_currency=given.currency == "BASE",
        buckets=buckets,
        segment_id=given.segment_id,
    )


def _filter(event_type: catalogue.EventType, given: FilterInput, where: str) -> Filter:
    ref = resolve_field(event_type, given.field, f"{where}.field")
    op, values = given.operator, given.values
    if op is Operator.IS_SET:
        if values not in ([], [True], [False]):
            raise DomainError(ErrorCode.INVALID_INPUT, "IS_SET takes no value, or true / false", f"{where}.values")
        return Filter(ref, op, (values[0] if values else True,))
    if op in (Operator.EQUALS, Operator.NOT_EQUALS, Operator.CONTAINS, Operator.GREATER_THAN, Operator.LESS_THAN):
        if len(values) != 1:
            raise DomainError(ErrorCode.INVALID_INPUT, f"{op.value} takes exactly one value", f"{where}.values")
    elif not values:
        raise DomainError(ErrorCode.INVALID_INPUT, "IN takes at least one value", f"{where}.values")
    # Open keys (properties, custom fields) compare as numbers when their stored value is one.
    open_key = ref.json_source is not None and ref.json_source[0] != "fields"
    comparable = ref.kind in (Kind.NUMBER, Kind.DATE, Kind.MONTH) or open_key
    if op in (Operator.GREATER_THAN, Operator.LESS_THAN) and not comparable:
        raise DomainError(
            ErrorCode.INVALID_INPUT,
            f"{ref.name} is {ref.kind.value}: only numbers and dates compare",
            f"{where}.operator",
        )
    if op is Operator.CONTAINS and ref.kind is not Kind.TEXT:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"{ref.name} is {ref.kind.value}: only text contains", f"{where}.operator"
        )
    return Filter(ref, op, tuple(_value(ref, op, v, f"{where}.values[{i}]") for i, v in enumerate(values)))


def _value(ref: FieldRef, op: Operator, value: Any, where: str) -> Any:
    """A filter value in its field's kind (ids as UUIDs, numbers as Decimals, dates as dates)."""
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        raise DomainError(ErrorCode.INVALID_INPUT, "a value is text or a number", where)
    numeric = op in (Operator.GREATER_THAN, Operator.LESS_THAN) and ref.kind in (Kind.NUMBER, Kind.TEXT)
    if ref.kind is Kind.NUMBER or numeric:
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise DomainError(ErrorCode.INVALID_INPUT, f"{ref.name} compares with a number", where) from None
        if not number.is_finite():
            raise DomainError(ErrorCode.INVALID_INPUT, "must be a finite number", where)
        return number
    text = str(value)
    if len(text) > 500:
        raise DomainError(ErrorCode.INVALID_INPUT, "at most 500 characters", where)
    if ref.kind is Kind.ID:
        try:
            return str(UUID(text))
        except ValueError:
            raise DomainError(ErrorCode.INVALID_INPUT, f"{ref.name} takes ids", where) from None
    if ref.kind is Kind.DATE:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise DomainError(ErrorCode.INVALID_INPUT, "a date as YYYY-MM-DD", where) from None
    if ref.kind is Kind.MONTH and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise DomainError(ErrorCode.INVALID_INPUT, "a month as YYYY-MM", where)
    return text


def bucket_bounds(first: date, last: date, time_zone: str, interval: Interval) -> tuple[tuple[datetime, datetime], ...]:
    """[start, end) in UTC of every bucket of the local days first..last: local hours, days, ISO weeks (from
    Monday) or calendar months, the first and last cut to the range. More than MAX_BUCKETS is an error."""
    end_day = last + timedelta(days=1)
    if interval is Interval.HOUR:
        count = (end_day - first).days * 25
        if count > MAX_BUCKETS * 1.05:
            raise _too_many(interval)
        start, stop = local_midnight(first, time_zone), local_midnight(end_day, time_zone)
        out: list[tuple[datetime, datetime]] = []
        at = start
        while at < stop:
            nxt = min(at + timedelta(hours=1), stop)
            out.append((at, nxt))
            at = nxt
        if len(out) > MAX_BUCKETS:
            raise _too_many(interval)
        return tuple(out)
    starts: list[date] = [first]
    day = first
    while True:
        if interval is Interval.DAY:
            day = day + timedelta(days=1)
        elif interval is Interval.WEEK:
            day = day + timedelta(days=7 - day.weekday())
        else:
            day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        if day >= end_day:
            break
        starts.append(day)
        if len(starts) > MAX_BUCKETS:
            raise _too_many(interval)
    bounds = [local_midnight(d, time_zone) for d in [*starts, end_day]]
    return tuple(pairwise(bounds))


def _too_many(interval: Interval) -> DomainError:
    return DomainError(
        ErrorCode.INVALID_INPUT,
        f"more than {MAX_BUCKETS} {interval.value.lower()} buckets: pick a longer interval or a shorter range",
        "input.interval",
    )
