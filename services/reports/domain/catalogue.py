"""Seed 002's predefined reports, declared once: what each lists or analyses, its columns, filters and defaults.

The repository (repository/reports.py) holds one SQL source per report whose output columns carry exactly these
keys; this module does no I/O and knows no SQL. Two kinds:

- itemised: one row per entity (a contact, an order, an invoice). Amounts are in the contact's account currency
  (the organisation's base currency when the contact has none), the original amount and currency available as
  columns; the entity's custom fields (`custom.<key>`) and its contact's (`contact.custom.<key>`) can be added.
- analytical: one row per period and dimension, already aggregated; amounts converted to the organisation's base
  currency (ECB rates of the amount's local date or up to 7 days before, through the euro). No custom fields:
  aggregated analysis over time has no entity to read them from (seed 002).

The currency is always its own column (`currency`), next to any money column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from shared.custom_fields import BUSINESS_ENTITIES


class Kind(StrEnum):
    ITEMISED = "itemised"
    ANALYTICAL = "analytical"


class ColumnType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    MONEY = "money"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    ID = "id"


class Aggregate(StrEnum):
    COUNT = "count"
    SUM = "sum"
    AVERAGE = "average"
    MIN = "min"
    MAX = "max"


class Filter(StrEnum):
    """The filters a report can take (every report takes `range`)."""

    RANGE = "range"
    CATEGORIES = "categoryIds"
    INTEGRATIONS = "integrationIds"
    STATUSES = "statuses"
    TYPES = "types"
    INTERVAL = "interval"
    SEGMENT = "segmentId"  # rows of a segment's members: every report whose rows relate to contacts


NUMERIC = (Aggregate.COUNT, Aggregate.SUM, Aggregate.AVERAGE, Aggregate.MIN, Aggregate.MAX)
ORDERED = (Aggregate.COUNT, Aggregate.MIN, Aggregate.MAX)
COUNT_ONLY = (Aggregate.COUNT,)


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    type: ColumnType
    groupable: bool = False
    aggregates: tuple[Aggregate, ...] = COUNT_ONLY

    @property
    def money(self) -> bool:
        return self.type is ColumnType.MONEY


def text(key: str, label: str, groupable: bool = True) -> Column:
    return Column(key, label, ColumnType.TEXT, groupable, COUNT_ONLY)


def ident(key: str, label: str, groupable: bool = True) -> Column:
    return Column(key, label, ColumnType.ID, groupable, COUNT_ONLY)


def number(key: str, label: str, groupable: bool = False) -> Column:
    return Column(key, label, ColumnType.NUMBER, groupable, NUMERIC)


def money(key: str, label: str) -> Column:
    return Column(key, label, ColumnType.MONEY, False, NUMERIC)


def day(key: str, label: str) -> Column:
    return Column(key, label, ColumnType.DATE, True, ORDERED)


def instant(key: str, label: str) -> Column:
    return Column(key, label, ColumnType.DATETIME, False, ORDERED)


def flag(key: str, label: str) -> Column:
    return Column(key, label, ColumnType.BOOLEAN, True, COUNT_ONLY)


CURRENCY = Column("currency", "Currency", ColumnType.TEXT, True, COUNT_ONLY)


@dataclass(frozen=True)
class Report:
    key: str
    area: str
    name: str
    description: str
    kind: Kind
    columns: tuple[Column, ...]
    default_columns: tuple[str, ...]
    default_sort: tuple[tuple[str, bool], ...]  # (column, descending)
    filters: tuple[Filter, ...] = (Filter.RANGE,)
    statuses: tuple[str, ...] = ()  # what `statuses` takes
    types: tuple[str, ...] = ()  # what `types` takes
    custom: bool = True  # itemised: the entity has custom fields (`custom.<key>`)
    contact_custom: bool = True  # itemised: rows have a contact whose custom fields can be added
    by_key: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_key", {c.key: c for c in self.columns})
        for key in (*self.default_columns, *(k for k, _ in self.default_sort)):
            assert key in self.by_key, f"{self.key}: {key}"
        assert "currency" not in self.by_key or self.by_key["currency"] is CURRENCY

    @property
    def itemised(self) -> bool:
        return self.kind is Kind.ITEMISED

    @property
    def has_money(self) -> bool:
        return any(c.money for c in self.columns)


# Columns shared by the itemised reports of business entities.
_CONTACT = (ident("contact_id", "Contact"), text("contact_email", "Contact email"))
_WHERE = (ident("integration_id", "Integration"), ident("category_id", "Category"), ident("product_id", "Product"))
_ENTITY = (
    text("entity_id", "Entity id", groupable=False),
    text("state", "State"),
    instant("state_at", "State since"),
    instant("first_event_at", "First event"),
    instant("last_event_at", "Last event"),
    number("events", "Events"),
)
_AMOUNTS = (
    money("amount", "Amount"),
    CURRENCY,
    # In the entity's own currency (`original_currency`): never summed, as rows hold different currencies.
    Column("original_amount", "Original amount", ColumnType.MONEY, False, COUNT_ONLY),
    text("original_currency", "Original currency"),
    Column("fx_rate", "FX rate", ColumnType.NUMBER, False, ORDERED),
    day("fx_rate_date", "FX rate date"),
)
_PERIOD = (day("period", "Period"),)
_ENTITY_FILTERS = (Filter.RANGE, Filter.CATEGORIES, Filter.INTEGRATIONS, Filter.STATUSES, Filter.SEGMENT)
_PERIOD_FILTERS = (Filter.RANGE, Filter.INTEGRATIONS, Filter.CATEGORIES, Filter.INTERVAL, Filter.SEGMENT)
_FX_USED = text("fx_rates", "FX rates used (currency rate on date)", groupable=False)

FINANCIAL_TYPES = ("invoice", "credit_note", "payment", "refund", "top_up")
EVENT_TYPES = BUSINESS_ENTITIES  # seed 002's business event types, declared once in shared/custom_fields.py

# Every state a business event can be in (the event log's `statuses`).
EVENT_STATES = (
    "PENDING",
    "SUCCESSFUL",
    "FAILED",
    "achieved",
    "active",
    "allocated",
    "cancelled",
    "closed",
    "completed",
    "converted",
    "created",
    "draft",
    "expired",
    "failed",
    "granted",
    "in_progress",
    "issued",
    "logged",
    "lost",
    "open",
    "paused",
    "pending",
    "pledged",
    "posted",
    "qualified",
    "received",
    "recorded",
    "redeemed",
    "resolved",
    "returned",
    "revoked",
    "trial",
    "void",
)

REPORTS: tuple[Report, ...] = (
    # Contacts
    Report(
        "contact_summary",
        "Contacts",
        "Contact Summary",
        "Every contact seen in the range (first seen before its end, last seen after its start): its type, first and"
        " last seen, the integrations it came through, its orders, and its lifetime amount (posted purchases,"
        " payments, top-ups and donations less refunds) in its account currency, with the amounts per original"
        " currency.",
        Kind.ITEMISED,
        (
            ident("contact_id", "Contact"),
            text("contact_email", "Email"),
            text("display_name", "Name"),
            text("contact_type", "Type"),
            text("channel", "Channel"),
            instant("first_seen", "First seen"),
            instant("last_seen", "Last seen"),
            number("integrations", "Integrations"),
            text("integration_ids", "Integration ids", groupable=False),
            number("orders", "Orders"),
            number("successful_orders", "Successful orders"),
            money("lifetime_amount", "Lifetime amount"),
            CURRENCY,
            text("lifetime_amounts", "Lifetime amounts per currency", groupable=False),
        ),
        (
            "contact_id",
            "contact_type",
            "first_seen",
            "last_seen",
            "integrations",
            "orders",
            "lifetime_amount",
            "currency",
        ),
        (("last_seen", True),),
        (Filter.RANGE, Filter.INTEGRATIONS, Filter.CATEGORIES, Filter.STATUSES, Filter.SEGMENT),
        statuses=("generic", "anonymous"),
    ),
    Report(
        "contacts_new_returning",
        "Contacts",
        "New and returning contacts",
        "Per period: contacts active (an order or a business event), of them new (first seen in the period) and"
        " returning (first seen before it).",
        Kind.ANALYTICAL,
        (
            *_PERIOD,
            number("active_contacts", "Active"),
            number("new_contacts", "New"),
            number("returning_contacts", "Returning"),
        ),
        ("period", "active_contacts", "new_contacts", "returning_contacts"),
        (("period", False),),
        _PERIOD_FILTERS,
    ),
    # Financials
    Report(
        "financial_transactions",
        "Financials",
        "Financial transactions",
        "Invoices, credit notes, payments, refunds and top-ups with a last event in the range, in their latest state.",
        Kind.ITEMISED,
        (
            text("type", "Type"),
            text("number", "Number", groupable=False),
            *_ENTITY,
            *_CONTACT,
            *_WHERE,
            text("method", "Method"),
            *_AMOUNTS,
        ),
        ("type", "number", "state", "state_at", "contact_id", "amount", "currency"),
        (("last_event_at", True),),
        (*_ENTITY_FILTERS, Filter.TYPES),
        statuses=("draft", "posted", "void", "pending", "failed"),
        types=FINANCIAL_TYPES,
    ),
    Report(
        "revenue_per_period",
        "Financials",
        "Revenue per period",
        "Per period, in the base currency: posted invoices less posted credit notes (net invoiced), posted payments"
        " and top-ups less posted refunds (net collected).",
        Kind.ANALYTICAL,
        (
            *_PERIOD,
            money("invoiced", "Invoiced"),
            money("credited", "Credited"),
            money("net_invoiced", "Net invoiced"),
            money("collected", "Collected"),
            money("refunded", "Refunded"),
            money("net_collected", "Net collected"),
            CURRENCY,
            _FX_USED,
        ),
        ("period", "invoiced", "credited", "net_invoiced", "collected", "refunded", "net_collected", "currency"),
        (("period", False),),
        _PERIOD_FILTERS,
    ),
    # Customer events
    Report(
        "event_log",
        "Customer Events",
        "Event log",
        "Every business event that occurred in the range, with its state and whether it counted.",
        Kind.ITEMISED,
        (
            instant("occurred_at", "Occurred"),
            text("type", "Type"),
            text("entity_id", "Entity id", groupable=False),
            text("state", "State"),
            flag("counted", "Counted"),
            *_CONTACT,
            *_WHERE,
            text("channel", "Channel"),
            text("fields", "Fields", groupable=False),
            *_AMOUNTS,
        ),
        ("occurred_at", "type", "entity_id", "state", "counted", "contact_id", "amount", "currency"),
        (("occurred_at", True),),
        (*_ENTITY_FILTERS, Filter.TYPES),
        statuses=EVENT_STATES,
        types=EVENT_TYPES,
    ),
    Report(
        "events_per_type",
        "Customer Events",
        "Events per type per period",
        "Per period and event type: events, counted events, distinct contacts, and the counted amount in the base"
        " currency.",
        Kind.ANALYTICAL,
        (
            *_PERIOD,
            text("type", "Type"),
            number("events", "Events"),
            number("counted_events", "Counted"),
            number("contacts", "Contacts"),
            money("counted_amount", "Counted amount"),
            CURRENCY,
            _FX_USED,
        ),
        ("period", "type", "events", "counted_events", "contacts", "counted_amount", "currency"),
        (("period", False), ("type", False)),
        (*_PERIOD_FILTERS, Filter.TYPES),
        types=EVENT_TYPES,
    ),
    # Passes
    Report(
        "passes",
        "Passes",
        "Passes",
        "Passes with an event in the range: type, state (issued, redeemed, expired), when issued, and value.",
        Kind.ITEMISED,
        (
            text("pass_type", "Pass type"),
            *_ENTITY,
            instant("issued_at", "Issued"),
            instant("redeemed_at", "Redeemed"),
            *_CONTACT,
            *_WHERE,
            *_AMOUNTS,
        ),
        ("entity_id", "pass_type", "state", "issued_at", "redeemed_at", "contact_id", "amount", "currency"),
        (("last_event_at", True),),
        _ENTITY_FILTERS,
        statuses=("issued", "redeemed", "expired"),
    ),
    Report(
        "pass_issuance",
        "Passes",
        "Pass issuance and redemption",
        "Per period and pass type: passes issued, redeemed and expired, and the redemption rate (redeemed ÷ issued).",
        Kind.ANALYTICAL,
        (
            *_PERIOD,
            text("pass_type", "Pass type"),
            number("issued", "Issued"),
            number("redeemed", "Redeemed"),
            number("expired", "Expired"),
            number("redemption_rate", "Redemption rate"),
        ),
        ("period", "pass_type", "issued", "redeemed", "expired", "redemption_rate"),
        (("period", False), ("pass_type", False)),
        _PERIOD_FILTERS,
    ),
    # Orders
    Report(
        "orders_with_commission",
        "Orders",
        "Orders with commission",
        "Orders created in the range with their status, commission status and commission, in the contact's account"
        " currency.",
        Kind.ITEMISED,
        (
            ident("order_id", "Order", groupable=False),
            instant("created_at", "Created"),
            text("kind", "Kind"),
            text("status", "Status"),
            text("comm_status", "Commission status"),
            text("failure_reason", "Failure reason"),
            instant("successful_at", "Successful at"),
            ident("provider_id", "Provider"),
            *_CONTACT,
            *_WHERE,
            *_AMOUNTS,
        ),
        ("order_id", "created_at", "status", "comm_status", "product_id", "contact_id", "amount", "currency"),
        (("created_at", True),),
        _ENTITY_FILTERS,
        statuses=("PENDING", "SUCCESSFUL", "FAILED"),
    ),
    Report(
        "commission_per_provider",
        "Orders",
        "Commission per provider per month",
        "Per month and provider: orders created, successful ones, and commission pending and paid, in the base"
        " currency.",
        Kind.ANALYTICAL,
        (
            day("month", "Month"),
            ident("provider_id", "Provider"),
            number("orders", "Orders"),
            number("successful_orders", "Successful"),
            money("commission_pending", "Commission pending"),
            money("commission_paid", "Commission paid"),
            CURRENCY,
            _FX_USED,
        ),
        ("month", "provider_id", "orders", "successful_orders", "commission_pending", "commission_paid", "currency"),
        (("month", False), ("provider_id", False)),
        (Filter.RANGE, Filter.INTEGRATIONS, Filter.CATEGORIES, Filter.SEGMENT),
    ),
    Report(
        "network_performance",
        "Orders",
        "Network performance",
        "Per provider and integration: orders created in the range, successful ones, the success rate, and"
        " commission pending and paid in the base currency.",
        Kind.ANALYTICAL,
        (
            ident("provider_id", "Provider"),
            ident("integration_id", "Integration"),
            number("orders", "Orders"),
            number("successful_orders", "Successful"),
            number("success_rate", "Success rate"),
            money("commission_pending", "Commission pending"),
            money("commission_paid", "Commission paid"),
            CURRENCY,
            _FX_USED,
        ),
        (
            "provider_id",
            "integration_id",
            "orders",
            "successful_orders",
            "success_rate",
            "commission_pending",
            "commission_paid",
            "currency",
        ),
        (("provider_id", False), ("integration_id", False)),
        (Filter.RANGE, Filter.INTEGRATIONS, Filter.CATEGORIES, Filter.SEGMENT),
    ),
    # Service requests
    Report(
        "open_service_requests",
        "Service Requests",
        "Open service requests",
        "Service requests open or in progress now, opened in the range: category, priority, age.",
        Kind.ITEMISED,
        (
            *_ENTITY,
            text("category", "Category"),
            text("priority", "Priority"),
            instant("opened_at", "Opened"),
            number("age_days", "Age (days)"),
            *_CONTACT,
            ident("integration_id", "Integration"),
        ),
        ("entity_id", "category", "priority", "state", "opened_at", "age_days", "contact_id"),
        (("opened_at", False),),
        (Filter.RANGE, Filter.INTEGRATIONS, Filter.STATUSES, Filter.SEGMENT),
        statuses=("open", "in_progress"),
    ),
    Report(
        "resolution_time",
        "Service Requests",
        "Resolution time by category and priority",
        "Service requests resolved in the range, per category and priority: how many, and the hours from opened to"
        " resolved (average, shortest, longest).",
        Kind.ANALYTICAL,
        (
            text("category", "Category"),
            text("priority", "Priority"),
            number("resolved", "Resolved"),
            number("average_hours", "Average hours"),
            number("min_hours", "Shortest hours"),
            number("max_hours", "Longest hours"),
        ),
        ("category", "priority", "resolved", "average_hours", "min_hours", "max_hours"),
        (("category", False), ("priority", False)),
        (Filter.RANGE, Filter.INTEGRATIONS, Filter.SEGMENT),
    ),
    # Subscriptions
    Report(
        "subscriptions",
        "Subscriptions",
        "Subscriptions",
        "Subscriptions with an event in the range: plan, billing period, state, and the recurring amount.",
        Kind.ITEMISED,
        (
            text("plan", "Plan"),
            text("billing_period", "Billing period"),
            *_ENTITY,
            instant("started_at", "Active from"),
            number("allowance", "Allowance"),
            *_CONTACT,
            *_WHERE,
            *_AMOUNTS,
        ),
        ("entity_id", "plan", "billing_period", "state", "started_at", "contact_id", "amount", "currency"),
        (("last_event_at", True),),
        _ENTITY_FILTERS,
        statuses=("trial", "active", "paused", "cancelled", "expired"),
    ),
    Report(
        "mrr_churn",
        "Subscriptions",
        "MRR and churn per month",
        "Per month: subscriptions active at its start and end, cancelled in it, the churn rate (cancelled ÷ active"
        " at the start); MRR (monthly-normalised recurring amounts of subscriptions active at month end, in the"
        " base currency), MRR at the start, MRR cancelled and the MRR churn rate.",
        Kind.ANALYTICAL,
        (
            day("month", "Month"),
            number("active_at_start", "Active at start"),
            number("active_at_end", "Active at end"),
            number("cancelled", "Cancelled"),
            number("churn_rate", "Churn rate"),
            money("mrr_start", "MRR at start"),
            money("mrr", "MRR"),
            money("mrr_cancelled", "MRR cancelled"),
            number("mrr_churn_rate", "MRR churn rate"),
            CURRENCY,
        ),
        ("month", "active_at_end", "cancelled", "churn_rate", "mrr", "mrr_churn_rate", "currency"),
        (("month", False),),
        (Filter.RANGE, Filter.INTEGRATIONS, Filter.SEGMENT),
    ),
    Report(
        "usage_allowance",
        "Subscriptions",
        "Usage against allowance",
        "Per month, contact and metric: the usage recorded, and the allowance of the contact's subscriptions active"
        " at month end, with the share used.",
        Kind.ANALYTICAL,
        (
            day("month", "Month"),
            ident("contact_id", "Contact"),
            text("metric", "Metric"),
            text("unit", "Unit"),
            number("used", "Used"),
            number("allowance", "Allowance"),
            number("used_share", "Share used"),
        ),
        ("month", "contact_id", "metric", "used", "allowance", "used_share"),
        (("month", False), ("contact_id", False), ("metric", False)),
        (Filter.RANGE, Filter.INTEGRATIONS, Filter.SEGMENT),
    ),
    # Rewards
    Report(
        "awards_spends",
        "Rewards",
        "Awards and spends",
        "Points awarded and spent with an event in the range: scheme, points, state.",
        Kind.ITEMISED,
        (text("type", "Type"), text("scheme", "Scheme"), number("points", "Points"), *_ENTITY, *_CONTACT, *_WHERE),
        ("type", "scheme", "points", "state", "state_at", "contact_id"),
        (("last_event_at", True),),
        (*_ENTITY_FILTERS, Filter.TYPES),
        statuses=("pending", "granted", "cancelled"),
        types=("award", "spend"),
    ),
    Report(
        "points_per_scheme",
        "Rewards",
        "Points per scheme",
        "Per scheme: points granted as awards and as spends in the range, and outstanding (every award granted less"
        " every spend granted up to the range's end).",
        Kind.ANALYTICAL,
        (
            text("scheme", "Scheme"),
            number("awarded", "Awarded"),
            number("spent", "Spent"),
            number("outstanding", "Outstanding"),
        ),
        ("scheme", "awarded", "spent", "outstanding"),
        (("scheme", False),),
        (Filter.RANGE, Filter.INTEGRATIONS, Filter.SEGMENT),
    ),
    # Inventory
    Report(
        "inventory_items",
        "Inventory",
        "Inventory items",
        "Stock items with a movement in the range: product, location and quantity of the latest movement.",
        Kind.ITEMISED,
        (*_ENTITY, text("location", "Location"), number("quantity", "Quantity"), *_WHERE),
        ("entity_id", "product_id", "location", "state", "quantity", "last_event_at"),
        (("last_event_at", True),),
        (Filter.RANGE, Filter.CATEGORIES, Filter.INTEGRATIONS, Filter.STATUSES),
        statuses=("received", "allocated", "returned"),
    ),
    Report(
        "stock_movements",
        "Inventory",
        "Stock movements per product and location",
        "Per product and location: units received, allocated and returned in the range, and the net movement"
        " (received − allocated + returned).",
        Kind.ANALYTICAL,
        (
            ident("product_id", "Product"),
            text("location", "Location"),
            number("received", "Received"),
            number("allocated", "Allocated"),
            number("returned", "Returned"),
            number("net", "Net"),
        ),
        ("product_id", "location", "received", "allocated", "returned", "net"),
        (("product_id", False), ("location", False)),
        (Filter.RANGE, Filter.INTEGRATIONS, Filter.CATEGORIES),
    ),
    # Leads
    Report(
        "leads",
        "Leads",
        "Leads",
        "Leads with an event in the range: source, owner, state.",
        Kind.ITEMISED,
        (text("source", "Source"), text("owner", "Owner"), *_ENTITY, *_CONTACT, ident("integration_id", "Integration")),
        ("entity_id", "source", "owner", "state", "first_event_at", "state_at"),
        (("last_event_at", True),),
        (Filter.RANGE, Filter.INTEGRATIONS, Filter.STATUSES, Filter.SEGMENT),
        statuses=("created", "qualified", "converted", "lost"),
    ),
    Report(
        "lead_conversion",
        "Leads",
        "Lead conversion by source",
        "Per source: leads created in the range, and of them qualified, converted and lost (by now), and the"
        " conversion rate (converted ÷ created).",
        Kind.ANALYTICAL,
        (
            text("source", "Source"),
            number("created", "Created"),
            number("qualified", "Qualified"),
            number("converted", "Converted"),
            number("lost", "Lost"),
            number("conversion_rate", "Conversion rate"),
        ),
        ("source", "created", "qualified", "converted", "lost", "conversion_rate"),
        (("source", False),),
        (Filter.RANGE, Filter.INTEGRATIONS, Filter.SEGMENT),
    ),
)

BY_KEY: dict[str, Report] = {r.key: r for r in REPORTS}
AREAS = (
    "Contacts",
    "Financials",
    "Customer Events",
    "Passes",
    "Orders",
    "Service Requests",
    "Subscriptions",
    "Rewards",
    "Inventory",
    "Leads",
)
