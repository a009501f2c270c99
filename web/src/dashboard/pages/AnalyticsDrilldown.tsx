// What an Analytics number counts: the customers or orders behind a point of the graph (?metric=&bucket=) or
// a funnel bucket (?step=), with the page's filters. The list's total is the API's `totalCount`, equal to the
// number clicked; the rows come 50 at a time (keyset cursors) until all are shown.
import { useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useQuery } from "urql";
import { graphql } from "../../gql";
import type { AnalyticsMetric } from "../../gql/graphql";
import { formatDateTime, formatMoney, formatNumber, zoneNote } from "../format";
import { rangeInput, parseRange } from "../range";
import { useSession } from "../session";
import { Empty, ErrorState, Loading } from "../states";

const CustomersBehind = graphql(`
  query CustomersBehind($filter: AnalyticsFilterInput!, $metric: AnalyticsMetric!, $bucket: DateTime!, $after: String) {
    analyticsCustomers(filter: $filter, metric: $metric, bucket: $bucket, first: 50, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        at
        customerId
        node {
          displayName
          email
        }
      }
    }
  }
`);

const FunnelBehind = graphql(`
  query FunnelBehind($filter: AnalyticsFilterInput!, $step: Int!, $after: String) {
    funnelCustomers(filter: $filter, step: $step, first: 50, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        at
        customerId
        node {
          displayName
          email
        }
      }
    }
  }
`);

const OrdersBehind = graphql(`
  query OrdersBehind($filter: AnalyticsFilterInput!, $metric: AnalyticsMetric!, $bucket: DateTime!, $after: String) {
    analyticsOrders(filter: $filter, metric: $metric, bucket: $bucket, first: 50, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        orderId
        createdAt
        status
        commStatus
        commission {
          amount
          currency
        }
        node {
          externalRef
          product {
            name
          }
        }
      }
    }
  }
`);

const CUSTOMER_METRICS: readonly string[] = ["NEW_CUSTOMERS", "RETURNING_CUSTOMERS"];
const ORDER_METRICS: readonly string[] = ["ORDERS_CREATED", "SUCCESSFUL_ORDERS", "COMMISSION_PENDING", "COMMISSION_PAID"];
const TITLES: Record<string, string> = {
  NEW_CUSTOMERS: "New customers",
  RETURNING_CUSTOMERS: "Returning customers",
  ORDERS_CREATED: "Orders created",
  SUCCESSFUL_ORDERS: "Successful orders",
  COMMISSION_PENDING: "Orders with commission pending",
  COMMISSION_PAID: "Orders with commission paid",
};

type Row = { key: string; cells: React.ReactNode[] };

function Pages({
  title,
  headers,
  useRows,
}: {
  title: string;
  headers: string[];
  useRows: (after: string | null) => {
    rows: Row[] | null;
    total: number;
    next: string | null;
    error: Parameters<typeof ErrorState>[0]["error"] | undefined;
  };
}) {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  return (
    <>
      <h1>{title}</h1>
      {cursors.map((after, i) => (
        <PageOfRows
          key={after ?? "first"}
          after={after}
          first={i === 0}
          last={i === cursors.length - 1}
          headers={headers}
          useRows={useRows}
          more={(next) => setCursors([...cursors, next])}
        />
      ))}
    </>
  );
}

function PageOfRows({
  after,
  first,
  last,
  headers,
  useRows,
  more,
}: {
  after: string | null;
  first: boolean;
  last: boolean;
  headers: string[];
  useRows: Parameters<typeof Pages>[0]["useRows"];
  more: (next: string) => void;
}) {
  const { rows, total, next, error } = useRows(after);
  if (error && !rows) return <ErrorState error={error} what="list" />;
  if (!rows) return <Loading what="the list" />;
  if (first && total === 0) return <Empty><p>Nothing behind this number.</p></Empty>;
  return (
    <>
      {first ? (
        <p className="count" data-total={total}>
          {formatNumber(total)} in all
        </p>
      ) : null}
      <div className="table-scroll" tabIndex={0} role="region" aria-label="Table (scrolls sideways on narrow screens)">
        <table className="drill-rows">
          {first ? (
            <thead>
              <tr>
                {headers.map((h) => (
                  <th scope="col" key={h}>
                    {h}
                  </th>
                ))}
              </tr>
            </thead>
          ) : null}
          <tbody>
            {rows.map((r) => (
              <tr key={r.key}>
                {r.cells.map((c, i) => (
                  <td key={i}>{c}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {last && next ? (
        <button type="button" className="button" onClick={() => more(next)}>
          Show more
        </button>
      ) : null}
    </>
  );
}

export default function AnalyticsDrilldown() {
  const { organisation } = useSession();
  const [params] = useSearchParams();
  const category = params.get("category");
  const filter = useMemo(
    () => ({ range: rangeInput(parseRange(params)), ...(category ? { categoryIds: [category] } : {}) }),
    [params, category],
  );
  const metric = params.get("metric") ?? "";
  const bucket = params.get("bucket") ?? "";
  const step = Number(params.get("step") ?? "0");
  const zone = organisation.timeZone;
  const back = new URLSearchParams([...params].filter(([k]) => ["preset", "from", "to", "category"].includes(k)));
  const who = (c: { displayName: string; email?: string | null } | null | undefined, id: string) =>
    c ? (c.email ?? c.displayName) : `customer ${id}`;

  let body: React.ReactNode;
  if (step >= 1) {
    body = (
      <Pages
        title={`Funnel step ${step}: customers`}
        headers={["Customer", "Reached the step"]}
        useRows={(after) => {
          const [{ data, error }] = useQuery({ query: FunnelBehind, variables: { filter, step, after } });
          const c = data?.funnelCustomers;
          return {
            rows: c ? c.edges.map((e) => ({ key: e.customerId, cells: [who(e.node, e.customerId), formatDateTime(e.at, zone)] })) : null,
            total: c?.totalCount ?? 0,
            next: c?.pageInfo.hasNextPage ? (c.pageInfo.endCursor ?? null) : null,
            error,
          };
        }}
      />
    );
  } else if (CUSTOMER_METRICS.includes(metric) && bucket) {
    body = (
      <Pages
        title={`${TITLES[metric]} from ${formatDateTime(bucket, zone)}`}
        headers={["Customer", "Seen"]}
        useRows={(after) => {
          const [{ data, error }] = useQuery({
            query: CustomersBehind,
            variables: { filter, metric: metric as AnalyticsMetric, bucket, after },
          });
          const c = data?.analyticsCustomers;
          return {
            rows: c ? c.edges.map((e) => ({ key: e.customerId, cells: [who(e.node, e.customerId), formatDateTime(e.at, zone)] })) : null,
            total: c?.totalCount ?? 0,
            next: c?.pageInfo.hasNextPage ? (c.pageInfo.endCursor ?? null) : null,
            error,
          };
        }}
      />
    );
  } else if (ORDER_METRICS.includes(metric) && bucket) {
    body = (
      <Pages
        title={`${TITLES[metric]} from ${formatDateTime(bucket, zone)}`}
        headers={["Order", "Product", "Created", "Status", "Comm status", "Commission"]}
        useRows={(after) => {
          const [{ data, error }] = useQuery({
            query: OrdersBehind,
            variables: { filter, metric: metric as AnalyticsMetric, bucket, after },
          });
          const c = data?.analyticsOrders;
          return {
            rows: c
              ? c.edges.map((e) => ({
                  key: e.orderId,
                  cells: [
                    <Link key="o" to={`/orders/${e.orderId}`}>
                      {e.node?.externalRef ?? e.orderId}
                    </Link>,
                    e.node?.product?.name ?? "–",
                    formatDateTime(e.createdAt, zone),
                    e.status,
                    e.commStatus === "NA" ? "N/A" : e.commStatus,
                    formatMoney(e.commission),
                  ],
                }))
              : null,
            total: c?.totalCount ?? 0,
            next: c?.pageInfo.hasNextPage ? (c.pageInfo.endCursor ?? null) : null,
            error,
          };
        }}
      />
    );
  } else {
    body = (
      <Empty>
        <p>This link names no number to open.</p>
      </Empty>
    );
  }
  return (
    <section>
      <p>
        <Link to={`/analytics?${back.toString()}`}>← Back to Analytics</Link>
      </p>
      {body}
      <p className="muted small">{zoneNote(zone)}</p>
    </section>
  );
}
