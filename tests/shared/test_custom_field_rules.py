"""shared/custom_fields.py: the entities are the insights catalogue's, keys are stable slugs, values are checked
by type; the /v1 contracts of the custom-fields routes are the orders service's own models."""

from __future__ import annotations

from typing import Any

import pytest

from shared import custom_fields as cf
from shared.errors import DomainError


def test_the_entities_are_customers_and_every_business_event_type():
    from services.insights.domain.business import TYPES

    assert tuple(t.name for t in TYPES) == cf.BUSINESS_ENTITIES
    assert cf.ENTITIES[0] == "customer" and "order" in cf.ENTITIES and len(set(cf.ENTITIES)) == len(cf.ENTITIES)


@pytest.mark.parametrize(
    "name,key",
    [
        ("Loyalty tier", "loyalty_tier"),
        ("  VIP?! ", "vip"),
        ("2nd phone", "2nd_phone"),
        ("Café  owner", "caf_owner"),
        ("!!!", ""),
        ("x" * 80, "x" * 64),
    ],
)
def test_keys_are_slugs_of_the_name(name, key):
    assert cf.slug(name) == key


DEFS = [
    cf.Definition("t", cf.FieldType.TEXT),
    cf.Definition("n", cf.FieldType.NUMBER),
    cf.Definition("d", cf.FieldType.DATE),
    cf.Definition("b", cf.FieldType.BOOLEAN),
    cf.Definition("c", cf.FieldType.CHOICE, ("red", "blue")),
]


def test_values_are_stored_normalised_and_none_clears():
    checked = cf.check_values(DEFS, {"t": "hi", "n": 3.0, "d": "2026-01-31", "b": False, "c": "red"})
    assert checked == {"t": "hi", "n": 3, "d": "2026-01-31", "b": False, "c": "red"}
    assert cf.merged({"t": "old", "b": True}, {"t": None, "n": 2}) == {"b": True, "n": 2}


@pytest.mark.parametrize(
    "values,field",
    [
        ({"zz": 1}, "customFields.zz"),
        ({"t": 5}, "customFields.t"),
        ({"t": " "}, "customFields.t"),
        ({"t": "a\x00b"}, "customFields.t"),
        ({"n": True}, "customFields.n"),
        ({"n": float("nan")}, "customFields.n"),
        ({"n": 2**53 + 2}, "customFields.n"),
        ({"d": "2026-1-3"}, "customFields.d"),
        ({"d": 20260103}, "customFields.d"),
        ({"b": 0}, "customFields.b"),
        ({"c": "green"}, "customFields.c"),
        ({"c": "a", "b": "no"}, "customFields.b"),  # sorted: the same input always names the same field
    ],
)
def test_bad_values_are_refused_naming_the_field(values: dict[str, Any], field: str):
    with pytest.raises(DomainError) as refused:
        cf.check_values(DEFS, values)
    assert refused.value.field == field and refused.value.message.startswith(field)


def test_the_documented_contracts_are_the_orders_service_s_models():
    from services.orders.api import ingest
    from shared import api_contracts

    def shape(model: Any) -> Any:
        def walk(node: Any) -> Any:
            if isinstance(node, dict):
                return {k: walk(v) for k, v in node.items() if k not in ("title", "description")}
            if isinstance(node, list):
                return [walk(v) for v in node]
            return node

        return walk(model.model_json_schema(by_alias=True))

    assert shape(api_contracts.CustomerFields) == shape(ingest.CustomerFields)
    assert shape(api_contracts.OrderFields) == shape(ingest.OrderFields)
