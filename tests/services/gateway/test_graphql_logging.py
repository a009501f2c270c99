"""Client mistakes are logged once at INFO without a traceback; faults of the platform at ERROR."""

from __future__ import annotations

import logging

import pytest
from graphql import GraphQLError

from tests.factories import gql


@pytest.mark.parametrize(
    "query",
    [
        "{ orders(first: 1000) { pageInfo { hasNextPage } } }",  # a refused page size
        '{ order(id: "not-an-id") { id } }',  # a bad id
        '{ ordersSummary(filter: {range: {from: "2026-02-30"}}) { totalOrders } }',  # an impossible date
        "{ nope }",  # a document that does not validate
    ],
)
async def test_client_errors_are_info_without_traceback(gateway, tenant, caplog, query: str) -> None:
    with caplog.at_level(logging.INFO):
        body = await gql(gateway, query, token=tenant.admin_token)
    assert body["errors"]
    records = [r for r in caplog.records if r.name.startswith(("strawberry", "gateway.graphql"))]
    assert records and all(r.levelno == logging.INFO and r.exc_info is None for r in records), records


def test_an_unexpected_error_is_logged_at_error_with_its_traceback(caplog) -> None:
    from services.gateway.graphql.schema import build_schema

    schema = build_schema(production=True)
    try:
        raise RuntimeError("a bug")
    except RuntimeError as exc:
        error = GraphQLError("a bug", original_error=exc, path=["orders"])
    with caplog.at_level(logging.INFO):
        schema.process_errors([error])
    assert [r.levelno for r in caplog.records] == [logging.ERROR] and caplog.records[0].exc_info
