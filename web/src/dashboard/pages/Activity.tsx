// The activity feed (issue 12, Customers): the organisation's events across every customer, newest first, 50
// at a time (keyset: Load more goes on from the oldest shown), filtered by class and event type in the URL
// (?class=FUNNEL&type=visit). Each entry links to its customer and, when it is about one, its order. Live: the
// gateway pushes the feed's first page when events land, and new entries join the top without a reload.
import "./activity.css";
import { useEffect, useMemo, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useClient, useQuery, useSubscription } from "urql";
import { graphql } from "../../gql";
import type { ActivityEntryFragment, TimelineClass } from "../../gql/graphql";
import {
  FEED_CLASSES,
  filterFromParams,
  formatEventTime,
  filterInput,
  filterKey,
  kindLabel,
  mergeLive,
  nextCursor,
  paramsWith,
  union,
  type Feed,
} from "../activity";
import { errorCode } from "../api";
import { formatMoney, formatNumber, zoneNote } from "../format";
import { useSession } from "../session";
import { Empty, ErrorState, Loading } from "../states";

const PAGE = 50;

graphql(`
  fragment ActivityEntry on ActivityEdge {
    cursor
    node {
      id
      at
      kind
      type
      class
      orderId
      customerId
      detail
      amount {
        amount
        currency
      }
      integration {
        id
        name
      }
      device {
        platform
      }
      customer {
        id
        email
        displayName
      }
    }
  }
`);

const ActivityPage = graphql(`
  query ActivityPage($filter: ActivityFilterInput, $first: Int!) {
    eventTypes {
      name
      class
    }
    activity(filter: $filter, first: $first) {
      pageInfo {
        hasNextPage
      }
      edges {
        ...ActivityEntry
      }
    }
  }
`);

const ActivityMore = graphql(`
  query ActivityMore($filter: ActivityFilterInput, $first: Int!, $after: String) {
    activity(filter: $filter, first: $first, after: $after) {
      pageInfo {
        hasNextPage
      }
      edges {
        ...ActivityEntry
      }
    }
  }
`);

const ActivityLive = graphql(`
  subscription ActivityLive($filter: ActivityFilterInput) {
    activity(filter: $filter, first: 20) {
      pageInfo {
        hasNextPage
      }
      edges {
        ...ActivityEntry
      }
    }
  }
`);

/** The feed on screen, the filter it belongs to, and how many entries arrived live since it was opened. */
type Shown = Feed<ActivityEntryFragment> & { key: string; arrived: number };

/** The filter key an answer was asked with: an answer of the previous filter never fills the new one's feed. */
function answeredKey(variables: unknown): string | null {
  const f = (variables as { filter?: { classes?: string[] | null; types?: string[] | null } | null } | undefined)?.filter;
  if (variables === undefined) return null;
  return `${f?.classes?.[0] ?? ""}|${(f?.types ?? []).join(",")}`;
}

function ActivityItem({ entry, zone }: { entry: ActivityEntryFragment; zone: string }) {
  const e = entry.node;
  const who = e.customer ? (e.customer.email ?? e.customer.displayName) : null;
  return (
    <li data-event={e.id} data-class={e.class} data-type={e.type ?? ""} tabIndex={-1}>
      <div className="activity-head">
        <time dateTime={e.at}>{formatEventTime(e.at, zone)}</time>
        <strong className="activity-kind">{kindLabel(e.kind)}</strong>
        <span className={`badge class-${e.class.toLowerCase()}`}>{e.class.toLowerCase()}</span>
      </div>
      <p className="activity-body">
        {who && e.customerId ? (
          <Link to={`/customers/${e.customerId}`} data-customer={e.customerId}>
            {who}
          </Link>
        ) : (
          <span className="muted">{e.customerId ? "Erased customer" : "No customer"}</span>
        )}
        {e.detail ? <span> · {e.detail}</span> : null}
        {e.integration && e.integration.name !== e.detail ? <span className="muted"> · {e.integration.name}</span> : null}
        {e.amount ? <span> · {formatMoney(e.amount)}</span> : null}
        {e.device?.platform ? <span className="muted small"> · {e.device.platform}</span> : null}
        {e.orderId ? (
          <>
            {" · "}
            <Link to={`/orders/${e.orderId}`} data-order={e.orderId}>
              Order<span className="visually-hidden"> of this {kindLabel(e.kind)} event</span>
            </Link>
          </>
        ) : null}
      </p>
    </li>
  );
}

export default function Activity() {
  const { organisation, me } = useSession();
  const [params, setParams] = useSearchParams();
  const filter = useMemo(() => filterFromParams(params), [params]);
  const key = filterKey(filter);
  const input = useMemo(() => filterInput(filter), [filter]);
  const [{ data, error, fetching, operation }, refetch] = useQuery({ query: ActivityPage, variables: { filter: input, first: PAGE } });
  const client = useClient();
  const [shown, setShown] = useState<Shown | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreProblem, setMoreProblem] = useState<string | null>(null);
  // After Load more, keyboard focus goes to the first entry it brought (the button may be gone: the oldest reached).
  const [focusId, setFocusId] = useState<string | null>(null);
  const list = useRef<HTMLOListElement>(null);
  useEffect(() => {
    if (!focusId) return;
    const items = list.current ? [...list.current.querySelectorAll<HTMLElement>("li[data-event]")] : [];
    items.find((li) => li.dataset.event === focusId)?.focus();
    setFocusId(null);
  }, [focusId]);
  // Provider users see orders only: the live feed (like the list) is the partner's.
  const [live] = useSubscription({ query: ActivityLive, variables: { filter: input }, pause: me.role === "PROVIDER" });
  const dataKey = answeredKey(operation?.variables);
  const liveKey = answeredKey(live.operation?.variables);

  // The first page (again after a refresh) joins what is shown for this filter as a live push does (a gap starts
  // the feed again from it); another filter starts afresh.
  useEffect(() => {
    if (!data || dataKey !== key) return;
    const page = data.activity.edges;
    setShown((prev) =>
      prev && prev.key === key
        ? { ...prev, ...mergeLive(prev, page, data.activity.pageInfo.hasNextPage) }
        : { key, entries: [...page], hasNext: data.activity.pageInfo.hasNextPage, arrived: 0 },
    );
  }, [data, dataKey, key]);

  // A live push: new entries join the top (or, after a gap, the feed starts again from the pushed page).
  useEffect(() => {
    const page = live.data?.activity;
    if (!page || liveKey !== key) return;
    setShown((prev) => {
      if (!prev || prev.key !== key) return prev;
      const before = new Set(prev.entries.map((e) => e.node.id));
      const next = mergeLive(prev, page.edges, page.pageInfo.hasNextPage);
      const fresh = next.entries.filter((e) => !before.has(e.node.id)).length;
      return { ...next, key, arrived: prev.arrived + fresh };
    });
  }, [live.data, liveKey, key]);

  useEffect(() => setMoreProblem(null), [key]);

  const feed = shown && shown.key === key ? shown : null;
  const cursor = feed ? nextCursor(feed) : null;
  const arrived = feed?.arrived ?? 0;
  const loadMore = async () => {
    if (!feed || !cursor) return;
    setLoadingMore(true);
    setMoreProblem(null);
    const result = await client.query(ActivityMore, { filter: input, first: PAGE, after: cursor }, { requestPolicy: "network-only" }).toPromise();
    setLoadingMore(false);
    const page = result.data?.activity;
    if (!page) {
      setMoreProblem("The next events could not be loaded; try again.");
      return;
    }
    setShown((prev) =>
      prev && prev.key === key ? { ...prev, entries: union(prev.entries, page.edges), hasNext: page.pageInfo.hasNextPage } : prev,
    );
    setFocusId(page.edges[0]?.node.id ?? null);
  };
  const setFilter = (klass: TimelineClass | null, types: string[]) => setParams(paramsWith(params, { klass, types }));
  const classOf = new Map((data?.eventTypes ?? []).map((t) => [t.name, t.class.toUpperCase()]));
  const types = (data?.eventTypes ?? []).filter((t) => !filter.klass || t.class.toUpperCase() === filter.klass);
  const zone = organisation.timeZone;
  const reload = () => refetch({ requestPolicy: "network-only" });
  const liveState = me.role === "PROVIDER" ? "off" : live.data ? "on" : live.error ? "off" : "connecting";

  return (
    <section aria-labelledby="activity-title">
      <p>
        <Link to="/customers">← Customers</Link>
      </p>
      <div className="page-head">
        <h1 id="activity-title">Activity feed</h1>
        <div className="actions">
          <button type="button" className="button" onClick={reload} disabled={fetching}>
            Refresh
          </button>
        </div>
      </div>
      <p className="muted small">
        Every customer&apos;s events, newest first. Order changes are on each customer&apos;s timeline.
      </p>
      <div className="filters">
        <div className="tabs" role="group" aria-label="Event class">
          <button type="button" className={filter.klass === null ? "tab active" : "tab"} aria-pressed={filter.klass === null} onClick={() => setFilter(null, filter.types)}>
            Everything
          </button>
          {FEED_CLASSES.map((c) => (
            <button
              key={c.value}
              type="button"
              className={filter.klass === c.value ? "tab active" : "tab"}
              aria-pressed={filter.klass === c.value}
              onClick={() => setFilter(c.value, filter.types.filter((t) => classOf.get(t) === undefined || classOf.get(t) === c.value))}
            >
              {c.label}
            </button>
          ))}
        </div>
        <span className="filter">
          <label htmlFor="activity-type">Event type</label>{" "}
          <select id="activity-type" value={filter.types.length === 1 ? filter.types[0] : ""} onChange={(e) => setFilter(filter.klass, e.target.value ? [e.target.value] : [])}>
            <option value="">{filter.types.length > 1 ? `${filter.types.length} types` : "All types"}</option>
            {types.map((t) => (
              <option key={t.name} value={t.name}>
                {kindLabel(t.name)}
              </option>
            ))}
          </select>
        </span>
      </div>
      <p className="muted small">
        {zoneNote(zone)} ·{" "}
        <span className="live" data-live={liveState} aria-live="polite">
          {me.role === "PROVIDER"
            ? "Refresh for new events"
            : live.data
              ? `Live${arrived > 0 ? `: ${formatNumber(arrived)} new ${arrived === 1 ? "event" : "events"} arrived` : ""}`
              : live.error
                ? "Live updates paused: use Refresh"
                : "Connecting live updates…"}
        </span>
      </p>
      {error && !feed ? <ErrorState error={error} what="activity feed" retry={reload} /> : null}
      {error && feed ? (
        <p className="field-error" role="alert">
          The newest events could not be read ({errorCode(error)}): the entries below may be behind.{" "}
          <button type="button" className="link-button" onClick={reload}>
            Try again
          </button>
        </p>
      ) : null}
      {!feed && !error ? <Loading what="the activity feed" /> : null}
      {feed && feed.entries.length === 0 ? (
        <Empty>
          <p>{filterInput(filter) ? "No event of this kind yet." : "No event yet."}</p>
          <p className="muted">
            {filterInput(filter)
              ? "Choose Everything or All types to see every event."
              : "Events appear here as customers visit your integrations; they are sent to POST /v1/events with an integration's API key."}
          </p>
        </Empty>
      ) : null}
      {feed && feed.entries.length > 0 ? (
        <>
          <p className="muted small" data-testid="activity-shown" data-count={feed.entries.length}>
            {formatNumber(feed.entries.length)} {feed.entries.length === 1 ? "event" : "events"} shown
            {feed.hasNext ? ", older ones below" : ", the oldest included"}
          </p>
          <ol ref={list} className="activity-feed" aria-label="Events, newest first" aria-busy={fetching || loadingMore}>
            {feed.entries.map((e) => (
              <ActivityItem key={e.node.id} entry={e} zone={zone} />
            ))}
          </ol>
          {moreProblem ? (
            <p className="field-error" role="alert">
              {moreProblem}
            </p>
          ) : null}
          <nav className="pager" aria-label="More events">
            {cursor ? (
              <button type="button" className="button" disabled={loadingMore} onClick={() => void loadMore()}>
                {loadingMore ? "Loading older events…" : "Load more"}
              </button>
            ) : (
              <span className="muted small">No older events.</span>
            )}
          </nav>
        </>
      ) : null}
    </section>
  );
}
