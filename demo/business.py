"""Demo business events (seed 002's types, services/insights/domain/business.py) of the orders demo's customers.

Every type an integration sends has entities with a lifecycle: the entity's events in order, each in a state of
the type, minutes to weeks apart. The paths and their shares are below (`PATHS`): invoices drafted then posted
(some voided), payments of posted invoices pending then posted (a few failed, then paid again), credit notes of
some invoices with their refunds, service requests open → in_progress → resolved → closed with a category and a
priority, leads created → qualified → converted or lost with a source and an owner, subscriptions from a trial
to active (some cancelled, paused or expired) with a plan, a period, a recurring amount and an allowance, and
usage records against the active ones, passes issued then redeemed or expired, awards (also for completed
purchases) and spends of points in a scheme, donations, achievements, activities, top-ups, and stock items
received, allocated and sometimes returned for successful orders (their product, quantity and location).
Amounts are in the customer's currency (EUR for customers who buy the Partner API's euro accounts, GBP
otherwise; the demo's two); invoices, credit notes and purchases have 2-5 line items of the organisation's
products; customers with an email have an account currency; some entities carry custom-field values; about
1.5% of the entities that reach a counting state report it a second time (a provider's resend: a new event id,
the same entity and state), which must not count again.

Where and when: each entity is a customer's on one of the integrations it visited and starts during one of its
sessions there (a request raised, a lead taken, a purchase made while visiting: so a business event never makes
a customer "new" before their first visit, and adds few active days of its own); its later states follow in
the back office, until the customer's last visit there (the orders service's `customer_visits`), compressed
into that span when the path is longer (a customer seen for an hour settles an invoice within that hour). A
state that would come after `now` has not happened yet: the entity stays in its last state. Customers who buy
more and are seen longer do more business.

Counting, as the ingestion statement decides it (services/insights/repository/events.py, `_STORE`): an event
whose state its type counts has a count key ('final' for types counted at a final state, the state itself for
types counted when logged); of the events of one (integration, type, entity, count key), the first by
occurred_at is `counted` and is the entity's `entity_counts` row; every other event is stored uncounted. All
the events of one such group are made together (an entity's lifecycle, its resend included), so the rule is
applied entity by entity and the rows stream into COPY as they are made. The loader then builds the rollups
from counted events like every other read model.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from services.insights.domain.business import BY_NAME
from services.insights.repository.bulk import pg_timestamp

_HOUR = 3600.0
_DAY = 86_400.0
BUSINESS = "business"
DUPLICATE_SHARE = 0.015

# A path: (share, ((state, least hours before it, most hours before it), ...)); the first step's gap is 0.
Path = tuple[float, tuple[tuple[str, float, float], ...]]
PATHS: dict[str, tuple[Path, ...]] = {
    "purchase": (
        (0.80, (("pending", 0, 0), ("completed", 0.05, 6))),
        (0.10, (("pending", 0, 0), ("cancelled", 1, 48))),
        (0.10, (("completed", 0, 0),)),
    ),
    "achievement": ((0.93, (("achieved", 0, 0),)), (0.07, (("achieved", 0, 0), ("revoked", 24, 240)))),
    "service_request": (
        (0.42, (("open", 0, 0), ("in_progress", 1, 24), ("resolved", 2, 72), ("closed", 24, 120))),
        (0.24, (("open", 0, 0), ("in_progress", 1, 24), ("resolved", 2, 72))),
        (0.12, (("open", 0, 0), ("resolved", 0.5, 48))),
        (0.08, (("open", 0, 0), ("cancelled", 1, 72))),
        (0.07, (("open", 0, 0), ("in_progress", 1, 24))),
        (0.07, (("open", 0, 0),)),
    ),
    "activity": (
        (0.55, (("logged", 0, 0),)),
        (0.35, (("logged", 0, 0), ("completed", 0.5, 72))),
        (0.10, (("logged", 0, 0), ("cancelled", 1, 96))),
    ),
    "subscription": (
        (0.50, (("trial", 0, 0), ("active", 168, 336))),
        (0.14, (("trial", 0, 0), ("active", 168, 336), ("cancelled", 240, 960))),
        (0.05, (("trial", 0, 0), ("active", 168, 336), ("paused", 240, 720))),
        (0.10, (("trial", 0, 0), ("cancelled", 24, 300))),
        (0.08, (("trial", 0, 0), ("expired", 336, 336))),
        (0.13, (("active", 0, 0),)),
    ),
    "invoice": (
        (0.80, (("draft", 0, 0), ("posted", 1, 72))),
        (0.07, (("draft", 0, 0), ("void", 2, 96))),
        (0.03, (("draft", 0, 0), ("posted", 1, 72), ("void", 24, 240))),
        (0.10, (("draft", 0, 0),)),
    ),
    "credit_note": ((0.85, (("draft", 0, 0), ("posted", 1, 48))), (0.15, (("draft", 0, 0), ("void", 2, 72)))),
    "payment": ((0.96, (("pending", 0, 0), ("posted", 0.1, 72))), (0.04, (("pending", 0, 0), ("failed", 0.1, 24)))),
    "refund": ((0.95, (("pending", 0, 0), ("posted", 1, 120))), (0.05, (("pending", 0, 0), ("failed", 1, 48)))),
    "top_up": ((0.94, (("pending", 0, 0), ("posted", 0.01, 2))), (0.06, (("pending", 0, 0), ("failed", 0.01, 2)))),
    "award": (
        (0.85, (("pending", 0, 0), ("granted", 0.5, 48))),
        (0.08, (("pending", 0, 0), ("cancelled", 1, 72))),
        (0.07, (("granted", 0, 0),)),
    ),
    "spend": ((0.88, (("pending", 0, 0), ("granted", 0.01, 4))), (0.12, (("pending", 0, 0), ("cancelled", 0.1, 24)))),
    "donation": (
        (0.75, (("pledged", 0, 0), ("completed", 1, 168))),
        (0.15, (("pledged", 0, 0), ("cancelled", 24, 336))),
        (0.10, (("completed", 0, 0),)),
    ),
    "usage": ((0.97, (("recorded", 0, 0),)), (0.03, (("recorded", 0, 0), ("void", 1, 72)))),
    "pass": (
        (0.55, (("issued", 0, 0), ("redeemed", 1, 480))),
        (0.25, (("issued", 0, 0), ("expired", 336, 720))),
        (0.20, (("issued", 0, 0),)),
    ),
    "lead": (
        (0.22, (("created", 0, 0), ("qualified", 24, 168), ("converted", 48, 336))),
        (0.18, (("created", 0, 0), ("qualified", 24, 168), ("lost", 72, 480))),
        (0.20, (("created", 0, 0), ("lost", 48, 480))),
        (0.15, (("created", 0, 0), ("qualified", 24, 168))),
        (0.25, (("created", 0, 0),)),
    ),
    "inventory_item": (
        (0.75, (("received", 0, 0), ("allocated", 1, 72))),
        (0.10, (("received", 0, 0), ("allocated", 1, 72), ("returned", 48, 480))),
        (0.15, (("received", 0, 0),)),
    ),
}
# Entities per customer of average weight, of the types a customer starts on their own (the others follow from
# them: payments and credit notes of invoices, refunds, usage of subscriptions, awards of purchases, stock
# items of successful orders).
RATES: dict[str, float] = {
    "purchase": 1.38,
    "achievement": 0.75,
    "service_request": 1.12,
    "activity": 3.25,
    "subscription": 0.56,
    "invoice": 2.25,
    "top_up": 0.88,
    "award": 1.0,
    "spend": 0.88,
    "donation": 0.31,
    "pass": 0.75,
    "lead": 1.25,
}
PREFIX = {
    "purchase": "PUR",
    "achievement": "ACH",
    "service_request": "SR",
    "activity": "ACT",
    "subscription": "SUB",
    "invoice": "INV",
    "credit_note": "CN",
    "payment": "PAY",
    "refund": "REF",
    "top_up": "TOP",
    "award": "AWD",
    "spend": "SPD",
    "donation": "DON",
    "usage": "USE",
    "pass": "PASS",
    "lead": "LEAD",
    "inventory_item": "STK",
}
SHARE_OF_ORDERS_WITH_STOCK = 0.35
SHARE_OF_INVOICES_PAID = 0.85
SHARE_OF_INVOICES_CREDITED = 0.08
SHARE_OF_PURCHASES_REFUNDED = 0.04
SHARE_OF_PURCHASES_AWARDED = 0.5

ACHIEVEMENTS = ("Profile completed", "First purchase", "Five purchases", "Referred a friend", "Loyal for a year")
SR_CATEGORIES = ("billing", "technical", "account access", "card", "installation", "complaint")
PRIORITIES = (("low", 0.35), ("medium", 0.40), ("high", 0.18), ("urgent", 0.07))
ACTIVITY_KINDS = (
    ("call", "Follow-up call"),
    ("email", "Welcome email"),
    ("meeting", "Account review"),
    ("task", "Send documents"),
    ("note", "Prefers email contact"),
)
# Plans per category: (plan, period, recurring amount in cents, allowance, usage metric, unit)
PLANS: dict[str, tuple[tuple[str, str, int, int, str, str], ...]] = {
    "Broadband": (
        ("Broadband 150", "month", 2999, 500, "data", "GB"),
        ("Gigabit", "month", 4999, 2000, "data", "GB"),
        ("Broadband 150 annual", "year", 32_000, 6000, "data", "GB"),
    ),
    "Credit Cards": (
        ("Card Plus", "month", 499, 100, "card transactions", "transactions"),
        ("Card Premium", "year", 15_000, 1200, "card transactions", "transactions"),
    ),
    "Current Accounts": (
        ("Everyday Plus", "month", 300, 50, "transfers", "transfers"),
        ("Premier", "quarter", 4500, 300, "transfers", "transfers"),
    ),
}
DEFAULT_PLANS = (("Membership", "month", 999, 100, "usage", "units"),)
METHODS = (("card", 0.55), ("bank_transfer", 0.18), ("direct_debit", 0.17), ("wallet", 0.08), ("cash", 0.02))
REFUND_REASONS = ("returned goods", "goodwill", "billing error", "service outage", "duplicate charge")
SCHEMES = ("Demo Rewards", "Apex Points")
CAUSES = ("Children's charity", "Food bank", "Climate fund", "Local hospice")
PASS_TYPES = (("voucher", 1000), ("gift card", 2500), ("event ticket", 4500), ("discount code", 500))
LEAD_SOURCES = (("web form", 0.35), ("referral", 0.2), ("partner", 0.18), ("event", 0.12), ("cold call", 0.15))
OWNERS = ("Priya Shah", "Tom Walsh", "Aisha Bello", "Marek Nowak", "Sofia Rossi")
LOCATIONS = ("London DC", "Manchester DC", "Glasgow DC")
RETURNS_HUB = "Returns hub"
REGIONS = ("London", "South East", "Midlands", "North West", "Scotland", "Wales")
SEGMENTS = ("retail", "small business", "premium")
SHARE_WITH_CUSTOM_FIELDS = 0.3

# Per type and state, the state group an entity counts once in ("" for a state that never counts): the rule of
# domain/business.py, looked up once per event.
_COUNT_KEYS: dict[str, dict[str, str]] = {
    name: {s: t.count_key(s) if t.counts(s) else "" for s in t.states} for name, t in BY_NAME.items()
}


@dataclass
class Integration:
    """An integration as the generator needs it: its id, channel and products (id, category id, category)."""

    id: Any
    channel: str
    products: list[tuple[Any, Any, str]]


@dataclass
class Customer:
    """A customer: its ids, its currency, how much business it does, and where and when it can do it: per
    integration index, (from, to) in epoch seconds and the starts of its sessions there (entities start during
    a visit: a request raised, a lead taken, a purchase made; later states follow in the back office)."""

    id: Any
    anonymous_id: str | None
    currency: str
    weight: float
    spans: list[tuple[int, float, float, list[float]]]


@dataclass
class StockOrder:
    """A successful order a stock item is received and allocated for."""

    customer: int
    integration: int
    product_id: Any
    category_id: Any
    at: float


@dataclass
class BusinessEvents:
    """What the rows made: the entity_counts rows of ENTITY_COUNT_COLUMNS and tallies, complete once every row
    of `generate`'s iterator has been drawn."""

    entity_counts: list[tuple[Any, ...]] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=dict)
    events: int = 0
    entities: int = 0
    duplicates: int = 0


def _money(cents: int) -> tuple[Decimal, str]:
    text = f"{cents // 100}.{cents % 100:02d}"
    return Decimal(text), text


def _pick(rand: float, weighted: Sequence[tuple[Any, float]]) -> Any:
    acc = 0.0
    for value, share in weighted:
        acc += share
        if rand < acc:
            return value
    return weighted[-1][0]


_JSON: dict[tuple[tuple[str, Any], ...], str] = {}


def _json(value: dict[str, Any]) -> str:
    """`value` as compact JSON; the few distinct field objects of the demo are encoded once."""
    key = tuple(value.items())
    text = _JSON.get(key)
    if text is None:
        text = json.dumps(value, separators=(",", ":"))
        if len(_JSON) < 50_000:
            _JSON[key] = text
    return text


class _Generator:
    def __init__(
        self,
        rng: random.Random,
        org_id: UUID,
        integrations: list[Integration],
        customers: list[Customer],
        now: float,
        window_start: float,
    ) -> None:
        self.rng = rng
        self.rand = rng.random
        self.org_id = org_id
        self.integrations = integrations
        self.customers = customers
        self.now = now
        self.window_start = window_start
        self.out = BusinessEvents()
        self.pending: list[tuple[Any, ...]] = []
        self.seq: dict[str, int] = dict.fromkeys(PREFIX, 0)
        self.all_products = [p for i in integrations for p in i.products]
        self.prices = {p[0]: 500 + int(19_500 * random.Random(str(p[0])).random()) for p in self.all_products}

    # --- one entity ------------------------------------------------------------------------------

    def entity(self, kind: str) -> str:
        self.seq[kind] += 1
        self.out.entities += 1
        return f"{PREFIX[kind]}-{self.seq[kind]:06d}"

    def path(self, kind: str) -> tuple[tuple[str, float, float], ...]:
        return tuple(_pick(self.rand(), [(steps, share) for share, steps in PATHS[kind]]))

    def times(self, steps: Sequence[tuple[str, float, float]], start: float, until: float) -> list[tuple[str, float]]:
        """Each step's time from `start`, its gap drawn from its range; compressed to end by `until` when the
        path is longer than the time there is (a step at least a second after the one before), and cut at `now`
        (the rest has not happened yet). Times strictly increase, so the first event of a group is never a tie."""
        start = min(start, until)
        gaps = [lo + (hi - lo) * self.rand() for _s, lo, hi in steps]
        total = sum(gaps) * _HOUR
        room = max(until - start, 0.0)
        scale = room / total if total > room else 1.0
        out: list[tuple[str, float]] = []
        t = start
        for (state, _lo, _hi), gap in zip(steps, gaps, strict=True):
            t = t + max(gap * _HOUR * scale, 1.0) if out else t
            if t > self.now:
                break  # not happened yet: the entity is still in its last state
            out.append((state, t))
        return out

    def emit(
        self,
        kind: str,
        entity: str,
        states: list[tuple[str, float]],
        ci: int,
        ii: int,
        *,
        product: tuple[Any, Any, str] | None = None,
        amount: Decimal | None = None,
        currency: str | None = None,
        items: str | None = None,
        fields: str | None = None,
        custom: str | None = None,
        account: bool = False,
        first_key: int = 0,
    ) -> int:
        """The entity's events, one per state, and (now and then) its counting state reported again. Source keys
        are the entity's and the event's number from `first_key` on."""
        count_keys = _COUNT_KEYS[kind]
        customer, integration = self.customers[ci], self.integrations[ii]
        account_currency = customer.currency if account and customer.anonymous_id is None else None
        if states and self.rand() < DUPLICATE_SHARE:
            counting = [(s, t) for s, t in states if count_keys[s]]
            if counting:
                state, t = counting[-1]
                again = t + 60 + 3540 * self.rand()
                if again <= self.now:
                    states = [*states, (state, again)]
                    self.out.duplicates += 1
        # The first event of each count key counts (an entity's events of one group are all made in one call, in
        # time order but for a resend, which comes after the report it repeats) and is its entity_counts row.
        first: dict[str, int] = {}
        for k, (state, t) in enumerate(states):
            count_key = count_keys[state]
            if count_key and (count_key not in first or t < states[first[count_key]][1]):
                first[count_key] = k
        counted = set(first.values())
        org_id, integration_id, channel = self.org_id, integration.id, integration.channel
        product_id, category_id = (product[0], product[1]) if product else (None, None)
        prefix = f"biz-{entity.lower()}-"
        for k, (state, t) in enumerate(states):
            at = pg_timestamp(t)
            source_key = prefix + str(first_key + k)
            if k in counted:
                self.out.entity_counts.append((org_id, integration_id, kind, entity, count_keys[state], source_key, at))
            self.pending.append(
                (
                    org_id,
                    at,
                    integration_id,
                    source_key,
                    kind,
                    BUSINESS,
                    customer.id,
                    customer.anonymous_id,
                    product_id,
                    category_id,
                    channel,
                    amount,
                    currency,
                    entity,
                    state,
                    items,
                    "{}",
                    fields,
                    custom,
                    account_currency,
                    k in counted,
                )
            )
        self.out.by_type[kind] = self.out.by_type.get(kind, 0) + len(states)
        self.out.events += len(states)
        return len(states)

    def custom(self, kind: str) -> str | None:
        if self.rand() >= SHARE_WITH_CUSTOM_FIELDS:
            return None
        values: dict[str, Any] = {"region": REGIONS[int(self.rand() * len(REGIONS))]}
        if kind in ("invoice", "credit_note", "purchase", "lead"):
            values["segment"] = SEGMENTS[int(self.rand() * len(SEGMENTS))]
        if kind == "invoice":
            values["costCentre"] = f"CC-{100 + int(self.rand() * 12)}"
        return _json(values)

    def line_items(self) -> tuple[list[tuple[Any, int, int]], int]:
        """2-5 lines of distinct products of the organisation: (product, quantity, line amount in cents)."""
        count = 2 + int(self.rand() * 4)
        products = self.rng.sample(self.all_products, min(count, len(self.all_products)))
        lines = []
        for p in products:
            quantity = 1 if self.rand() < 0.8 else 2 + int(self.rand() * 3)
            lines.append((p[0], quantity, quantity * self.prices[p[0]]))
        return lines, sum(c for _p, _q, c in lines)

    @staticmethod
    def items_json(lines: Sequence[tuple[Any, int, int]]) -> str:
        # As ingestion stores a line item (LineItem dumped by alias); built as text: one per invoice, purchase and
        # credit note, none alike.
        return (
            "[" + ",".join(f'{{"productId":"{p}","quantity":{q},"amount":"{_money(c)[1]}"}}' for p, q, c in lines) + "]"
        )

    # --- the types ---------------------------------------------------------------------------------

    def rows(self, stock: list[StockOrder]) -> Iterator[tuple[Any, ...]]:
        """Every entity's events as they are made, customer by customer (the customers' own entities, then the
        stock items of the orders), for COPY to consume while the next ones are made."""
        rand = self.rand
        mean = sum(c.weight for c in self.customers) / max(1, len(self.customers))
        pending = self.pending
        for ci, c in enumerate(self.customers):
            if not c.spans:
                continue
            w = c.weight / mean if mean else 1.0
            for kind, rate in RATES.items():
                make = getattr(self, f"_{kind}")
                for _ in range(int(rate * w * (0.5 + rand()) + rand())):
                    ii, lo, hi, starts = c.spans[int(rand() * len(c.spans))]
                    t = starts[int(rand() * len(starts))] + 60 + 1740 * rand() if starts else lo + (hi - lo) * rand()
                    make(ci, ii, min(max(t, lo), hi), hi)
            yield from pending
            pending.clear()
        for s in stock:
            c = self.customers[s.customer]
            span = next((sp for sp in c.spans if sp[0] == s.integration), None)
            if span is None:
                continue
            _ii, lo, hi, _starts = span
            self._inventory_item(s, max(lo, min(s.at - (2 + 46 * rand()) * _HOUR, hi)), hi)
            yield from pending
            pending.clear()

    def _product(self, ii: int) -> tuple[Any, Any, str] | None:
        products = self.integrations[ii].products
        return products[int(self.rand() * len(products))] if products else None

    def _purchase(self, ci: int, ii: int, t: float, hi: float) -> None:
        c = self.customers[ci]
        entity = self.entity("purchase")
        lines, cents = self.line_items()
        states = self.times(self.path("purchase"), t, hi)
        fields = _json({"number": entity})
        self.emit(
            "purchase",
            entity,
            states,
            ci,
            ii,
            amount=_money(cents)[0],
            currency=c.currency,
            items=self.items_json(lines),
            fields=fields,
            custom=self.custom("purchase"),
            account=True,
        )
        done = next((at for s, at in states if s == "completed"), None)
        if done is None:
            return
        if self.rand() < SHARE_OF_PURCHASES_AWARDED:
            self._award(ci, ii, done + 60, hi, points=max(10, cents // 10 // 10 * 10))
        if self.rand() < SHARE_OF_PURCHASES_REFUNDED:
            self._refund(ci, ii, done + 24 * _HOUR * self.rand(), hi, cents, "returned goods")

    def _achievement(self, ci: int, ii: int, t: float, hi: float) -> None:
        entity = self.entity("achievement")
        name = ACHIEVEMENTS[int(self.rand() * len(ACHIEVEMENTS))]
        fields = _json({"name": name, "level": 1 + int(self.rand() * 3)})
        self.emit("achievement", entity, self.times(self.path("achievement"), t, hi), ci, ii, fields=fields)

    def _service_request(self, ci: int, ii: int, t: float, hi: float) -> None:
        entity = self.entity("service_request")
        fields = _json(
            {
                "category": SR_CATEGORIES[int(self.rand() * len(SR_CATEGORIES))],
                "priority": _pick(self.rand(), PRIORITIES),
            }
        )
        product = self._product(ii) if self.rand() < 0.5 else None
        states = self.times(self.path("service_request"), t, hi)
        self.emit("service_request", entity, states, ci, ii, product=product, fields=fields, custom=self.custom("sr"))

    def _activity(self, ci: int, ii: int, t: float, hi: float) -> None:
        entity = self.entity("activity")
        kind, subject = ACTIVITY_KINDS[int(self.rand() * len(ACTIVITY_KINDS))]
        fields = _json({"kind": kind, "subject": subject})
        self.emit("activity", entity, self.times(self.path("activity"), t, hi), ci, ii, fields=fields)

    def _subscription(self, ci: int, ii: int, t: float, hi: float) -> None:
        c = self.customers[ci]
        product = self._product(ii)
        entity = self.entity("subscription")
        plans = PLANS.get(product[2], DEFAULT_PLANS) if product else DEFAULT_PLANS
        plan, period, cents, allowance, metric, unit = plans[int(self.rand() * len(plans))]
        fields = _json({"plan": plan, "period": period, "allowance": allowance})
        states = self.times(self.path("subscription"), t, hi)
        amount = _money(cents)[0]
        self.emit(
            "subscription", entity, states, ci, ii, product=product, amount=amount, currency=c.currency, fields=fields
        )
        active = next((at for s, at in states if s == "active"), None)
        if active is None:
            return
        ended = next((at for s, at in states if s in ("cancelled", "paused", "expired") and at > active), hi)
        # Usage against the subscription while it is active, every few days.
        at = active + (1 + 4 * self.rand()) * _DAY
        while at < min(ended, hi):
            quantity = max(1, int(allowance / 8 * (0.3 + 1.4 * self.rand())))
            usage = self.entity("usage")
            fields = _json({"metric": metric, "quantity": quantity, "unit": unit})
            self.emit("usage", usage, self.times(self.path("usage"), at, hi), ci, ii, product=product, fields=fields)
            at += (3 + 5 * self.rand()) * _DAY

    def _invoice(self, ci: int, ii: int, t: float, hi: float) -> None:
        c = self.customers[ci]
        entity = self.entity("invoice")
        lines, cents = self.line_items()
        states = self.times(self.path("invoice"), t, hi)
        posted = next((at for s, at in states if s == "posted"), None)
        issued = posted if posted is not None else states[0][1]
        due = _date(issued + 30 * _DAY)
        self.emit(
            "invoice",
            entity,
            states,
            ci,
            ii,
            amount=_money(cents)[0],
            currency=c.currency,
            items=self.items_json(lines),
            fields=_json({"number": entity, "dueDate": due}),
            custom=self.custom("invoice"),
            account=True,
        )
        if posted is None or any(s == "void" for s, _ in states):
            return
        if self.rand() < SHARE_OF_INVOICES_PAID:
            self._payment(ci, ii, posted + (1 + 239 * self.rand() ** 2) * _HOUR, hi, cents, entity)
        if self.rand() < SHARE_OF_INVOICES_CREDITED:
            self._credit_note(ci, ii, posted + (24 + 336 * self.rand()) * _HOUR, hi, lines, entity)

    def _payment(self, ci: int, ii: int, t: float, hi: float, cents: int, invoice: str) -> None:
        c = self.customers[ci]
        entity = self.entity("payment")
        states = self.times(self.path("payment"), t, hi)
        fields = _json({"method": _pick(self.rand(), METHODS), "invoiceNumber": invoice})
        amount = _money(cents)[0]
        self.emit("payment", entity, states, ci, ii, amount=amount, currency=c.currency, fields=fields, account=True)
        if states[-1][0] == "failed":  # paid again, by card
            retry = self.entity("payment")
            again = self.times((("pending", 0, 0), ("posted", 0.1, 24)), states[-1][1] + 2 * _HOUR, hi)
            fields = _json({"method": "card", "invoiceNumber": invoice})
            self.emit("payment", retry, again, ci, ii, amount=amount, currency=c.currency, fields=fields, account=True)

    def _credit_note(
        self, ci: int, ii: int, t: float, hi: float, lines: list[tuple[Any, int, int]], invoice: str
    ) -> None:
        c = self.customers[ci]
        entity = self.entity("credit_note")
        credited = lines[: max(2, len(lines) - 1)]
        cents = sum(x[2] for x in credited)
        states = self.times(self.path("credit_note"), t, hi)
        self.emit(
            "credit_note",
            entity,
            states,
            ci,
            ii,
            amount=_money(cents)[0],
            currency=c.currency,
            items=self.items_json(credited),
            fields=_json({"number": entity, "invoiceNumber": invoice}),
            custom=self.custom("credit_note"),
            account=True,
        )
        posted = next((at for s, at in states if s == "posted"), None)
        if posted is not None and self.rand() < 0.7:
            self._refund(ci, ii, posted + (1 + 47 * self.rand()) * _HOUR, hi, cents, "billing error")

    def _refund(self, ci: int, ii: int, t: float, hi: float, cents: int, reason: str) -> None:
        c = self.customers[ci]
        entity = self.entity("refund")
        fields = _json({"method": _pick(self.rand(), METHODS[:3]), "reason": reason})
        self.emit(
            "refund",
            entity,
            self.times(self.path("refund"), min(t, hi), hi),
            ci,
            ii,
            amount=_money(cents)[0],
            currency=c.currency,
            fields=fields,
            account=True,
        )

    def _top_up(self, ci: int, ii: int, t: float, hi: float) -> None:
        c = self.customers[ci]
        entity = self.entity("top_up")
        cents = (10, 20, 25, 50, 100)[int(self.rand() * 5)] * 100
        fields = _json({"method": _pick(self.rand(), METHODS)})
        states = self.times(self.path("top_up"), t, hi)
        self.emit(
            "top_up", entity, states, ci, ii, amount=_money(cents)[0], currency=c.currency, fields=fields, account=True
        )

    def _award(self, ci: int, ii: int, t: float, hi: float, points: int | None = None) -> None:
        entity = self.entity("award")
        points = points if points is not None else (50, 100, 250, 500)[int(self.rand() * 4)]
        fields = _json({"points": points, "scheme": SCHEMES[0 if self.rand() < 0.7 else 1]})
        self.emit("award", entity, self.times(self.path("award"), min(t, hi), hi), ci, ii, fields=fields)

    def _spend(self, ci: int, ii: int, t: float, hi: float) -> None:
        entity = self.entity("spend")
        points = (100, 200, 500, 1000)[int(self.rand() * 4)]
        fields = _json({"points": points, "scheme": SCHEMES[0 if self.rand() < 0.7 else 1]})
        self.emit("spend", entity, self.times(self.path("spend"), t, hi), ci, ii, fields=fields)

    def _donation(self, ci: int, ii: int, t: float, hi: float) -> None:
        c = self.customers[ci]
        entity = self.entity("donation")
        cents = (5, 10, 20, 50)[int(self.rand() * 4)] * 100
        fields = _json({"cause": CAUSES[int(self.rand() * len(CAUSES))]})
        states = self.times(self.path("donation"), t, hi)
        self.emit("donation", entity, states, ci, ii, amount=_money(cents)[0], currency=c.currency, fields=fields)

    def _pass(self, ci: int, ii: int, t: float, hi: float) -> None:
        c = self.customers[ci]
        entity = self.entity("pass")
        pass_type, cents = PASS_TYPES[int(self.rand() * len(PASS_TYPES))]
        states = self.times(self.path("pass"), t, hi)
        fields = _json({"passType": pass_type})
        self.emit("pass", entity, states, ci, ii, amount=_money(cents)[0], currency=c.currency, fields=fields)

    def _lead(self, ci: int, ii: int, t: float, hi: float) -> None:
        entity = self.entity("lead")
        fields = _json({"source": _pick(self.rand(), LEAD_SOURCES), "owner": OWNERS[int(self.rand() * len(OWNERS))]})
        product = self._product(ii) if self.rand() < 0.6 else None
        states = self.times(self.path("lead"), t, hi)
        self.emit("lead", entity, states, ci, ii, product=product, fields=fields, custom=self.custom("lead"))

    def _inventory_item(self, s: StockOrder, t: float, hi: float) -> None:
        integration = self.integrations[s.integration]
        product = next((p for p in integration.products if p[0] == s.product_id), None)
        if product is None:
            return  # no longer offered: no stock moves for it
        entity = self.entity("inventory_item")
        quantity = 1 if self.rand() < 0.85 else 2
        location = LOCATIONS[int(self.rand() * len(LOCATIONS))]
        # One entity per stock item and state: its fields are the event's own (a return goes to the returns hub).
        k = 0
        for state, at in self.times(self.path("inventory_item"), t, hi):
            where = RETURNS_HUB if state == "returned" else location
            fields = _json({"quantity": quantity, "location": where})
            k += self.emit(
                "inventory_item",
                entity,
                [(state, at)],
                s.customer,
                s.integration,
                product=product,
                fields=fields,
                first_key=k,
            )


def _date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()


def generate(
    rng: random.Random,
    org_id: UUID,
    integrations: list[Integration],
    customers: list[Customer],
    stock: list[StockOrder],
    now: float,
    window_start: float,
) -> tuple[Iterator[tuple[Any, ...]], BusinessEvents]:
    """Every business event of the customers' entities (see the module docstring) in the columns of
    BUSINESS_EVENT_COLUMNS, deterministic for `rng`, made as the iterator is drawn; and what they add up to."""
    made = _Generator(rng, org_id, integrations, customers, now, window_start)
    return made.rows(stock), made.out


def customer_weight(orders: int, span_seconds: float) -> float:
    """How much business a customer does: more for those who buy more (sub-linearly: the demo's heaviest buyer
    has ~200 orders) and who are seen for longer."""
    return math.sqrt(1 + orders) * min(1.0, max(0.15, span_seconds / (14 * _DAY)))
