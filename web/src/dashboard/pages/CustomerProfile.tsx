// A customer's profile (seed 000): details, how and when they visited, the integrations visited, devices; then
// the timeline with its two event classes (user behaviour, funnel events) and their orders' changes, newest
// first, 50 at a time.
import { useState } from "react";
import { Link, useParams } from "react-router";
import { useQuery } from "urql";
import { graphql } from "../../gql";
import type { TimelineClass } from "../../gql/graphql";
import { formatDateTime, formatMoney, formatNumber, zoneNote } from "../format";
import { useSession } from "../session";
import { Empty, ErrorState, Loading } from "../states";

const ProfilePage = graphql(`
  query ProfilePage($id: ID!, $classes: [TimelineClass!], $after: String) {
    customer(id: $id) {
      id
      kind
      email
      displayName
      channel
      firstSeen
      lastSeen
      ordersCount
      successfulOrdersCount
      integrationsVisited {
        integrationId
        integrationName
        firstSeen
        lastSeen
        visits
      }
      devices {
        deviceId
        platform
        userAgent
        lastSeen
      }
      timeline(first: 50, after: $after, classes: $classes) {
        pageInfo {
          hasNextPage
          endCursor
        }
        nodes {
          id
          at
          kind
          class
          detail
          source
          amount {
            amount
            currency
          }
        }
      }
    }
  }
`);

const CLASSES: { value: TimelineClass | ""; label: string }[] = [
  { value: "", label: "Everything" },
  { value: "BEHAVIOUR", label: "User behaviour" },
  { value: "FUNNEL", label: "Funnel events" },
  { value: "BUSINESS", label: "Business events" },
  { value: "ORDER", label: "Order changes" },
];

export default function CustomerProfile() {
  const { id = "" } = useParams();
  const { organisation } = useSession();
  const [klass, setKlass] = useState<TimelineClass | "">("");
  const [after, setAfter] = useState<string | null>(null);
  const [{ data, error }, refetch] = useQuery({
    query: ProfilePage,
    variables: { id, classes: klass ? [klass] : null, after },
  });
  const zone = organisation.timeZone;
  if (error && !data) return <ErrorState error={error} what="customer" retry={() => refetch({ requestPolicy: "network-only" })} />;
  if (!data) return <Loading what="the customer" />;
  const c = data.customer;
  if (!c) {
    return (
      <Empty>
        <p>No such customer in this organisation.</p>
        <Link to="/customers">All customers</Link>
      </Empty>
    );
  }
  return (
    <section aria-labelledby="customer-title">
      <p>
        <Link to="/customers">← All customers</Link>
      </p>
      <h1 id="customer-title">{c.email ?? c.displayName}</h1>
      <dl className="facts">
        <dt>Kind</dt>
        <dd>{c.kind === "ANONYMOUS" ? `Anonymous (shown as ${c.displayName})` : "Generic (known by email)"}</dd>
        <dt>Channel</dt>
        <dd>{c.channel ?? "–"}</dd>
        <dt>First seen</dt>
        <dd>{formatDateTime(c.firstSeen, zone)}</dd>
        <dt>Last seen</dt>
        <dd>{formatDateTime(c.lastSeen, zone)}</dd>
        <dt>Orders</dt>
        <dd>
          <Link to={`/orders?customer=${c.id}`}>{formatNumber(c.ordersCount)}</Link> ({formatNumber(c.successfulOrdersCount)} successful)
        </dd>
      </dl>
      <h2>Integrations visited</h2>
      {c.integrationsVisited.length === 0 ? (
        <p className="muted">No visit recorded.</p>
      ) : (
        <ul>
          {c.integrationsVisited.map((v) => (
            <li key={v.integrationId}>
              {v.integrationName}: {formatNumber(v.visits)} visits, {formatDateTime(v.firstSeen, zone)} – {formatDateTime(v.lastSeen, zone)}
            </li>
          ))}
        </ul>
      )}
      <h2>Devices</h2>
      {c.devices.length === 0 ? (
        <p className="muted">No device recorded.</p>
      ) : (
        <ul>
          {c.devices.map((d) => (
            <li key={d.deviceId}>
              {d.platform ?? "unknown platform"} · last seen {formatDateTime(d.lastSeen, zone)}
              {d.userAgent ? <span className="muted small"> · {d.userAgent}</span> : null}
            </li>
          ))}
        </ul>
      )}
      <h2>Timeline</h2>
      <div className="tabs" role="group" aria-label="Timeline classes">
        {CLASSES.map((k) => (
          <button
            key={k.value || "all"}
            type="button"
            className={klass === k.value ? "tab active" : "tab"}
            aria-pressed={klass === k.value}
            onClick={() => {
              setKlass(k.value);
              setAfter(null);
            }}
          >
            {k.label}
          </button>
        ))}
      </div>
      {c.timeline.nodes.length === 0 ? (
        <Empty>
          <p>Nothing on the timeline{klass ? " of this class" : ""}.</p>
        </Empty>
      ) : (
        <ol className="timeline">
          {c.timeline.nodes.map((e) => (
            <li key={e.id}>
              <time dateTime={e.at}>{formatDateTime(e.at, zone)}</time> <strong>{e.kind.toLowerCase().replace(/_/g, " ")}</strong>{" "}
              <span className="muted small">({e.class.toLowerCase()})</span>
              {e.detail ? ` · ${e.detail}` : ""}
              {e.amount ? ` · ${formatMoney(e.amount)}` : ""}
              {e.source ? <span className="muted small"> · by {e.source}</span> : null}
            </li>
          ))}
        </ol>
      )}
      <nav className="pager" aria-label="Pages of the timeline">
        {after ? (
          <button type="button" className="button" onClick={() => setAfter(null)}>
            Newest
          </button>
        ) : null}
        {c.timeline.pageInfo.hasNextPage && c.timeline.pageInfo.endCursor ? (
          <button type="button" className="button" onClick={() => setAfter(c.timeline.pageInfo.endCursor ?? null)}>
            Older
          </button>
        ) : null}
      </nav>
      <p className="muted small">{zoneNote(zone)}</p>
    </section>
  );
}
