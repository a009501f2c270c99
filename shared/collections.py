"""The documented collections for custom reporting (seed 002, issue 10), declared once.

Seed 002 lists the collections an organisation can read for its own reporting and have forwarded to its own
MongoDB: contact profiles, organisation profiles, devices, events, subscriptions, orders, leads, service requests,
financial events/journals and usage allowances. Each is declared here once, as data with no I/O, and three
things are made from the same declaration so they cannot drift:

- the API documentation (the gateway's `/docs` "Collections" section; the gateway may not import a service,
  which is why the declarations live in `shared/` and the reports service holds their SQL);
- the NDJSON/CSV downloads (the CSV columns are the declared fields, in order);
- the documents forwarded to an organisation's MongoDB (issue 11): each document has exactly the declared
  fields, `_id` being our stable id, so an upsert keyed by `_id` is idempotent.

Documents are JSON-ready: decimals are strings (never floats: a reader's float would lose cents) with their
currency in a field beside them, datetimes ISO-8601 in UTC (`...Z`), dates `YYYY-MM-DD`. Field names are
camelCase, as in the rest of the public API.

`services/reports/domain/collections.py` maps the reports service's rows to these documents and checks them;
`services/reports/service/collections.py` streams them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FieldType(StrEnum):
    """A document field's JSON shape. DECIMAL is a string holding a decimal number ("12.50"); DATETIME an
    ISO-8601 UTC string; DATE `YYYY-MM-DD`; OBJECT a JSON object; ARRAY a JSON array."""

    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    DATE = "date"
    OBJECT = "object"
    ARRAY = "array"


class Source(StrEnum):
    """Which store a collection's data is read from (both through the reports service)."""

    REPORTS = "reports"  # the reports service's read model, fed by the orders and insights services' events
    INSIGHTS = "insights"  # the insights service's event store, streamed from insights-api's internal endpoint


@dataclass(frozen=True)
class CollectionField:
    """One field of a collection's documents. `nullable`: the field is always present but may be null."""

    name: str
    type: FieldType
    meaning: str
    nullable: bool = False


@dataclass(frozen=True)
class Index:
    """An index a reader of the collection needs, as a MongoDB key spec: ((field, 1 | -1), ...).
    `expire_after_seconds`: a TTL index (MongoDB deletes a document that long after the field's time; the field
    must be stored as a BSON date, not text: services/reports/domain/collections.py `native` does that)."""

    keys: tuple[tuple[str, int], ...]
    meaning: str
    unique: bool = False
    expire_after_seconds: int | None = None

    @property
    def name(self) -> str:
        """MongoDB's default index name for these keys (`orgId_1_occurredAt_-1`)."""
        return "_".join(f"{field}_{direction}" for field, direction in self.keys)


@dataclass(frozen=True)
class Collection:
    """A documented collection: its documents' fields, what selects them and the indexes a reader needs.

    - `time_field`: the datetime field a date range selects on (`since <= value < until`); None for a
      collection that is a current snapshot (every document, whatever the range).
    - `update_marker`: how a reader learns that a document changed. `changes_cursor` True: the reports service
      answers "documents changed after position P" (each row carries the id of the transaction that last wrote
      it, and only transactions no reader can still see uncommitted are handed out, so a position never skips a
      change); False: the collection is append-only and `time_field` is its marker.
    """

    name: str
    title: str
    meaning: str
    source: Source
    id_meaning: str
    fields: tuple[CollectionField, ...]
    time_field: str | None
    update_marker: str
    changes_cursor: bool
    indexes: tuple[Index, ...]
    retention_days: int | None = None

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> CollectionField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


_S, _I, _D, _B = FieldType.STRING, FieldType.INTEGER, FieldType.DECIMAL, FieldType.BOOLEAN
_T, _DAY, _O, _A = FieldType.DATETIME, FieldType.DATE, FieldType.OBJECT, FieldType.ARRAY
F = CollectionField

# Events are kept 90 days in MongoDB (seed 002: "Data can be retained in MongoDB for up to 90 days").
EVENTS_RETENTION_DAYS = 90


def _id(meaning: str) -> CollectionField:
    return F("_id", _S, meaning)


_ORG = F("orgId", _S, "The organisation (partner) the document belongs to.")
_CUSTOMER = F("customerId", _S, "The contact (contact_profiles `_id`); null when the event named none.", True)
_INTEGRATION = F("integrationId", _S, "The integration that reported it.")
_AMOUNT = F("amount", _D, "The amount, a decimal string in `currency`.", True)
_CURRENCY = F("currency", _S, "ISO 4217 currency of `amount`; null when there is no amount.", True)
_CUSTOM = F("customFields", _O, "The organisation's custom fields set on it (key: value); {} when none.")
_ERASED = "an erased contact's personal fields are null"


def _entity_fields(specific: tuple[CollectionField, ...]) -> tuple[CollectionField, ...]:
    """The fields every business-entity collection (subscriptions, leads, service requests) shares."""
    return (
        _id("`<integrationId>:<entityId>`: the entity as the integration names it, unique per organisation."),
        _ORG,
        _INTEGRATION,
        F("entityId", _S, "The entity's id in the integration's own system."),
        _CUSTOMER,
        F("state", _S, "Its latest state (of the latest event by occurrence time)."),
        F("stateAt", _T, "When it entered that state."),
        *specific,
        F("firstEventAt", _T, "Its first event (when it was created, as far as events tell)."),
        F("lastEventAt", _T, "Its latest event: the time a date range selects on."),
        F("events", _I, "How many of its events were received."),
        _CUSTOM,
    )


def _entity_indexes(extra: tuple[Index, ...] = ()) -> tuple[Index, ...]:
    return (
        Index((("orgId", 1), ("lastEventAt", -1)), "Date ranges: the entities active in a period, newest first."),
        Index((("orgId", 1), ("customerId", 1)), "One contact's entities."),
        Index((("orgId", 1), ("state", 1), ("stateAt", -1)), "Entities in a state (open, active), by when."),
        *extra,
    )


_ENTITY_MARKER = "rewritten whenever one of its business events is applied (changes cursor)"

CONTACT_PROFILES = Collection(
    name="contact_profiles",
    title="Contact profiles",
    meaning=(
        "The organisation's contacts (the orders service's customers) as the reports service knows them: kind, "
        "channel, email and display name, account currency, custom fields, and when each was first and last seen "
        "(widened by every order and business event of the contact). A contact merged into another keeps its "
        "document with `mergedInto` set; what it did is reported under the surviving contact. An erased contact "
        "(a data-protection erasure) keeps its id and times, with `erased` true and every personal field null."
    ),
    source=Source.REPORTS,
    id_meaning="The contact's id (the orders service's customer id).",
    fields=(
        _id("The contact's id (the orders service's customer id)."),
        _ORG,
        F("kind", _S, "generic or anonymous.", True),
        F("channel", _S, "The channel it first came through (web, mobile, api, partner).", True),
        F("email", _S, f"Its email, when the orders service published one; {_ERASED}.", True),
        F("displayName", _S, f"Its display name, when published; {_ERASED}.", True),
        F("accountCurrency", _S, "Its account currency; null: the organisation's base currency.", True),
        F("customFields", _O, f"The organisation's custom fields set on it; {_ERASED} ({{}})."),
        F("createdAt", _T, "When the orders service created it.", True),
        F("firstSeen", _T, "Its first order or event: the time a date range selects on."),
        F("lastSeen", _T, "Its latest order or event."),
        F("mergedInto", _S, "The contact it was merged into (identity merge); null when it stands.", True),
        F("erased", _B, "Whether it was erased (data protection)."),
        F("erasedAt", _T, "When it was erased.", True),
    ),
    time_field="firstSeen",
    update_marker="rewritten by every event that changes the contact (changes cursor)",
    changes_cursor=True,
    indexes=(
        Index((("orgId", 1), ("firstSeen", -1)), "Date ranges: contacts by when they first appeared."),
        Index((("orgId", 1), ("lastSeen", -1)), "Recently active contacts."),
        Index((("orgId", 1), ("email", 1)), "Find a contact by email."),
    ),
)

ORGANISATION_PROFILES = Collection(
    name="organisation_profiles",
    title="Organisation profiles",
    meaning=(
        "The partner itself (one document, `kind` partner: its name, time zone and base currency, from the "
        "organisation settings the orders service publishes) and the providers of its network (one document "
        "each, `kind` provider): every provider the orders service lists for the organisation (with its name, "
        "read from the orders service when the snapshot is taken) and any other its orders name, with the orders "
        "each fulfils and when the first and latest were placed. A snapshot: a date range does not select among "
        "them; forward it whole."
    ),
    source=Source.REPORTS,
    id_meaning="The organisation's id for the partner, the provider's id for a provider.",
    fields=(
        _id("The organisation's id (partner) or the provider's id (provider)."),
        _ORG,
        F("kind", _S, "partner or provider."),
        F(
            "name",
            _S,
            "The partner's or provider's name (null for a provider the orders service no longer lists).",
            True,
        ),
        F("timeZone", _S, "The partner's IANA time zone, in which days are counted; null for providers.", True),
        F("baseCurrency", _S, "The partner's base currency; null for providers.", True),
        F("orders", _I, "Orders of the partner's network (partner: all; provider: those it fulfils)."),
        F("firstOrderAt", _T, "When the first of those orders was placed.", True),
        F("lastOrderAt", _T, "When the latest of those orders was placed.", True),
    ),
    time_field=None,
    update_marker="recomputed on each read (a snapshot: forward it whole)",
    changes_cursor=False,
    indexes=(Index((("orgId", 1), ("kind", 1)), "The partner and its providers."),),
)

DEVICES = Collection(
    name="devices",
    title="Devices",
    meaning=(
        "The devices each contact used, with platform, user agent and when first and last seen, as the insights "
        "service records them while it ingests events. Read from the insights service's store through its "
        "internal keyset-paged endpoint (insights-api `/internal/insights/collections/devices`) and mapped by "
        "these declarations in the reports service: ingestion writes nothing more for it."
    ),
    source=Source.INSIGHTS,
    id_meaning="`<customerId>:<deviceId>`.",
    fields=(
        _id("`<customerId>:<deviceId>`: one device of one contact."),
        _ORG,
        F("customerId", _S, "The contact."),
        F("deviceId", _S, "The device id the integration reported."),
        F("platform", _S, "Its platform (ios, android, web, ...).", True),
        F("userAgent", _S, "Its latest user agent.", True),
        F("firstSeen", _T, "Its first event."),
        F("lastSeen", _T, "Its latest event: the time a date range selects on."),
    ),
    time_field="lastSeen",
    update_marker="lastSeen (moves forward with each event from the device; a late event may widen firstSeen only)",
    changes_cursor=False,
    indexes=(
        Index((("orgId", 1), ("lastSeen", -1)), "Date ranges: devices active in a period."),
        Index((("orgId", 1), ("customerId", 1)), "One contact's devices."),
    ),
)

EVENTS = Collection(
    name="events",
    title="Events",
    meaning=(
        "Every event the insights service stored: funnel and behaviour events sent through `POST /v1/events`, "
        "the orders service's orders as funnel steps, and business events (whose entities the subscriptions, "
        "leads, service requests, financial journals and usage allowances collections describe). Read from the "
        "insights service's store through its internal keyset-paged endpoint (insights-api "
        "`/internal/insights/collections/events`), mapped here, so ingestion writes nothing more for it. "
        "Append-only; kept 90 days in a forwarded MongoDB (TTL index on `occurredAt`)."
    ),
    source=Source.INSIGHTS,
    id_meaning="The event's id in the insights store.",
    fields=(
        _id("The event's id."),
        _ORG,
        F("occurredAt", _T, "When it happened (the sender's time): the time a date range selects on."),
        F("receivedAt", _T, "When the platform stored it."),
        F("type", _S, "Its type (page_view, product_viewed, order_placed, invoice, ...)."),
        F("class", _S, "funnel, behaviour or business."),
        _INTEGRATION,
        _CUSTOMER,
        F("anonymousId", _S, "The anonymous visitor id it carried.", True),
        F("deviceId", _S, "The device it came from (devices `deviceId`).", True),
        F("productId", _S, "The product it concerns.", True),
        F("categoryId", _S, "The product's category.", True),
        F("channel", _S, "The channel (web, mobile, api, partner).", True),
        _AMOUNT,
        _CURRENCY,
        F("entityId", _S, "Business events: the entity it reports on.", True),
        F("state", _S, "Business events: the entity's state it reports.", True),
        F("items", _A, "Line items it carried; [] when none."),
        F("properties", _O, "Its other properties; {} when none."),
    ),
    time_field="occurredAt",
    update_marker=(
        "occurredAt (append-only; an event may be sent up to 90 days after it happened, so a follower re-reads "
        "recent windows and upserts by `_id`)"
    ),
    changes_cursor=False,
    indexes=(
        Index((("orgId", 1), ("occurredAt", -1)), "Date ranges: the events of a period, newest first."),
        Index((("orgId", 1), ("type", 1), ("occurredAt", -1)), "Events of one type."),
        Index((("orgId", 1), ("customerId", 1), ("occurredAt", -1)), "One contact's timeline."),
        Index(
            (("occurredAt", 1),),
            "Retention: events older than 90 days are deleted.",
            expire_after_seconds=EVENTS_RETENTION_DAYS * 86400,
        ),
    ),
    retention_days=EVENTS_RETENTION_DAYS,
)

SUBSCRIPTIONS = Collection(
    name="subscriptions",
    title="Subscriptions",
    meaning=(
        "Each subscription of a contact to a plan (business events of type subscription), as its events leave "
        "it: the latest state (trial, active, paused, cancelled, expired), the plan, billing period, recurring "
        "amount and usage allowance per period, and when it was activated (its first event in state active)."
    ),
    source=Source.REPORTS,
    id_meaning="`<integrationId>:<entityId>`.",
    fields=_entity_fields(
        (
            F("plan", _S, "The plan subscribed to.", True),
            F("period", _S, "The billing period: week, month, quarter or year.", True),
            _AMOUNT,
            _CURRENCY,
            F("allowance", _D, "The usage allowance per period, in the usage's unit.", True),
            F("activatedAt", _T, "When it first became active (the counted event).", True),
        )
    ),
    time_field="lastEventAt",
    update_marker=_ENTITY_MARKER,
    changes_cursor=True,
    indexes=_entity_indexes(),
)

ORDERS = Collection(
    name="orders",
    title="Orders",
    meaning=(
        "The orders placed through the partner's integrations (the orders service's orders, as of their newest "
        "event): who placed what through which integration, fulfilled by which provider, its status and "
        "commission status, and the commission amount, with every commission change in `commissionHistory`."
    ),
    source=Source.REPORTS,
    id_meaning="The order's id.",
    fields=(
        _id("The order's id."),
        _ORG,
        _INTEGRATION,
        F("customerId", _S, "The contact who placed it."),
        F("productId", _S, "The product ordered."),
        F("categoryId", _S, "The product's category."),
        F("providerId", _S, "The provider that fulfils it (organisation_profiles `_id`).", True),
        F("kind", _S, "The order's kind."),
        F("status", _S, "PENDING, SUCCESSFUL or FAILED."),
        F("commissionStatus", _S, "The commission's status (PENDING, PAID, ...)."),
        F("failureReason", _S, "Why it failed, when it did.", True),
        F("amount", _D, "The commission amount, a decimal string in `currency`."),
        F("currency", _S, "ISO 4217 currency of `amount`."),
        F("createdAt", _T, "When it was placed: the time a date range selects on."),
        F("successfulAt", _T, "When it became SUCCESSFUL, when known.", True),
        F("updatedAt", _T, "The time of its newest event."),
        F(
            "commissionHistory",
            _A,
            "Each status or commission change, oldest first: {eventId, fromStatus, toStatus, fromCommissionStatus, "
            "toCommissionStatus, amount, currency, occurredAt}.",
        ),
        _CUSTOM,
    ),
    time_field="createdAt",
    update_marker="updatedAt; rewritten by every order event (changes cursor)",
    changes_cursor=True,
    indexes=(
        Index((("orgId", 1), ("createdAt", -1)), "Date ranges: orders placed in a period, newest first."),
        Index((("orgId", 1), ("customerId", 1), ("createdAt", -1)), "One contact's orders."),
        Index((("orgId", 1), ("status", 1), ("commissionStatus", 1), ("createdAt", -1)), "Orders by status."),
        Index((("orgId", 1), ("providerId", 1), ("createdAt", -1)), "One provider's orders."),
    ),
)

LEADS = Collection(
    name="leads",
    title="Leads",
    meaning=(
        "Each sales lead (business events of type lead) from creation to conversion or loss: its latest state "
        "(created, qualified, converted, lost), where it came from and who works it."
    ),
    source=Source.REPORTS,
    id_meaning="`<integrationId>:<entityId>`.",
    fields=_entity_fields(
        (
            F("source", _S, "Where the lead came from.", True),
            F("owner", _S, "Who works it.", True),
        )
    ),
    time_field="lastEventAt",
    update_marker=_ENTITY_MARKER,
    changes_cursor=True,
    indexes=_entity_indexes(),
)

SERVICE_REQUESTS = Collection(
    name="service_requests",
    title="Service requests",
    meaning=(
        "Each service request of a contact (business events of type service_request): its latest state (open, "
        "in_progress, resolved, closed, cancelled), category and priority, and when it was opened and resolved."
    ),
    source=Source.REPORTS,
    id_meaning="`<integrationId>:<entityId>`.",
    fields=_entity_fields(
        (
            F("category", _S, "The request's category.", True),
            F("priority", _S, "low, medium, high or urgent.", True),
            F("resolvedAt", _T, "When it was first reported resolved or closed.", True),
        )
    ),
    time_field="lastEventAt",
    update_marker=_ENTITY_MARKER,
    changes_cursor=True,
    indexes=_entity_indexes(),
)

FINANCIAL_TYPES = ("invoice", "credit_note", "payment", "refund", "top_up")

FINANCIAL_JOURNALS = Collection(
    name="financial_journals",
    title="Financial events and journals",
    meaning=(
        "Every financial event received (business events of types invoice, credit_note, payment, refund and "
        "top_up), one document per event: the journal of each document's life (draft, posted, void; pending, "
        "posted, failed) with its amount in the original currency and the contact's account currency. "
        "`counted` marks the event that made the document final (its first posted event), which is what "
        "revenue figures add up. Commission is in the orders collection."
    ),
    source=Source.REPORTS,
    id_meaning="The business event's own id (`event_id`).",
    fields=(
        _id("The business event's id."),
        _ORG,
        F("journalType", _S, "invoice, credit_note, payment, refund or top_up."),
        _INTEGRATION,
        F("entityId", _S, "The document's id in the integration's own system (all its events share it)."),
        F("state", _S, "The state this event reports."),
        F("occurredAt", _T, "When it happened: the time a date range selects on."),
        F("recordedAt", _T, "When the platform stored it."),
        _CUSTOMER,
        _AMOUNT,
        _CURRENCY,
        F("accountCurrency", _S, "The contact's account currency the event carried.", True),
        F("number", _S, "The document's number (invoices, credit notes).", True),
        F("invoiceNumber", _S, "The invoice it credits or pays (credit notes, payments).", True),
        F("dueDate", _DAY, "When an invoice is due.", True),
        F("method", _S, "How it was paid or refunded (payments, refunds, top-ups).", True),
        F("reason", _S, "Why it was refunded.", True),
        F("counted", _B, "Whether this event made the document final (counted once in revenue)."),
        F("items", _A, "Line items; [] when none."),
        _CUSTOM,
    ),
    time_field="occurredAt",
    update_marker="occurredAt (one document per event: append-only; changes cursor for late arrivals)",
    changes_cursor=True,
    indexes=(
        Index((("orgId", 1), ("occurredAt", -1)), "Date ranges: the journal of a period."),
        Index((("orgId", 1), ("journalType", 1), ("occurredAt", -1)), "One type of document."),
        Index((("orgId", 1), ("integrationId", 1), ("entityId", 1), ("occurredAt", 1)), "One document's life."),
        Index((("orgId", 1), ("customerId", 1), ("occurredAt", -1)), "One contact's journal."),
    ),
)

USAGE_ALLOWANCES = Collection(
    name="usage_allowances",
    title="Usage allowances",
    meaning=(
        "Each usage a contact recorded against a metric (business events of type usage), beside the allowance "
        "it draws on: the sum of the allowances per period of the contact's subscriptions active when the usage "
        "occurred (null when none carries one), so a reader can compare usage with allowance per period. The "
        "allowance is read with the usage: a later change of a subscription does not re-send past usage."
    ),
    source=Source.REPORTS,
    id_meaning="The usage event's own id (`event_id`).",
    fields=(
        _id("The usage event's id."),
        _ORG,
        _INTEGRATION,
        F("entityId", _S, "The usage record's id in the integration's own system."),
        _CUSTOMER,
        F("state", _S, "recorded or void."),
        F("metric", _S, "What was used (data, minutes, ...).", True),
        F("quantity", _D, "How much, a decimal string in `unit`.", True),
        F("unit", _S, "The unit of the quantity (MB, minutes, ...).", True),
        F("allowance", _D, "The allowance per period of the contact's subscriptions active at `occurredAt`.", True),
        F("subscriptionIds", _A, "Those subscriptions (subscriptions `_id`); [] when none."),
        F("counted", _B, "Whether it counts as used (its first recorded event)."),
        F("occurredAt", _T, "When it was used: the time a date range selects on."),
        F("recordedAt", _T, "When the platform stored it."),
    ),
    time_field="occurredAt",
    update_marker="occurredAt (one document per event; changes cursor for late arrivals)",
    changes_cursor=True,
    indexes=(
        Index((("orgId", 1), ("occurredAt", -1)), "Date ranges: usage of a period."),
        Index((("orgId", 1), ("customerId", 1), ("metric", 1), ("occurredAt", -1)), "One contact's usage per metric."),
    ),
)

COLLECTIONS: tuple[Collection, ...] = (
    CONTACT_PROFILES,
    ORGANISATION_PROFILES,
    DEVICES,
    EVENTS,
    SUBSCRIPTIONS,
    ORDERS,
    LEADS,
    SERVICE_REQUESTS,
    FINANCIAL_JOURNALS,
    USAGE_ALLOWANCES,
)
BY_NAME: dict[str, Collection] = {c.name: c for c in COLLECTIONS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
