// An integration's products in its order (seed 000: the products curated for each embedded integration).
// Everyone sees them, switched-off ones marked; admins curate: add an entry of the provider catalogue (last,
// switched on), move one up or down, switch one off or on, remove one (refused while it has orders: it is
// switched off instead). The API's refusals show on the product or the field they are about.
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { graphql } from "../gql";
import type { IntegrationProductsQuery } from "../gql/graphql";
import { formatMoney } from "./format";
import { addable, moved, refusal } from "./integrationCuration";
import { ErrorState, Loading } from "./states";

const IntegrationProducts = graphql(`
  query IntegrationProducts($integrationId: ID!) {
    products(integrationId: $integrationId) {
      id
      name
      enabled
      position
      journeyType
      catalogueProductId
      commissionRate {
        amount
        currency
      }
      category {
        id
        name
      }
    }
  }
`);

const CatalogueForCuration = graphql(`
  query CatalogueForCuration {
    catalogueProducts {
      id
      name
      journeyType
      commissionRate {
        amount
        currency
      }
      provider {
        id
        name
      }
      category {
        id
        name
      }
    }
  }
`);

const AddProduct = graphql(`
  mutation AddProductToIntegration($integrationId: ID!, $catalogueProductId: ID!) {
    addProductToIntegration(integrationId: $integrationId, catalogueProductId: $catalogueProductId) {
      product {
        id
        name
      }
      errors {
        field
        code
        message
      }
    }
  }
`);

const RemoveProduct = graphql(`
  mutation RemoveProductFromIntegration($productId: ID!) {
    removeProductFromIntegration(productId: $productId) {
      removed
      errors {
        field
        code
        message
      }
    }
  }
`);

const ReorderProducts = graphql(`
  mutation ReorderIntegrationProducts($integrationId: ID!, $productIds: [ID!]!) {
    reorderIntegrationProducts(integrationId: $integrationId, productIds: $productIds) {
      products {
        id
        position
      }
      errors {
        field
        code
        message
      }
    }
  }
`);

const SetEnabled = graphql(`
  mutation SetProductEnabled($productId: ID!, $enabled: Boolean!) {
    setProductEnabled(productId: $productId, enabled: $enabled) {
      product {
        id
        enabled
      }
      errors {
        field
        code
        message
      }
    }
  }
`);

type Product = IntegrationProductsQuery["products"][number];

function journey(type: string): string {
  return type.toLowerCase().replace(/_/g, " ");
}

export function ProductsOf({ integrationId, integrationName, admin }: { integrationId: string; integrationName: string; admin: boolean }) {
  const [{ data, error, fetching }, refetch] = useQuery({ query: IntegrationProducts, variables: { integrationId } });
  const [catalogue] = useQuery({ query: CatalogueForCuration, pause: !admin });
  const [, add] = useMutation(AddProduct);
  const [, remove] = useMutation(RemoveProduct);
  const [, reorder] = useMutation(ReorderProducts);
  const [, setEnabled] = useMutation(SetEnabled);
  const [busy, setBusy] = useState(false);
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [choice, setChoice] = useState("");
  const [addError, setAddError] = useState<string | null>(null);
  const reload = () => refetch({ requestPolicy: "network-only" });
  const idPrefix = `products-${integrationId}`;

  const run = async (productId: string, work: () => Promise<string | null>) => {
    setBusy(true);
    setProblems({});
    const problem = await work();
    setBusy(false);
    if (problem) setProblems({ [productId]: problem });
    reload();
  };

  if (error && !data) return <ErrorState error={error} what={`products of ${integrationName}`} retry={reload} />;
  if (!data) return <Loading what={`the products of ${integrationName}`} />;
  const products = data.products;
  const ids = products.map((p) => p.id);
  const options = addable(catalogue.data?.catalogueProducts ?? [], products);

  const move = (p: Product, index: number, delta: -1 | 1) =>
    run(p.id, async () => {
      const result = await reorder({ integrationId, productIds: moved(ids, index, delta) });
      const payload = result.data?.reorderIntegrationProducts;
      return payload && payload.errors.length === 0 ? null : refusal(payload?.errors[0], "The order could not be saved; try again.");
    });
  const toggle = (p: Product) =>
    run(p.id, async () => {
      const result = await setEnabled({ productId: p.id, enabled: !p.enabled });
      const payload = result.data?.setProductEnabled;
      return payload && payload.errors.length === 0 ? null : refusal(payload?.errors[0], "The product could not be switched; try again.");
    });
  const drop = (p: Product) => {
    if (!window.confirm(`Remove ${p.name} from ${integrationName}? It leaves the integration's config at once.`)) return;
    void run(p.id, async () => {
      const result = await remove({ productId: p.id });
      const payload = result.data?.removeProductFromIntegration;
      return payload?.removed ? null : refusal(payload?.errors[0], "The product could not be removed; try again.");
    });
  };
  const addChosen = async () => {
    if (!choice) {
      setAddError("Choose a catalogue product to add.");
      return;
    }
    setBusy(true);
    setAddError(null);
    const result = await add({ integrationId, catalogueProductId: choice });
    setBusy(false);
    const payload = result.data?.addProductToIntegration;
    if (payload && payload.errors.length === 0) setChoice("");
    else setAddError(refusal(payload?.errors[0], "The product could not be added; try again."));
    reload();
  };

  return (
    <div className="integration-products" aria-busy={fetching || busy}>
      <h3 id={`${idPrefix}-title`}>Products</h3>
      {products.length === 0 ? (
        <p className="muted" role="status">
          No product in {integrationName} yet.{admin ? " Add one from the catalogue below." : " An admin adds them from the catalogue."}
        </p>
      ) : (
        <ol className="product-list" aria-labelledby={`${idPrefix}-title`}>
          {products.map((p, i) => (
            <li key={p.id} data-product={p.id} data-enabled={p.enabled} className={p.enabled ? undefined : "product-off"}>
              <div className="product-line">
                <span className="product-name">{p.name}</span>
                <span className={p.enabled ? "badge status-successful" : "badge"}>{p.enabled ? "on" : "off"}</span>
              </div>
              <p className="muted small product-facts">
                {p.category?.name ?? "no category"} · {journey(p.journeyType)} · commission {formatMoney(p.commissionRate)}
              </p>
              {admin ? (
                <div className="actions product-actions">
                  <button type="button" className="button small" disabled={busy || i === 0} onClick={() => void move(p, i, -1)}>
                    Move up <span className="visually-hidden">{p.name}</span>
                  </button>
                  <button type="button" className="button small" disabled={busy || i === products.length - 1} onClick={() => void move(p, i, 1)}>
                    Move down <span className="visually-hidden">{p.name}</span>
                  </button>
                  <button type="button" className="button small" disabled={busy} onClick={() => void toggle(p)}>
                    {p.enabled ? "Switch off" : "Switch on"} <span className="visually-hidden">{p.name}</span>
                  </button>
                  <button type="button" className="button small" disabled={busy} onClick={() => drop(p)}>
                    Remove <span className="visually-hidden">{p.name}</span>
                  </button>
                </div>
              ) : null}
              {problems[p.id] ? (
                <p className="field-error" role="alert">
                  {problems[p.id]}
                </p>
              ) : null}
            </li>
          ))}
        </ol>
      )}
      {admin ? (
        <form
          className="filters product-add"
          aria-label={`Add a product to ${integrationName}`}
          onSubmit={(e) => {
            e.preventDefault();
            void addChosen();
          }}
        >
          <span className="filter">
            <label htmlFor={`${idPrefix}-add`}>Add from the catalogue</label>
            <select
              id={`${idPrefix}-add`}
              value={choice}
              aria-invalid={Boolean(addError)}
              aria-describedby={addError ? `${idPrefix}-add-error` : undefined}
              onChange={(e) => {
                setChoice(e.target.value);
                setAddError(null);
              }}
            >
              <option value="">
                {catalogue.fetching && !catalogue.data
                  ? "Loading the catalogue…"
                  : (catalogue.data?.catalogueProducts.length ?? 0) === 0
                    ? "The catalogue is empty (the operator fills it)"
                    : options.length === 0
                      ? "Every catalogue product is added"
                      : "Choose a product"}
              </option>
              {options.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name} ({c.provider.name}, {formatMoney(c.commissionRate)})
                </option>
              ))}
            </select>
          </span>
          <button type="submit" className="button" disabled={busy || options.length === 0}>
            Add product <span className="visually-hidden">to {integrationName}</span>
          </button>
          {addError ? (
            <span id={`${idPrefix}-add-error`} className="field-error" role="alert">
              {addError}
            </span>
          ) : null}
          {catalogue.error ? <span className="field-error">The catalogue could not be loaded: reload the page to add products.</span> : null}
        </form>
      ) : null}
    </div>
  );
}
