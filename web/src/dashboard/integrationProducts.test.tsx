import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { Client, fetchExchange, Provider } from "urql";
import { afterEach, describe, expect, it, vi } from "vitest";
import { addable, moved, refusal } from "./integrationCuration";
import { ProductsOf } from "./integrationProducts";

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

describe("curation rules", () => {
  it("moves a product one place, and not past either end", () => {
    expect(moved(["a", "b", "c"], 0, 1)).toEqual(["b", "a", "c"]);
    expect(moved(["a", "b", "c"], 2, -1)).toEqual(["a", "c", "b"]);
    expect(moved(["a", "b", "c"], 0, -1)).toEqual(["a", "b", "c"]);
    expect(moved(["a", "b", "c"], 2, 1)).toEqual(["a", "b", "c"]);
  });

  it("offers the catalogue entries not yet added, by name", () => {
    const catalogue = [
      { id: "c2", name: "Savings" },
      { id: "c1", name: "Broadband" },
      { id: "c3", name: "Card" },
    ];
    expect(addable(catalogue, [{ catalogueProductId: "c3" }, { catalogueProductId: null }]).map((c) => c.id)).toEqual(["c1", "c2"]);
  });

  it("says what to do when a product with orders cannot be removed", () => {
    expect(refusal({ code: "PRODUCT_IN_USE", message: "x" }, "fallback")).toContain("switch it off instead");
    expect(refusal({ code: "FORBIDDEN", message: "admins only" }, "fallback")).toBe("admins only");
    expect(refusal(undefined, "fallback")).toBe("fallback");
  });
});

const money = (amount: string) => ({ amount, currency: "GBP", __typename: "Money" });
const product = (id: string, name: string, enabled = true, catalogueProductId: string | null = null) => ({
  __typename: "Product",
  id,
  name,
  enabled,
  position: 0,
  journeyType: "EMBEDDED",
  catalogueProductId,
  commissionRate: money("12.50"),
  category: { __typename: "Category", id: "cat", name: "Broadband" },
});

/** A client whose fetch answers each operation by name, recording what was sent. */
function fakeClient(answers: Record<string, (variables: Record<string, unknown>) => unknown>) {
  const sent: { name: string; variables: Record<string, unknown> }[] = [];
  const fetchFn = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body)) as { operationName: string; variables: Record<string, unknown> };
    sent.push({ name: body.operationName, variables: body.variables });
    const answer = answers[body.operationName];
    if (!answer) throw new Error(`unexpected operation ${body.operationName}`);
    return new Response(JSON.stringify({ data: answer(body.variables) }), { headers: { "content-type": "application/json" } });
  });
  const client = new Client({ url: "http://test/graphql", exchanges: [fetchExchange], fetch: fetchFn as typeof fetch, requestPolicy: "network-only", preferGetMethod: false });
  return { client, sent };
}

describe("an integration's products", () => {
  const catalogue = () => ({
    catalogueProducts: [
      { __typename: "CatalogueProduct", id: "c1", name: "Fibre 500", journeyType: "EMBEDDED", commissionRate: money("20"), provider: { __typename: "Provider", id: "p", name: "Acme" }, category: null },
      { __typename: "CatalogueProduct", id: "c2", name: "Gold card", journeyType: "EMBEDDED", commissionRate: money("40"), provider: { __typename: "Provider", id: "p", name: "Acme" }, category: null },
    ],
  });

  it("lists them in order and sends a move, a refused removal named on its product, and an addition", async () => {
    const { client, sent } = fakeClient({
      IntegrationProducts: () => ({ products: [product("p1", "First"), product("p2", "Second", false, "c2")] }),
      CatalogueForCuration: catalogue,
      ReorderIntegrationProducts: () => ({ reorderIntegrationProducts: { __typename: "ReorderProductsPayload", products: [], errors: [] } }),
      RemoveProductFromIntegration: () => ({
        removeProductFromIntegration: {
          __typename: "RemoveProductPayload",
          removed: false,
          errors: [{ __typename: "UserError", field: "productId", code: "PRODUCT_IN_USE", message: "has orders" }],
        },
      }),
      AddProductToIntegration: () => ({
        addProductToIntegration: { __typename: "ProductPayload", product: { __typename: "Product", id: "p3", name: "Fibre 500" }, errors: [] },
      }),
    });
    vi.spyOn(window, "confirm").mockReturnValue(true);
    render(
      <Provider value={client}>
        <ProductsOf integrationId="i1" integrationName="Web" admin />
      </Provider>,
    );
    const list = await screen.findByRole("list", { name: "Products" });
    expect(within(list).getAllByRole("listitem").map((li) => li.getAttribute("data-product"))).toEqual(["p1", "p2"]);
    expect(within(list).getAllByRole("listitem")[1]?.textContent).toContain("off");
    expect((screen.getByRole("button", { name: "Move up First" }) as HTMLButtonElement).disabled).toBe(true);

    fireEvent.click(screen.getByRole("button", { name: "Move down First" }));
    await waitFor(() => expect(sent.some((s) => s.name === "ReorderIntegrationProducts")).toBe(true));
    expect(sent.find((s) => s.name === "ReorderIntegrationProducts")?.variables).toEqual({ integrationId: "i1", productIds: ["p2", "p1"] });

    await waitFor(() => expect((screen.getByRole("button", { name: "Remove First" }) as HTMLButtonElement).disabled).toBe(false));
    fireEvent.click(screen.getByRole("button", { name: "Remove First" }));
    const row = await waitFor(() => {
      const li = list.querySelector('[data-product="p1"]') as HTMLElement;
      expect(within(li).getByRole("alert").textContent).toContain("switch it off instead");
      return li;
    });
    expect(row).toBeTruthy();

    // the catalogue entry already in the integration (c2) is not offered again
    const select = screen.getByLabelText("Add from the catalogue") as HTMLSelectElement;
    await waitFor(() => expect([...select.options].map((o) => o.value)).toEqual(["", "c1"]));
    fireEvent.click(screen.getByRole("button", { name: "Add product to Web" }));
    expect(await screen.findByText("Choose a catalogue product to add.")).toBeTruthy();
    expect(select.getAttribute("aria-invalid")).toBe("true");
    fireEvent.change(select, { target: { value: "c1" } });
    fireEvent.click(screen.getByRole("button", { name: "Add product to Web" }));
    await waitFor(() => expect(sent.find((s) => s.name === "AddProductToIntegration")?.variables).toEqual({ integrationId: "i1", catalogueProductId: "c1" }));
  });

  it("shows members the products without curation controls", async () => {
    const { client, sent } = fakeClient({ IntegrationProducts: () => ({ products: [product("p1", "First")] }) });
    render(
      <Provider value={client}>
        <ProductsOf integrationId="i1" integrationName="Web" admin={false} />
      </Provider>,
    );
    await screen.findByRole("list", { name: "Products" });
    expect(screen.queryByRole("button", { name: /Remove/ })).toBeNull();
    expect(screen.queryByLabelText("Add from the catalogue")).toBeNull();
    expect(sent.map((s) => s.name)).toEqual(["IntegrationProducts"]);
  });
});
