// One order: its line (status, comm status, kind, journey type, failure reason), then its history: every
// commission change in the ledger and each provider delivery about it.
import { Link, useParams } from "react-router";
import { useQuery } from "urql";
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
      occurredAt
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
  const zone = organisation.timeZone;
  if (error && !data) return <ErrorState error={error} what="order" retry={() => refetch({ requestPolicy: "network-only" })} />;
  if (!data) return <Loading what="the order" />;
  const o = data.order;
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
                  <td>
                    {h.source}
                    {h.actor ? ` (${h.actor})` : ""}
                  </td>
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
