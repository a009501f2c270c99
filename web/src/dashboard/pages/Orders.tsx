// Orders (seed 000): the header of totals (orders, successful, pending, failed, commission pending and paid
// per currency), the date range and filters in the URL, the list 50 at a time (keyset cursors: ?after=),
// export CSV/XLSX of exactly this filter, and each order's line with status and comm status as the seed
// defines them (comm status N/A unless the order is successful).
import { useEffect, useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useMutation, useQuery, useSubscription } from "urql";
import { graphql } from "../../gql";
import type { CommStatus, ExportFormat, OrderStatus } from "../../gql/graphql";
import { download } from "../exporting";
import { formatDateTime, formatMoney, formatMoneyList, formatNumber, zoneNote } from "../format";
import { useThrottledOnChange } from "../live";
import { RangePicker } from "../RangePicker";
import { rangeInput, useRange } from "../range";
import { SegmentNote } from "../SegmentNote";
import { useSession } from "../session";
import { Empty, ErrorState, Loading } from "../states";

const OrdersPage = graphql(`
  query OrdersPage($filter: OrderFilterInput!, $after: String) {
    ordersSummary(filter: $filter) {
      totalOrders
      successfulOrders
      pendingOrders
      failedOrders
      commissionPending {
        amount
        currency
      }
      commissionPaid {
        amount
        currency
      }
    }
    orders(filter: $filter, first: 50, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        externalRef
        status
        commStatus
        kind
        failureReason
        createdAt
        commission {
          amount
          currency
        }
        expectedCommission {
          amount
          currency
        }
        customer {
          displayName
          email
        }
        integration {
          name
        }
        product {
          name
          journeyType
        }
        category {
          name
        }
      }
    }
  }
`);

const ExportOrders = graphql(`
  mutation ExportOrders($filter: OrderFilterInput!, $format: ExportFormat!) {
    requestExport(kind: ORDERS, format: $format, orderFilter: $filter) {
      url
      errors {
        field
        message
      }
    }
  }
`);

const OrdersLive = graphql(`
  subscription OrdersLive($filter: OrderFilterInput) {
    ordersActivity(filter: $filter, first: 1) {
      totalCount
      nodes {
        id
        updatedAt
      }
    }
  }
`);

const ConfirmCommission = graphql(`
  mutation ConfirmCommission($orderId: ID!) {
    updateCommissionStatus(orderId: $orderId, commStatus: SUCCESSFUL) {
      changed
      errors {
        field
        message
      }
    }
  }
`);

const STATUSES: OrderStatus[] = ["SUCCESSFUL", "PENDING", "FAILED"];
const COMM_STATUSES: CommStatus[] = ["PENDING", "SUCCESSFUL", "NA"];

export function commLabel(status: CommStatus): string {
  return status === "NA" ? "N/A" : status;
}

export default function Orders() {
  const { organisation, me } = useSession();
  // Provider users (a provider's staff) see their provider's orders only, and confirm commissions by hand (seed 000).
  const provider = me.role === "PROVIDER";
  const [, confirm] = useMutation(ConfirmCommission);
  const confirmPaid = async (id: string, ref: string) => {
    if (!window.confirm(`Confirm the commission of order ${ref} as paid?`)) return;
    const result = await confirm({ orderId: id });
    const err = result.data?.updateCommissionStatus.errors[0];
    setExportProblem(err ? err.message : result.data ? null : "The commission could not be updated; try again.");
    refetch({ requestPolicy: "network-only" });
  };
  const [range, setRange] = useRange();
  const [params, setParams] = useSearchParams();
  const status = params.get("status") as OrderStatus | null;
  const comm = params.get("comm") as CommStatus | null;
  const search = params.get("q") ?? "";
  const category = params.get("category");
  const customer = params.get("customer");
  const segment = params.get("segment");
  const after = params.get("after");
  const filter = useMemo(
    () => ({
      range: rangeInput(range),
      ...(status && STATUSES.includes(status) ? { statuses: [status] } : {}),
      ...(comm && COMM_STATUSES.includes(comm) ? { commStatuses: [comm] } : {}),
      ...(search ? { search } : {}),
      ...(category ? { categoryIds: [category] } : {}),
      ...(customer ? { customerId: customer } : {}),
      ...(segment ? { segmentId: segment } : {}),
    }),
    [range, status, comm, search, category, customer, segment],
  );
  const [{ data, error, fetching }, refetch] = useQuery({ query: OrdersPage, variables: { filter, after } });
  const [exporting, runExport] = useMutation(ExportOrders);
  // New orders appear live: the first page's change pushed by the gateway re-reads the header and the list.
  const [live] = useSubscription({ query: OrdersLive, variables: { filter } });
  const liveKey = live.data
    ? `${live.data.ordersActivity.totalCount}:${live.data.ordersActivity.nodes.map((n) => `${n.id}@${n.updatedAt}`).join()}`
    : null;
  // The first push is the page as it was read; later ones re-read it (throttled: a burst of orders is one re-read).
  const [firstKey, setFirstKey] = useState<string | null>(null);
  useEffect(() => {
    if (liveKey !== null && firstKey === null) setFirstKey(liveKey);
  }, [liveKey, firstKey]);
  useThrottledOnChange(firstKey !== null && liveKey !== firstKey ? liveKey : null, () =>
    refetch({ requestPolicy: "network-only" }),
  );
  const [exportProblem, setExportProblem] = useState<string | null>(null);
  const [typed, setTyped] = useState(search);

  const setParam = (name: string, value: string | null) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    next.delete("after"); // a new filter starts at the first page
    setParams(next);
  };
  const exportAs = async (format: ExportFormat) => {
    setExportProblem(null);
    const result = await runExport({ filter, format });
    const answer = result.data?.requestExport;
    if (answer?.url) download(answer.url);
    else setExportProblem(answer?.errors[0]?.message ?? "The export could not be made; try again.");
  };
  const zone = organisation.timeZone;
  const summary = data?.ordersSummary;

  return (
    <section aria-labelledby="orders-title">
      <div className="page-head">
        <h1 id="orders-title">Orders</h1>
        <div className="actions">
          <button type="button" className="button primary" disabled={exporting.fetching} onClick={() => void exportAs("CSV")}>
            Export CSV
          </button>
          <button type="button" className="button" disabled={exporting.fetching} onClick={() => void exportAs("XLSX")}>
            Export XLSX
          </button>
        </div>
      </div>
      {exportProblem ? (
        <p role="alert" className="field-error">
          {exportProblem}
        </p>
      ) : null}
      <RangePicker value={range} onChange={setRange} />
      <SegmentNote id={segment} onClear={() => setParam("segment", null)} />
      <form
        className="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setParam("q", typed.trim() || null);
        }}
      >
        <span className="filter">
          <label htmlFor="orders-status">Status</label>{" "}
          <select id="orders-status" value={status ?? ""} onChange={(e) => setParam("status", e.target.value || null)}>
            <option value="">All</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </span>
        <span className="filter">
          <label htmlFor="orders-comm">Comm status</label>{" "}
          <select id="orders-comm" value={comm ?? ""} onChange={(e) => setParam("comm", e.target.value || null)}>
            <option value="">All</option>
            {COMM_STATUSES.map((s) => (
              <option key={s} value={s}>
                {commLabel(s)}
              </option>
            ))}
          </select>
        </span>
        <label>
          Search <input type="search" value={typed} placeholder="Order reference, product or category" onChange={(e) => setTyped(e.target.value)} />
        </label>
        <button type="submit" className="button">
          Search
        </button>
      </form>
      {error && !data ? <ErrorState error={error} what="orders" retry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && !error ? <Loading what="orders" /> : null}
      {summary ? (
        <ul className="tiles" aria-label="Orders header" aria-busy={fetching}>
          <li className="tile">
            <span className="tile-label">Orders</span>
            <span className="tile-value" data-summary="totalOrders">
              {formatNumber(summary.totalOrders)}
            </span>
          </li>
          <li className="tile">
            <span className="tile-label">Successful</span>
            <span className="tile-value" data-summary="successfulOrders">
              {formatNumber(summary.successfulOrders)}
            </span>
          </li>
          <li className="tile">
            <span className="tile-label">Pending</span>
            <span className="tile-value" data-summary="pendingOrders">
              {formatNumber(summary.pendingOrders)}
            </span>
          </li>
          <li className="tile">
            <span className="tile-label">Failed</span>
            <span className="tile-value" data-summary="failedOrders">
              {formatNumber(summary.failedOrders)}
            </span>
          </li>
          <li className="tile">
            <span className="tile-label">Commission pending</span>
            <span className="tile-value money">{formatMoneyList(summary.commissionPending)}</span>
          </li>
          <li className="tile">
            <span className="tile-label">Commission paid</span>
            <span className="tile-value money">{formatMoneyList(summary.commissionPaid)}</span>
          </li>
        </ul>
      ) : null}
      {data && data.orders.totalCount === 0 ? (
        <Empty>
          <p>No orders match these filters.</p>
          <p className="muted">Widen the date range or clear a filter.</p>
        </Empty>
      ) : null}
      {data && data.orders.totalCount > 0 ? (
        <>
          <div className="table-scroll" tabIndex={0} role="region" aria-label="Table (scrolls sideways on narrow screens)">
            <table className="orders">
              <caption className="muted small">
                {formatNumber(data.orders.totalCount)} orders · {zoneNote(zone)}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Order</th>
                  <th scope="col">Created</th>
                  <th scope="col">Customer</th>
                  <th scope="col">Product</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Status</th>
                  <th scope="col">Comm status</th>
                  <th scope="col" className="num">
                    Commission
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.orders.nodes.map((o) => (
                  <tr key={o.id}>
                    <td>
                      <Link to={`/orders/${o.id}`}>{o.externalRef}</Link>
                    </td>
                    <td>{formatDateTime(o.createdAt, zone)}</td>
                    <td>{o.customer ? (o.customer.email ?? o.customer.displayName) : "–"}</td>
                    <td>
                      {o.product?.name ?? "–"}
                      {o.product ? <span className="muted small"> · {o.product.journeyType.toLowerCase().replace(/_/g, " ")}</span> : null}
                    </td>
                    <td>{o.kind === "SIGN_UP" ? "Sign-up" : "Order"}</td>
                    <td>
                      <span className={`badge status-${o.status.toLowerCase()}`}>{o.status}</span>
                      {o.failureReason ? <span className="muted small"> {o.failureReason}</span> : null}
                    </td>
                    <td>
                      <span className={`badge comm-${o.commStatus.toLowerCase()}`}>{commLabel(o.commStatus)}</span>
                      {provider && o.commStatus === "PENDING" ? (
                        <button type="button" className="link-button small" onClick={() => void confirmPaid(o.id, o.externalRef)}>
                          Confirm paid <span className="visually-hidden">for {o.externalRef}</span>
                        </button>
                      ) : null}
                    </td>
                    <td className="num">{formatMoney(o.commission ?? o.expectedCommission)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav className="pager" aria-label="Pages of orders">
            {after ? (
              <button type="button" className="button" onClick={() => setParam("after", null)}>
                First page
              </button>
            ) : null}
            {data.orders.pageInfo.hasNextPage && data.orders.pageInfo.endCursor ? (
              <button type="button" className="button" onClick={() => setParams(new URLSearchParams({ ...Object.fromEntries(params), after: data.orders.pageInfo.endCursor ?? "" }))}>
                Next page
              </button>
            ) : null}
          </nav>
        </>
      ) : null}
    </section>
  );
}
