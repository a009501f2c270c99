from tests.factories import create_order, gql

ORDERS = """query($f: OrderFilterInput, $first: Int!, $after: String) {
  orders(filter: $f, first: $first, after: $after) {
    edges { cursor node { id externalRef status commStatus commission { amount currency }
      customer { id displayName kind } integration { id name } category { name } product { name } } }
    pageInfo { hasNextPage endCursor } } }"""


async def test_orders_page_with_relations(gateway, pool, tenant):
    for i in range(3):
        await create_order(pool, tenant, ref=f"smoke-{i}", status="SUCCESSFUL" if i else "PENDING")
    body = await gql(gateway, ORDERS, {"first": 2}, token=tenant.admin_token)
    assert "errors" not in body, body
    page = body["data"]["orders"]
    assert len(page["edges"]) == 2 and page["pageInfo"]["hasNextPage"] is True
    node = page["edges"][0]["node"]
    assert node["integration"]["name"] == "Web Marketplace"
    assert node["category"]["name"] == "Broadband"
    assert node["customer"]["kind"] == "ANONYMOUS"
    rest = await gql(gateway, ORDERS, {"first": 2, "after": page["pageInfo"]["endCursor"]}, token=tenant.admin_token)
    assert len(rest["data"]["orders"]["edges"]) == 1
