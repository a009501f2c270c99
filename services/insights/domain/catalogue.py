"""The event catalogue: every event type the platform knows, its class, and what it carries.

Served as `eventTypes`, so a frontend never hard-codes a type, and used by ingestion to refuse what
it does not know. Three classes (seed 000's funnel and behaviour, seed 002's business events):

- funnel: the steps of the user funnel, in order. `order_placed` and `order_successful` are recorded
  from the orders service's own orders (its domain events): integrations send orders through
  `POST /v1/orders`, never as events, so an order is counted once and the Analytics tab's orders
  figures equal `ordersSummary`.
- behaviour: what a customer did on the integration's pages (steps and field names, never values
  typed into a provider's journey); custom behaviour names start with `custom:`.
- business: seed 002's business entities, with their states, fields and the rule that makes one count
  (`domain.business`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from services.insights.domain.business import TYPES as BUSINESS_TYPES
from services.insights.domain.business import BusinessType


class EventClass(StrEnum):
    FUNNEL = "funnel"
    BEHAVIOUR = "behaviour"
    BUSINESS = "business"


# Fields of an event that filters and breakdowns can use (on top of the time range).
COMMON_DIMENSIONS = ("integrationId", "categoryId", "productId", "channel")


@dataclass(frozen=True)
class EventType:
    name: str
    event_class: EventClass
    description: str
    carries_amount: bool = False
    # Sent by integrations through POST /v1/events; False: recorded from another service's domain events.
    accepted_from_integrations: bool = True
    funnel_step: int | None = None
    dimensions: tuple[str, ...] = COMMON_DIMENSIONS
    business: BusinessType | None = None


CUSTOM_PREFIX = "custom:"
_CUSTOM_NAME = re.compile(r"^custom:[a-z][a-z0-9_]{0,47}$")

FUNNEL_STEPS: tuple[EventType, ...] = (
    EventType(
        "visit", EventClass.FUNNEL, "A customer arrives at an integration (each visit is its own entry).", funnel_step=1
    ),
    EventType(
        "journey_started", EventClass.FUNNEL, "The customer starts a journey (browsing a category).", funnel_step=2
    ),
    EventType("product_viewed", EventClass.FUNNEL, "The customer opens a product's details.", funnel_step=3),
    EventType(
        "order_started", EventClass.FUNNEL, "The customer starts a product's application or checkout.", funnel_step=4
    ),
    EventType(
        "order_placed",
        EventClass.FUNNEL,
        "An order (or sign-up) is placed: recorded from the orders service; send orders to POST /v1/orders.",
        carries_amount=True,
        accepted_from_integrations=False,
        funnel_step=5,
    ),
    EventType(
        "order_successful",
        EventClass.FUNNEL,
        "The provider confirms the order: recorded from the orders service.",
        carries_amount=True,
        accepted_from_integrations=False,
        funnel_step=6,
    ),
)

BEHAVIOUR: tuple[EventType, ...] = (
    EventType("page_view", EventClass.BEHAVIOUR, "A page of the integration is shown."),
    EventType("click", EventClass.BEHAVIOUR, "A call to action or link is clicked (its name in properties)."),
    EventType("form_step", EventClass.BEHAVIOUR, "A step of a form is reached (step and field names, never values)."),
    EventType("form_submitted", EventClass.BEHAVIOUR, "A form of the integration is submitted."),
    EventType("error_shown", EventClass.BEHAVIOUR, "An error message is shown to the customer."),
)

# Seed 002's business events (`domain.business`: states, fields, counting rule). `order` is the orders service's
# and is refused from integrations.
BUSINESS: tuple[EventType, ...] = tuple(
    EventType(
        t.name,
        EventClass.BUSINESS,
        t.description,
        carries_amount=t.amount is not None,
        accepted_from_integrations=t.counted_type is None,
        business=t,
    )
    for t in BUSINESS_TYPES
)

CATALOGUE: dict[str, EventType] = {t.name: t for t in (*FUNNEL_STEPS, *BEHAVIOUR, *BUSINESS)}
STEP_NAMES: tuple[str, ...] = tuple(t.name for t in FUNNEL_STEPS)


def custom_type(name: str) -> EventType:
    return EventType(name, EventClass.BEHAVIOUR, "A custom behaviour event of the integration.")


def lookup(name: str) -> EventType | None:
    """The type `name` names, a custom behaviour type, or None when unknown."""
    found = CATALOGUE.get(name)
    if found is None and _CUSTOM_NAME.match(name):
        return custom_type(name)
    return found


def refusal(name: str) -> str | None:
    """Why an integration may not send an event of type `name`, or None when it may."""
    found = lookup(name)
    if found is None:
        if name.startswith(CUSTOM_PREFIX):
            return "custom event names are custom: then a lowercase letter, then up to 47 of a-z, 0-9 and _"
        return f"unknown event type {name!r}; eventTypes lists them (custom behaviour names start with {CUSTOM_PREFIX})"
    if not found.accepted_from_integrations:
        return "orders are sent to POST /v1/orders; their events are recorded from the orders service"
    return None
