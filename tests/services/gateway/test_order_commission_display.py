"""An order whose commission is N/A shows no commission; the expected amount stays available."""

from __future__ import annotations

from tests.factories import create_order, gql

ORDER = """query($id: ID!) { order(id: $id) { status commStatus commission { amount currency }
  expectedCommission { amount currency } } }"""


async def test_na_orders_show_no_commission_but_keep_the_expected_amount(gateway, pool, tenant) -> None:
    expected = {"amount": "12.50", "currency": "GBP"}
    for status, comm, shown in (("PENDING", "NA", None), ("FAILED", "NA", None), ("SUCCESSFUL", "PENDING", expected)):
        order = await create_order(pool, tenant, status=status, product="Broadband")
        data = (await gql(gateway, ORDER, {"id": str(order["id"])}, token=tenant.member_token))["data"]["order"]
        assert data == {"status": status, "commStatus": comm, "commission": shown, "expectedCommission": expected}
