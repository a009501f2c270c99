// Customers (seed 000): generic customers (known by email) and anonymous ones (a name of words), searched and
// filtered in the URL, 50 at a time (keyset cursors); each opens its profile. The activity feed (every
// customer's events, live) is a page of its own, linked from the head. A segment (picked here, or from a link of
// the Segments page) narrows the list to its members: ?segment=<id>.
import { useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useQuery } from "urql";
import { graphql } from "../../gql";
import type { CustomerKind } from "../../gql/graphql";
import { formatDateTime, formatNumber, zoneNote } from "../format";
import { SegmentNote } from "../SegmentNote";
import { useSession } from "../session";
import { Empty, ErrorState, Loading } from "../states";

const CustomersPage = graphql(`
  query CustomersPage($filter: CustomerFilterInput!, $after: String) {
    integrations {
      id
      name
    }
    segments {
      id
      name
    }
    customers(filter: $filter, first: 50, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        id
        kind
        email
        displayName
        channel
        firstSeen
        lastSeen
      }
    }
  }
`);

const KINDS: { value: CustomerKind; label: string }[] = [
  { value: "GENERIC", label: "Generic (email)" },
  { value: "ANONYMOUS", label: "Anonymous" },
];

export default function Customers() {
  const { organisation } = useSession();
  const [params, setParams] = useSearchParams();
  const search = params.get("q") ?? "";
  const kind = params.get("kind") as CustomerKind | null;
  const integration = params.get("integration");
  const segment = params.get("segment");
  const after = params.get("after");
  const filter = useMemo(
    () => ({
      ...(search ? { search } : {}),
      ...(kind && KINDS.some((k) => k.value === kind) ? { kind } : {}),
      ...(integration ? { integrationIds: [integration] } : {}),
      ...(segment ? { segmentId: segment } : {}),
    }),
    [search, kind, integration, segment],
  );
  const [{ data, error }, refetch] = useQuery({ query: CustomersPage, variables: { filter, after } });
  const [typed, setTyped] = useState(search);
  const setParam = (name: string, value: string | null) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    next.delete("after");
    setParams(next);
  };
  const zone = organisation.timeZone;
  return (
    <section aria-labelledby="customers-title">
      <div className="page-head">
        <h1 id="customers-title">Customers</h1>
        <div className="actions">
          <Link className="button" to="/customers/activity">
            Activity feed
          </Link>
        </div>
      </div>
      <form
        className="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setParam("q", typed.trim() || null);
        }}
      >
        <span className="filter">
          <label htmlFor="customers-search">Search</label>{" "}
          <input id="customers-search" type="search" value={typed} placeholder="Email or name" onChange={(e) => setTyped(e.target.value)} />
        </span>
        <button type="submit" className="button">
          Search
        </button>
        <span className="filter">
          <label htmlFor="customers-kind">Kind</label>{" "}
          <select id="customers-kind" value={kind ?? ""} onChange={(e) => setParam("kind", e.target.value || null)}>
            <option value="">All</option>
            {KINDS.map((k) => (
              <option key={k.value} value={k.value}>
                {k.label}
              </option>
            ))}
          </select>
        </span>
        <span className="filter">
          <label htmlFor="customers-integration">Integration</label>{" "}
          <select id="customers-integration" value={integration ?? ""} onChange={(e) => setParam("integration", e.target.value || null)}>
            <option value="">All</option>
            {(data?.integrations ?? []).map((i) => (
              <option key={i.id} value={i.id}>
                {i.name}
              </option>
            ))}
          </select>
        </span>
        {(data?.segments.length ?? 0) > 0 || segment ? (
          <span className="filter">
            <label htmlFor="customers-segment">Segment</label>{" "}
            <select id="customers-segment" value={segment ?? ""} onChange={(e) => setParam("segment", e.target.value || null)}>
              <option value="">Every customer</option>
              {segment && data && !data.segments.some((s) => s.id === segment) ? <option value={segment}>(a segment not found)</option> : null}
              {(data?.segments ?? []).map((s) => (
                <option key={s.id} value={s.id}>
                  {s.name}
                </option>
              ))}
            </select>
          </span>
        ) : null}
      </form>
      <SegmentNote id={segment} onClear={() => setParam("segment", null)} />
      {error && !data ? <ErrorState error={error} what="customers" retry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && !error ? <Loading what="customers" /> : null}
      {data && data.customers.totalCount === 0 ? (
        <Empty>
          <p>No customers match.</p>
          <p className="muted">Customers appear when they visit an integration or place an order.</p>
        </Empty>
      ) : null}
      {data && data.customers.totalCount > 0 ? (
        <>
          <div className="table-scroll" tabIndex={0} role="region" aria-label="Table (scrolls sideways on narrow screens)">
            <table className="customers">
              <caption className="muted small">
                <span data-total={data.customers.totalCount}>{formatNumber(data.customers.totalCount)}</span> customers · {zoneNote(zone)}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Customer</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Channel</th>
                  <th scope="col">First seen</th>
                  <th scope="col">Last seen</th>
                </tr>
              </thead>
              <tbody>
                {data.customers.nodes.map((c) => (
                  <tr key={c.id}>
                    <td>
                      <Link to={`/customers/${c.id}`}>{c.email ?? c.displayName}</Link>
                    </td>
                    <td>{c.kind === "ANONYMOUS" ? "Anonymous" : "Generic"}</td>
                    <td>{c.channel ?? "–"}</td>
                    <td>{formatDateTime(c.firstSeen, zone)}</td>
                    <td>{formatDateTime(c.lastSeen, zone)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav className="pager" aria-label="Pages of customers">
            {after ? (
              <button type="button" className="button" onClick={() => setParam("after", null)}>
                First page
              </button>
            ) : null}
            {data.customers.pageInfo.hasNextPage && data.customers.pageInfo.endCursor ? (
              <button
                type="button"
                className="button"
                onClick={() => {
                  const next = new URLSearchParams(params);
                  next.set("after", data.customers.pageInfo.endCursor ?? "");
                  setParams(next);
                }}
              >
                Next page
              </button>
            ) : null}
          </nav>
        </>
      ) : null}
    </section>
  );
}
