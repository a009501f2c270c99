// The events behind a figure of an insight (a bar, a point, a slice or a table cell): the question, the
// bucket's start and the series' values and currency in the URL (insights.ts drillParams), listed by
// `insightEvents`, newest first, 50 at a time. Its count is the API's `totalCount`, the cell's count; the
// figure clicked is shown beside it. A slice or a series' total spans every bucket: its periods are listed to
// choose one.
import { useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useQuery } from "urql";
import { graphql } from "../../gql";
import { errorCode } from "../api";
import { fieldLabel, formatDateTime, formatMoney, formatNumber, zoneNote } from "../format";
import { builderParams, insightInput, MEASURES, OPERATORS, parseDrill, pointValue, sameSeries, seriesName } from "../insights";
import { eventsLink, formatValue } from "../insightView";
import { useSession } from "../session";
import { Empty, ErrorState, Loading } from "../states";
import "./insights.css";

const CellAnswer = graphql(`
  query InsightCellAnswer($input: InsightInput!) {
    insight(input: $input) {
      ...InsightAnswerFields
    }
  }
`);

const EventsBehind = graphql(`
  query InsightEventsBehind($input: InsightInput!, $bucket: DateTime!, $values: [String], $currency: String, $after: String) {
    insightEvents(input: $input, bucket: $bucket, values: $values, currency: $currency, first: 50, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      events {
        id
        sourceKey
        type
        occurredAt
        customerId
        channel
        entityId
        state
        amount
        currency
      }
    }
  }
`);

type Vars = { input: ReturnType<typeof insightInput>; bucket: string; values: (string | null)[]; currency: string | null };

function EventsPage({ vars, after, first, last, more, timeZone }: { vars: Vars; after: string | null; first: boolean; last: boolean; more: (next: string) => void; timeZone: string }) {
  const [{ data, error }, refetch] = useQuery({ query: EventsBehind, variables: { ...vars, after } });
  const page = data?.insightEvents;
  if (error && !page && errorCode(error) === "INVALID_INPUT")
    // The figure is no longer one of the question's (a preset range moved on a day, say): say which part.
    return (
      <div className="state state-error" role="alert">
        <p>
          <strong>This figure is no longer in the insight.</strong>{" "}
          {error.graphQLErrors
            .map((g) => `${typeof g.extensions?.field === "string" ? `${fieldLabel(g.extensions.field)}: ` : ""}${g.message}`)
            .join(" ")}
        </p>
        <p className="muted">Go back to the insight and click the figure again.</p>
      </div>
    );
  if (error && !page) return <ErrorState error={error} what="events" retry={() => refetch({ requestPolicy: "network-only" })} />;
  if (!page) return <Loading what="the events" />;
  if (first && page.totalCount === 0)
    return (
      <Empty>
        <p>No event behind this figure (any there were may have been older than the 90 days of raw events kept).</p>
        <p className="muted">Go back to the insight and pick another figure.</p>
      </Empty>
    );
  const next = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
  return (
    <>
      {first ? (
        <p className="count" data-total={page.totalCount}>
          <strong data-testid="events-total">{formatNumber(page.totalCount)}</strong> {page.totalCount === 1 ? "event" : "events"} in all
        </p>
      ) : null}
      <div className="table-scroll" tabIndex={0} role="region" aria-label={first ? "The events (scrolls sideways on narrow screens)" : "More events"}>
        <table className="data-table insight-events">
          {first ? (
            <thead>
              <tr>
                <th scope="col">Occurred</th>
                <th scope="col">Event id</th>
                <th scope="col">Customer</th>
                <th scope="col">State</th>
                <th scope="col">Channel</th>
                <th scope="col">Entity</th>
                <th scope="col" className="num">
                  Amount
                </th>
              </tr>
            </thead>
          ) : null}
          <tbody>
            {page.events.map((e) => (
              <tr key={e.id} data-event={e.sourceKey}>
                <td>{formatDateTime(e.occurredAt, timeZone)}</td>
                <td className="wrap">{e.sourceKey}</td>
                <td>{e.customerId ? <Link to={`/customers/${e.customerId}`}>
                      Customer {e.customerId.slice(0, 8)}
                    </Link> : <span className="muted">anonymous</span>}</td>
                <td>{e.state ?? "–"}</td>
                <td>{e.channel ?? "–"}</td>
                <td className="wrap">{e.entityId ?? "–"}</td>
                <td className="num">{e.amount !== null && e.amount !== undefined && e.currency ? formatMoney({ amount: e.amount, currency: e.currency }) : (e.amount ?? "–")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {last && next ? (
        <button type="button" className="button" onClick={() => more(next)}>
          Show 50 more
        </button>
      ) : null}
    </>
  );
}

function EventList({ vars, timeZone }: { vars: Vars; timeZone: string }) {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  return (
    <>
      {cursors.map((after, i) => (
        <EventsPage
          key={after ?? "first"}
          vars={vars}
          after={after}
          first={i === 0}
          last={i === cursors.length - 1}
          more={(next) => setCursors([...cursors, next])}
          timeZone={timeZone}
        />
      ))}
    </>
  );
}

export default function InsightEvents() {
  const { organisation } = useSession();
  const [params] = useSearchParams();
  const drill = useMemo(() => parseDrill(params), [params]);
  const { builder, bucket, values, currency, saved } = drill;
  const input = useMemo(() => insightInput(builder), [builder]);
  const [{ data, error }, refetch] = useQuery({ query: CellAnswer, variables: { input }, pause: !builder.eventType });
  const answer = data?.insight;
  const timeZone = answer?.timeZone ?? organisation.timeZone;
  const label = MEASURES.find((m) => m.value === builder.measure)?.label ?? "Count";
  const series = answer?.series.find((s) => sameSeries(s, values, currency));
  const at = answer && bucket ? answer.buckets.findIndex((b) => b.start === bucket) : -1;
  const name = seriesName(values, currency, label);
  const backLink = `/insights?${builderParams(builder, saved).toString()}`;
  const vars = useMemo(() => ({ input, bucket: bucket ?? "", values, currency }), [input, bucket, values, currency]);

  if (!builder.eventType)
    return (
      <section aria-labelledby="events-title" className="insight-page">
        <h1 id="events-title">Events behind a figure</h1>
        <Empty>
          <p>No insight was named.</p>
          <p className="muted">
            <Link to="/insights">Open the builder</Link> and click a bar, a point, a slice or a figure of its table.
          </p>
        </Empty>
      </section>
    );
  return (
    <section aria-labelledby="events-title" className="insight-page">
      <div className="page-head">
        <h1 id="events-title">Events behind a figure</h1>
        <div className="actions">
          <Link className="button" to={backLink}>
            Back to the insight
          </Link>
        </div>
      </div>
      <dl className="facts insight-cell">
        <dt>Event type</dt>
        <dd>{builder.eventType}</dd>
        <dt>Series</dt>
        <dd>{name}</dd>
        {builder.filters.length > 0 ? (
          <>
            <dt>Filters</dt>
            <dd>
              {builder.filters.map((f) => `${f.field} ${OPERATORS.find((o) => o.value === f.operator)?.label ?? f.operator} ${f.values.join(", ")}`.trim()).join("; ")}
            </dd>
          </>
        ) : null}
        <dt>Period</dt>
        <dd>{bucket ? (answer && at >= 0 ? answer.buckets[at]?.label : formatDateTime(bucket, timeZone)) : "every period of the range (choose one below)"}</dd>
        <dt>{label}</dt>
        <dd data-testid="cell-value">{series ? formatValue(bucket ? (at >= 0 ? series.points[at] : null) : series.total) : answer ? "–" : "…"}</dd>
      </dl>
      <p className="muted small">
        {zoneNote(timeZone)}
        {builder.measure !== "COUNT" ? ` · ${label} is computed over the events listed here` : ""}
      </p>
      {error && !answer ? <ErrorState error={error} what="insight" retry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {bucket ? (
        <EventList key={JSON.stringify(vars)} vars={vars} timeZone={timeZone} />
      ) : !answer ? (
        error ? null : <Loading what="the periods of this series" />
      ) : !series ? (
        <Empty>
          <p>This series is not in the insight's answer any more.</p>
          <p className="muted">
            <Link to={backLink}>Go back to the insight</Link> and pick a figure again.
          </p>
        </Empty>
      ) : (
        <section aria-labelledby="periods-title">
          <h2 id="periods-title">Periods of this series</h2>
          <ul className="insight-periods">
            {answer.buckets.map((b, i) => {
              const v = pointValue(series.points[i]);
              if (!v) return null;
              return (
                <li key={b.start}>
                  <Link to={eventsLink(builder, { bucket: b.start, values, currency }, saved)}>{b.label}</Link>{" "}
                  <span className="muted small">{formatValue(series.points[i])}</span>
                </li>
              );
            })}
          </ul>
        </section>
      )}
    </section>
  );
}
