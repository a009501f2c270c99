"""What each number of the Analytics tab means: served as `metricDefinitions`, so no frontend hard-codes a
tooltip, and the single statement of the definitions the repository's queries implement.

The filter of every number is a range (whole organisation-local days; hourly points up to 2 days), optional
categories and optional integrations. An unknown (well-formed) id selects nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.insights.domain.catalogue import FUNNEL_STEPS


class SeriesMetric(StrEnum):
    NEW_CUSTOMERS = "NEW_CUSTOMERS"
    RETURNING_CUSTOMERS = "RETURNING_CUSTOMERS"
    VISITS = "VISITS"
    ORDERS_CREATED = "ORDERS_CREATED"
    SUCCESSFUL_ORDERS = "SUCCESSFUL_ORDERS"
    COMMISSION_PENDING = "COMMISSION_PENDING"
    COMMISSION_PAID = "COMMISSION_PAID"


CUSTOMER_METRICS = frozenset({SeriesMetric.NEW_CUSTOMERS, SeriesMetric.RETURNING_CUSTOMERS})
ORDER_METRICS = frozenset(
    {
        SeriesMetric.ORDERS_CREATED,
        SeriesMetric.SUCCESSFUL_ORDERS,
        SeriesMetric.COMMISSION_PENDING,
        SeriesMetric.COMMISSION_PAID,
    }
)


class DrillDown(StrEnum):
    """What lists the rows behind a number (its `totalCount` equals a count; amounts sum per currency)."""

    CUSTOMERS = "CUSTOMERS"  # analyticsCustomers / funnelCustomers
    VISITS = "VISITS"  # analyticsVisits: the visit events
    ORDERS = "ORDERS"  # analyticsOrders (and, for a daily point, `orders` with the same filter and that day)


@dataclass(frozen=True)
class Definition:
    key: str
    label: str
    description: str
    unit: str  # COUNT, MONEY (per currency, never added across currencies), RATIO or SECONDS
    drill_down: DrillDown | None


_ACTIVE = (
    "A customer is active in a point when they have an event in it that matches the filter: in a selected "
    "integration and, when categories are selected, about a product of one of them (events without a product, "
    "such as visits, match only when no category is selected)."
)

SERIES: tuple[Definition, ...] = (
    Definition(
        SeriesMetric.NEW_CUSTOMERS,
        "New customers",
        "Customers active in the point for the first time: their first active day matching the filter (as far "
        "back as the 25 months of daily data go; for hourly points, their first matching event) falls in it. "
        + _ACTIVE,
        "COUNT",
        DrillDown.CUSTOMERS,
    ),
    Definition(
        SeriesMetric.RETURNING_CUSTOMERS,
        "Returning customers",
        "Customers active in the point who were first active (matching the filter) before it. " + _ACTIVE,
        "COUNT",
        DrillDown.CUSTOMERS,
    ),
    Definition(
        SeriesMetric.VISITS,
        "Visits",
        "Visit events: each arrival at an integration counts once. A visit is about no category, so a category "
        "filter does not narrow visits (as the funnel's first step); an integration filter does.",
        "COUNT",
        DrillDown.VISITS,
    ),
    Definition(
        SeriesMetric.ORDERS_CREATED,
        "Orders",
        "Orders (and sign-ups) created in the point, whatever their status now: the Orders tab's total for the "
        "same range, categories and integrations.",
        "COUNT",
        DrillDown.ORDERS,
    ),
    Definition(
        SeriesMetric.SUCCESSFUL_ORDERS,
        "Successful orders",
        "Orders created in the point that the provider has confirmed (status SUCCESSFUL now).",
        "COUNT",
        DrillDown.ORDERS,
    ),
    Definition(
        SeriesMetric.COMMISSION_PENDING,
        "Commission pending",
        "Commission of the orders created in the point that are successful but not yet paid (commission status "
        "PENDING now), per currency.",
        "MONEY",
        DrillDown.ORDERS,
    ),
    Definition(
        SeriesMetric.COMMISSION_PAID,
        "Commission paid",
        "Commission of the orders created in the point that the provider has paid (commission status SUCCESSFUL "
        "now), per currency.",
        "MONEY",
        DrillDown.ORDERS,
    ),
)

DRILL_DOWN: dict[SeriesMetric, DrillDown] = {
    SeriesMetric(d.key): d.drill_down for d in SERIES if d.drill_down is not None
}

FUNNEL_RULE = (
    "A customer counts at a step when, within the range, they reached every previous step first: the first "
    "time they did each step (in any integration matching the filter; steps without a product, such as a "
    "visit, count under any category filter) is no earlier than the first time they did the step before."
)

_STEP_LABELS = ("Visit", "Journey started", "Product viewed", "Order started", "Order placed", "Order successful")

FUNNEL: tuple[Definition, ...] = tuple(
    Definition(
        f"FUNNEL_{t.name.upper()}",
        label,
        f"{t.description} {FUNNEL_RULE}",
        "COUNT",
        DrillDown.CUSTOMERS,
    )
    for t, label in zip(FUNNEL_STEPS, _STEP_LABELS, strict=True)
)

FUNNEL_MEASURES: tuple[Definition, ...] = (
    Definition(
        "FUNNEL_CONVERSION_FROM_PREVIOUS",
        "Conversion from the previous step",
        "Customers at this step divided by customers at the step before (none for the first step, or when the "
        "step before has nobody).",
        "RATIO",
        None,
    ),
    Definition(
        "FUNNEL_CONVERSION_FROM_FIRST",
        "Conversion from the first step",
        "Customers at this step divided by customers who visited.",
        "RATIO",
        None,
    ),
    Definition(
        "FUNNEL_MEDIAN_TIME",
        "Median time from the previous step",
        "The median, over the customers at this step, of the time between the first time they did the step "
        "before and the first time they did this one (in seconds).",
        "SECONDS",
        None,
    ),
)

ALL: tuple[Definition, ...] = (*SERIES, *FUNNEL, *FUNNEL_MEASURES)
