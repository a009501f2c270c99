"""The catalogue: every area of seed 002 has its reports, each declared once with a source, consistent defaults,
and the rules the engine relies on (a currency column next to every money column, custom fields only itemised)."""

from __future__ import annotations

from services.reports.domain import catalogue
from services.reports.domain import query as query_domain
from services.reports.repository.reports import SOURCES


def test_every_area_has_an_itemised_and_an_analytical_report_each_with_a_source() -> None:
    assert set(SOURCES) == set(catalogue.BY_KEY)
    for area in catalogue.AREAS:
        kinds = {r.kind for r in catalogue.REPORTS if r.area == area}
        assert kinds == {catalogue.Kind.ITEMISED, catalogue.Kind.ANALYTICAL}, area
    assert len(catalogue.REPORTS) == len(catalogue.BY_KEY) == 22


def test_money_always_has_its_currency_and_defaults_parse() -> None:
    for r in catalogue.REPORTS:
        if r.has_money:
            assert "currency" in r.by_key, r.key
            if any(r.by_key[c].money for c in r.default_columns):
                assert "currency" in r.default_columns, r.key
        q = query_domain.parse({"report": r.key}, "Europe/London")
        assert [c.key for c in q.columns] == list(r.default_columns)
        assert all(c.groupable for c in r.columns if c.key in ("currency",))


def test_grouping_money_groups_by_currency_so_currencies_never_add_up() -> None:
    q = query_domain.parse(
        {"report": "orders_with_commission", "columns": ["status", "amount"], "grouping": ["status"]}, "UTC"
    )
    assert q.by_currency and [o.key for o in q.outputs] == ["status", "currency", "sum:amount"]
