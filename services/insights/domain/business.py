"""Seed 002's business events: each type's states, the rule that makes an event count, and its own fields.

Insights are "generated only on final events (e.g. posted financial transactions, and completed orders).
Exceptions are Activities and Service Requests, where insights are generated at the time the event is
logged." Two rules follow, one per type:

- `final`: an entity counts once, at the first event that reports it in a final state (an invoice posted, a
  purchase completed, an award granted). The same final state reported again, or another final state later,
  counts nothing more. Events in other states are stored (timelines, UGD exports show them with their state)
  but never counted.
- `logged`: every state an entity is logged in counts once, when logged (a service request opened, then
  resolved: one count for each), so an insight can break a type down by state (opened vs resolved). The same
  state reported twice counts once.

Ingestion decides at storing time whether an event counts (`events.counted`, with `entity_counts` holding
the one counted event of each entity and state group, so a replay or a second report never counts twice).

`order` is the orders service's: its events are recorded from the orders service's domain events as the
funnel's `order_placed` (the order in its state when placed) and `order_successful` (completed: the final
event), so an insight of orders counts each completed order once, as `ordersSummary` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FieldKind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    ENUM = "enum"


class CountRule(StrEnum):
    FINAL = "final"
    LOGGED = "logged"


@dataclass(frozen=True)
class Field:
    """A field of a business type, sent under the event's `fields` object."""

    name: str
    kind: FieldKind
    description: str
    values: tuple[str, ...] = ()  # ENUM: the values it takes
    required: bool = False

    @property
    def breakdown(self) -> bool:
        """Numbers filter (greater/less than) but do not break down: every value would be its own bar."""
        return self.kind is not FieldKind.NUMBER


@dataclass(frozen=True)
class BusinessType:
    name: str
    description: str
    states: tuple[str, ...]
    rule: CountRule
    final_states: frozenset[str] = frozenset()
    amount: str | None = None  # what the amount is, for types that carry one
    fields: tuple[Field, ...] = ()
    line_items: bool = False
    # The stored event types an insight of this type reads, and the one of them that counts (order only).
    counted_type: str | None = None

    def counts(self, state: str | None) -> bool:
        """Whether an event in `state` is one this type counts (before the once-per-entity rule)."""
        return self.rule is CountRule.LOGGED or state in self.final_states

    def count_key(self, state: str) -> str:
        """The state group an entity counts once in: every final state is one group; each logged state its own."""
        return "final" if self.rule is CountRule.FINAL else state

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def rule_text(self) -> str:
        if self.rule is CountRule.LOGGED:
            return "Counted when logged: once per entity and state."
        return f"Counted once per entity, at its first event in state {' or '.join(sorted(self.final_states))}."


_FINANCIAL_STATES = ("draft", "posted", "void")
_TRANSACTION_STATES = ("pending", "posted", "failed")
_METHODS = ("card", "bank_transfer", "direct_debit", "cash", "wallet", "other")
_NUMBER = Field("number", FieldKind.TEXT, "The document's number.")
_POINTS = Field("points", FieldKind.NUMBER, "Points of the reward scheme.", required=True)
_SCHEME = Field("scheme", FieldKind.TEXT, "The reward scheme.", required=True)

TYPES: tuple[BusinessType, ...] = (
    BusinessType(
        "purchase",
        "A purchase by the customer.",
        ("pending", "completed", "cancelled"),
        CountRule.FINAL,
        frozenset({"completed"}),
        amount="the purchase's total",
        fields=(_NUMBER,),
        line_items=True,
    ),
    BusinessType(
        "achievement",
        "An achievement the customer reached.",
        ("achieved", "revoked"),
        CountRule.FINAL,
        frozenset({"achieved"}),
        fields=(
            Field("name", FieldKind.TEXT, "The achievement.", required=True),
            Field("level", FieldKind.NUMBER, "Its level."),
        ),
    ),
    BusinessType(
        "order",
        "The orders service's orders (recorded from its domain events; send orders to POST /v1/orders).",
        ("PENDING", "SUCCESSFUL", "FAILED"),
        CountRule.FINAL,
        frozenset({"SUCCESSFUL"}),
        amount="the order's amount",
        counted_type="order_successful",
    ),
    BusinessType(
        "service_request",
        "A service request of the customer.",
        ("open", "in_progress", "resolved", "closed", "cancelled"),
        CountRule.LOGGED,
        fields=(
            Field("category", FieldKind.TEXT, "The request's category.", required=True),
            Field("priority", FieldKind.ENUM, "Its priority.", ("low", "medium", "high", "urgent"), required=True),
        ),
    ),
    BusinessType(
        "activity",
        "An activity logged with the customer (a call, an email, a meeting).",
        ("logged", "completed", "cancelled"),
        CountRule.LOGGED,
        fields=(
            Field("kind", FieldKind.ENUM, "What it was.", ("call", "email", "meeting", "task", "note"), required=True),
            Field("subject", FieldKind.TEXT, "Its subject."),
        ),
    ),
    BusinessType(
        "subscription",
        "A subscription of the customer to a plan.",
        ("trial", "active", "paused", "cancelled", "expired"),
        CountRule.FINAL,
        frozenset({"active"}),
        amount="the recurring amount per period",
        fields=(
            Field("plan", FieldKind.TEXT, "The plan subscribed to.", required=True),
            Field("period", FieldKind.ENUM, "The billing period.", ("week", "month", "quarter", "year"), required=True),
            Field("allowance", FieldKind.NUMBER, "The usage allowance per period, in the usage's unit."),
        ),
    ),
    BusinessType(
        "invoice",
        "An invoice to the customer.",
        _FINANCIAL_STATES,
        CountRule.FINAL,
        frozenset({"posted"}),
        amount="the invoice's total",
        fields=(_NUMBER, Field("dueDate", FieldKind.DATE, "When it is due.")),
        line_items=True,
    ),
    BusinessType(
        "credit_note",
        "A credit note to the customer.",
        _FINANCIAL_STATES,
        CountRule.FINAL,
        frozenset({"posted"}),
        amount="the credit note's total",
        fields=(_NUMBER, Field("invoiceNumber", FieldKind.TEXT, "The invoice it credits.")),
        line_items=True,
    ),
    BusinessType(
        "payment",
        "A payment by the customer.",
        _TRANSACTION_STATES,
        CountRule.FINAL,
        frozenset({"posted"}),
        amount="the amount paid",
        fields=(
            Field("method", FieldKind.ENUM, "How it was paid.", _METHODS),
            Field("invoiceNumber", FieldKind.TEXT, "The invoice it pays."),
        ),
    ),
    BusinessType(
        "refund",
        "A refund to the customer.",
        _TRANSACTION_STATES,
        CountRule.FINAL,
        frozenset({"posted"}),
        amount="the amount refunded",
        fields=(
            Field("method", FieldKind.ENUM, "How it was refunded.", _METHODS),
            Field("reason", FieldKind.TEXT, "Why."),
        ),
    ),
    BusinessType(
        "top_up",
        "A top-up of the customer's wallet or balance.",
        _TRANSACTION_STATES,
        CountRule.FINAL,
        frozenset({"posted"}),
        amount="the amount topped up",
        fields=(Field("method", FieldKind.ENUM, "How it was paid.", _METHODS),),
    ),
    BusinessType(
        "award",
        "Points awarded to the customer by a reward scheme.",
        ("pending", "granted", "cancelled"),
        CountRule.FINAL,
        frozenset({"granted"}),
        fields=(_POINTS, _SCHEME),
    ),
    BusinessType(
        "spend",
        "Points the customer spent in a reward scheme.",
        ("pending", "granted", "cancelled"),
        CountRule.FINAL,
        frozenset({"granted"}),
        fields=(_POINTS, _SCHEME),
    ),
    BusinessType(
        "donation",
        "A donation by the customer.",
        ("pledged", "completed", "cancelled"),
        CountRule.FINAL,
        frozenset({"completed"}),
        amount="the amount donated",
        fields=(Field("cause", FieldKind.TEXT, "The cause donated to."),),
    ),
    BusinessType(
        "usage",
        "Usage the customer recorded against a metric (e.g. data, minutes).",
        ("recorded", "void"),
        CountRule.FINAL,
        frozenset({"recorded"}),
        fields=(
            Field("metric", FieldKind.TEXT, "What was used.", required=True),
            Field("quantity", FieldKind.NUMBER, "How much.", required=True),
            Field("unit", FieldKind.TEXT, "The unit of the quantity (e.g. MB, minutes)."),
        ),
    ),
    BusinessType(
        "pass",
        "A pass (voucher, ticket) issued to the customer, then redeemed or expired.",
        ("issued", "redeemed", "expired"),
        CountRule.LOGGED,
        amount="the pass's value",
        fields=(Field("passType", FieldKind.TEXT, "The kind of pass."),),
    ),
    BusinessType(
        "lead",
        "A sales lead, from creation to conversion or loss.",
        ("created", "qualified", "converted", "lost"),
        CountRule.LOGGED,
        fields=(
            Field("source", FieldKind.TEXT, "Where the lead came from.", required=True),
            Field("owner", FieldKind.TEXT, "Who works it."),
        ),
    ),
    BusinessType(
        "inventory_item",
        "A movement of a stock item (its product is the event's productId).",
        ("received", "allocated", "returned"),
        CountRule.LOGGED,
        fields=(
            Field("quantity", FieldKind.NUMBER, "How many units moved.", required=True),
            Field("location", FieldKind.TEXT, "Where.", required=True),
        ),
    ),
)

BY_NAME: dict[str, BusinessType] = {t.name: t for t in TYPES}
