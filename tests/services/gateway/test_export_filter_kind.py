"""A filter that does not belong to the export's kind is refused naming the field, not ignored."""

from __future__ import annotations

from tests.factories import gql
from tests.services.gateway.test_orders_graphql import EXPORT


async def test_a_filter_of_the_other_kind_is_refused(gateway, tenant) -> None:
    cases = [
        ({"k": "ORDERS", "fmt": "CSV", "cf": {"kind": "GENERIC"}}, "customerFilter"),
        ({"k": "CUSTOMERS", "fmt": "XLSX", "of": {"statuses": ["FAILED"]}}, "orderFilter"),
    ]
    for variables, field in cases:
        payload = (await gql(gateway, EXPORT, variables, token=tenant.admin_token))["data"]["requestExport"]
        assert payload["url"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "INVALID_INPUT")]
    ok = (await gql(gateway, EXPORT, {"k": "ORDERS", "fmt": "CSV", "of": {}}, token=tenant.admin_token))["data"]
    assert ok["requestExport"]["errors"] == [] and ok["requestExport"]["url"]
