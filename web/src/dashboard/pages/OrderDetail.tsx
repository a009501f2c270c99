// One order: its line (status, comm status, kind, journey type, failure reason), then its history: every
// commission change in the ledger (who made it, in words: changedBy) and each provider delivery about it.
import { useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { useMutation, useQuery } from "urql";
import { graphql } from "../../gql";
import { formatDateTime, formatMoney, zoneNote } from "../format";
import { useSession } from "../session";
import { Empty, ErrorState, Loading } from "../states";
import { commLabel } from "./Orders";

const OrderPage = graphql(`
  query OrderPage($id: ID!) {
    order(id: $id) {
      id
      externalRef
      status
      commStatus
      kind
      failureReason
      createdAt
      updatedAt
      commission {
        amount
        currency
      }
      expectedCommission {
        amount
        currency
      }
      customer {
        id
        displayName
        email
      }
      integration {
        id
        name
      }
      product {
        name
        journeyType
        successDefinition
      }
      category {
        name
      }
    }
    orderHistory(id: $id) {
      fromStatus
      toStatus
      fromCommStatus
      toCommStatus
      amount {
        amount
        currency
      }
      source
      actor
      onBehalfOfProviderName
      occurredAt
    }
  }
`);

/** The providers by name, for the history's webhook lines (provider users are refused the list: never asked). */
const Providers = graphql(`
  query OrderProviders {
    providers {
      id
      name
    }
  }
`);

const Deliveries = graphql(`
  query OrderDeliveries($id: ID!) {
    orderDeliveries(id: $id) {
      id
      webhookId
      outcome
      reason
      receivedAt
    }
  }
`);

const UpdateCommission = graphql(`
  mutation UpdateCommission($orderId: ID!, $commStatus: CommStatus!, $amount: Decimal) {
    updateCommissionStatus(orderId: $orderId, commStatus: $commStatus, amount: $amount) {
      changed
      errors {
        field
        message
      }
    }
  }
`);

type Change = { source: string; actor?: string | null; onBehalfOfProviderName?: string | null };
type Known = {
  integration?: { id: string; name: string } | null;
  providers?: ReadonlyMap<string, string>;
  me: { subject: string; email?: string | null };
};

/** Who made a history line, in words. The ledger's `source` says how (integration: the order as sent; provider: a
 * signed webhook; manual: a provider user on this page; operator: the platform operator for the provider; demo:
 * generated data) and its `actor` who, as `integration:<id>`, `provider:<id>`, `user:<subject>` (or
 * `service:<name>`), `operator`: the ids named from what the page knows, never shown raw. */
export function changedBy(change: Change, known: Known): string {
  const [kind, ...rest] = (change.actor ?? "").split(":");
  const ref = rest.join(":");
  const forProvider = change.onBehalfOfProviderName ? ` for ${change.onBehalfOfProviderName}` : "";
  switch (change.source) {
    case "integration":
      return kind === "integration" && known.integration && ref === known.integration.id ? `Integration ${known.integration.name}` : "The partner's integration";
    case "provider": {
      const name = kind === "provider" ? known.providers?.get(ref) : undefined;
      return name ? `Provider ${name} (webhook)` : "Provider (webhook)";
    }
    case "manual":
      if (kind === "user" && ref === known.me.subject) return `Provider user ${known.me.email ?? "(you)"}${known.me.email ? " (you)" : ""}${forProvider}`;
      return `A provider user${forProvider}`;
    case "operator":
      return `Operator${forProvider}`;
    case "demo":
      return "Demo data";
    default:
      return change.source;
  }
}

/** A provider user updates the commission by hand (seed 000: "through API or manually by the service provider"):
 * confirm it paid, or correct the pending amount. Only a SUCCESSFUL order has a commission to update. */
function CommissionForm({ orderId, currency, done }: { orderId: string; currency: string; done: () => void }) {
  const [{ fetching }, update] = useMutation(UpdateCommission);
  const [status, setStatus] = useState<"SUCCESSFUL" | "PENDING">("SUCCESSFUL");
  const [amount, setAmount] = useState("");
  const [problem, setProblem] = useState<{ field: string; message: string } | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(null);
    const result = await update({ orderId, commStatus: status, amount: amount.trim() || null });
    const err = result.data?.updateCommissionStatus.errors[0];
    if (err) setProblem({ field: err.field ?? "", message: err.message });
    else if (!result.data) setProblem({ field: "", message: "The commission could not be updated; try again." });
    else {
      setProblem(null);
      setAmount("");
      setSaved(result.data.updateCommissionStatus.changed ? "Commission updated." : "Nothing changed: it was already so.");
      done();
    }
  };
  const amountInvalid = problem?.field === "amount";
  return (
    <form className="commission-form" onSubmit={(e) => void submit(e)} aria-labelledby="commission-title">
      <h2 id="commission-title">Update the commission</h2>
      <div className="field">
        <label htmlFor="commission-status">Comm status</label>
        <select id="commission-status" value={status} onChange={(e) => setStatus(e.target.value as "SUCCESSFUL" | "PENDING")}>
          <option value="SUCCESSFUL">SUCCESSFUL (paid)</option>
          <option value="PENDING">PENDING</option>
        </select>
      </div>
      <div className="field">
        <label htmlFor="commission-amount">Amount in {currency} (leave empty to keep it)</label>
        <input
          id="commission-amount"
          inputMode="decimal"
          value={amount}
          onChange={(e) => setAmount(e.target.value)}
          aria-invalid={amountInvalid || undefined}
          aria-describedby={amountInvalid ? "commission-amount-error" : undefined}
        />
        {amountInvalid ? (
          <p id="commission-amount-error" className="field-error">
            {problem?.message}
          </p>
        ) : null}
      </div>
      <button type="submit" className="button primary" disabled={fetching}>
        Update commission
      </button>
      {problem && !amountInvalid ? (
        <p role="alert" className="field-error">
          {problem.message}
        </p>
      ) : null}
      {saved ? <p role="status">{saved}</p> : null}
    </form>
  );
}

/** The provider's webhook deliveries about the order (admins only: the API refuses others, so others never ask). */
function ProviderDeliveries({ id, zone }: { id: string; zone: string }) {
  const [{ data, error }] = useQuery({ query: Deliveries, variables: { id } });
  if (error && !data) return <ErrorState error={error} what="provider deliveries" />;
  if (!data) return <Loading what="provider deliveries" />;
  if (data.orderDeliveries.length === 0) {
    return (
      <Empty>
        <p>No delivery from the provider about this order yet.</p>
      </Empty>
    );
  }
  return (
    <div className="table-scroll" tabIndex={0} role="region" aria-label="Provider deliveries">
      <table>
        <thead>
          <tr>
            <th scope="col">Received</th>
            <th scope="col">Outcome</th>
            <th scope="col">Reason</th>
            <th scope="col">Webhook id</th>
          </tr>
        </thead>
        <tbody>
          {data.orderDeliveries.map((d) => (
            <tr key={d.id}>
              <td>{formatDateTime(d.receivedAt, zone)}</td>
              <td>{d.outcome.toLowerCase().replace(/_/g, " ")}</td>
              <td>{d.reason ?? "–"}</td>
              <td>
                <code>{d.webhookId}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export default function OrderDetail() {
  const { id = "" } = useParams();
  const { organisation, me } = useSession();
  const [{ data, error }, refetch] = useQuery({ query: OrderPage, variables: { id } });
  const [{ data: named }] = useQuery({ query: Providers, pause: me.role === "PROVIDER" });
  const zone = organisation.timeZone;
  if (error && !data) return <ErrorState error={error} what="order" retry={() => refetch({ requestPolicy: "network-only" })} />;
  if (!data) return <Loading what="the order" />;
  const o = data.order;
  const known = { integration: o?.integration, me, providers: new Map((named?.providers ?? []).map((p) => [p.id, p.name] as const)) };
  if (!o) {
    return (
      <Empty>
        <p>No such order in this organisation.</p>
        <Link to="/orders">All orders</Link>
      </Empty>
    );
  }
  return (
    <section aria-labelledby="order-title">
      <p>
        <Link to="/orders">← All orders</Link>
      </p>
      <h1 id="order-title">Order {o.externalRef}</h1>
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          {o.status}
          {o.failureReason ? ` · ${o.failureReason}` : ""}
        </dd>
        <dt>Comm status</dt>
        <dd>{commLabel(o.commStatus)}</dd>
        <dt>Commission</dt>
        <dd>{formatMoney(o.commission ?? o.expectedCommission)}</dd>
        <dt>Kind</dt>
        <dd>{o.kind === "SIGN_UP" ? "Sign-up" : "Order"}</dd>
        <dt>Product</dt>
        <dd>
          {o.product?.name ?? "–"}
          {o.product ? ` (${o.product.journeyType.toLowerCase().replace(/_/g, " ")})` : ""}
        </dd>
        <dt>Category</dt>
        <dd>{o.category?.name ?? "–"}</dd>
        <dt>Integration</dt>
        <dd>{o.integration?.name ?? "–"}</dd>
        <dt>Customer</dt>
        <dd>{o.customer ? (o.customer.email ?? o.customer.displayName) : "–"}</dd>
        <dt>Created</dt>
        <dd>{formatDateTime(o.createdAt, zone)}</dd>
        <dt>Updated</dt>
        <dd>{formatDateTime(o.updatedAt, zone)}</dd>
      </dl>
      {me.role === "PROVIDER" && o.status === "SUCCESSFUL" ? (
        <CommissionForm
          orderId={o.id}
          currency={(o.commission ?? o.expectedCommission)?.currency ?? organisation.baseCurrency}
          done={() => refetch({ requestPolicy: "network-only" })}
        />
      ) : null}
      <h2>History</h2>
      {data.orderHistory.length === 0 ? (
        <Empty>
          <p>No change recorded yet.</p>
        </Empty>
      ) : (
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Table (scrolls sideways on narrow screens)">
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Status</th>
                <th scope="col">Comm status</th>
                <th scope="col">Amount</th>
                <th scope="col">By</th>
              </tr>
            </thead>
            <tbody>
              {data.orderHistory.map((h, i) => (
                <tr key={i}>
                  <td>{formatDateTime(h.occurredAt, zone)}</td>
                  <td>
                    {h.fromStatus ? `${h.fromStatus} → ` : ""}
                    {h.toStatus}
                  </td>
                  <td>
                    {h.fromCommStatus ? `${commLabel(h.fromCommStatus)} → ` : ""}
                    {commLabel(h.toCommStatus)}
                  </td>
                  <td>{formatMoney(h.amount)}</td>
                  <td data-source={h.source}>{changedBy(h, known)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {me.role === "ADMIN" ? (
        <>
          <h2>Provider deliveries</h2>
          <ProviderDeliveries id={o.id} zone={zone} />
        </>
      ) : null}
      <p className="muted small">{zoneNote(zone)}</p>
    </section>
  );
}
