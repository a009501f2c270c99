// Analytics (seed 000, the landing tab): category search, date range, the customers-and-orders line graph
// with each metric's explanation from the API, Download CSV, View Orders, the user funnel. Every number is a
// way in: a point of the graph, a cell of the data table or a funnel bucket opens the customers or orders
// behind it (AnalyticsDrilldown), whose count equals the number clicked.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { useMutation, useQuery, useSubscription } from "urql";
import { graphql } from "../../gql";
import type { AnalyticsMetric, AnalyticsPageQuery } from "../../gql/graphql";
import { echarts } from "../charts";
import { CategoryFilter } from "../CategoryFilter";
import { useThrottledOnChange } from "../live";
import { download } from "../exporting";
import { formatBucket, formatDateTime, formatDay, formatMoneyList, formatNumber, formatPercent, zoneNote } from "../format";
import { RangePicker } from "../RangePicker";
import { rangeInput, useRange } from "../range";
import { useSession } from "../session";
import { Empty, ErrorState, Loading } from "../states";

const AnalyticsPage = graphql(`
  query AnalyticsPage($filter: AnalyticsFilterInput!) {
    categories {
      id
      name
    }
    metricDefinitions {
      key
      label
      description
      drillDown
    }
    analytics(filter: $filter) {
      from
      to
      timeZone
      granularity
      points {
        start
        day
        newCustomers
        returningCustomers
        visits
        ordersCreated
        successfulOrders
        commissionPending {
          amount
          currency
        }
        commissionPaid {
          amount
          currency
        }
      }
    }
    funnel(filter: $filter) {
      steps {
        step
        key
        name
        customers
        conversionFromPrevious
        conversionFromFirst
      }
    }
  }
`);

const AnalyticsLive = graphql(`
  subscription AnalyticsLive {
    analyticsUpdated {
      at
      initial
      kinds
    }
  }
`);

const ExportAnalytics = graphql(`
  mutation ExportAnalytics($filter: AnalyticsFilterInput!) {
    requestExport(kind: ANALYTICS_ORDERS, format: CSV, analyticsFilter: $filter) {
      url
      errors {
        field
        message
      }
    }
  }
`);

type Point = AnalyticsPageQuery["analytics"]["points"][number];
type CountKey = "newCustomers" | "returningCustomers" | "visits" | "ordersCreated" | "successfulOrders";

export const SERIES: { key: CountKey; metric: AnalyticsMetric; colour: string }[] = [
  { key: "newCustomers", metric: "NEW_CUSTOMERS", colour: "#2f6fde" },
  { key: "returningCustomers", metric: "RETURNING_CUSTOMERS", colour: "#8a4fd3" },
  { key: "ordersCreated", metric: "ORDERS_CREATED", colour: "#d9822b" },
  { key: "successfulOrders", metric: "SUCCESSFUL_ORDERS", colour: "#1d8a5b" },
];

function sumMoney(points: readonly Point[], key: "commissionPending" | "commissionPaid") {
  const totals = new Map<string, number>();
  for (const p of points) for (const m of p[key]) totals.set(m.currency, (totals.get(m.currency) ?? 0) + Number(m.amount));
  return [...totals].map(([currency, amount]) => ({ currency, amount: amount.toFixed(2) }));
}

function Explain({ id, text }: { id: string; text: string }) {
  return (
    <span className="explain">
      <button type="button" className="explain-button" aria-describedby={id} aria-label="What this means">
        ?
      </button>
      <span role="tooltip" id={id} className="explain-text">
        {text}
      </span>
    </span>
  );
}

function LineGraph({
  points,
  hourly,
  timeZone,
  labels,
  onPick,
}: {
  points: readonly Point[];
  hourly: boolean;
  timeZone: string;
  labels: Map<string, { label: string; description: string }>;
  onPick: (metric: AnalyticsMetric, point: Point) => void;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    const chart = echarts.init(ref.current, undefined, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      grid: { left: 48, right: 16, top: 40, bottom: 32 },
      legend: { top: 0 },
      tooltip: {
        trigger: "axis",
        renderMode: "richText",
        // Each metric with its value and the API's one-line explanation of it.
        formatter: (items: { seriesName: string; value: number; axisValueLabel: string }[]) => {
          const head = items[0]?.axisValueLabel ?? "";
          return [
            head,
            ...items.map((i) => {
              const def = [...labels.values()].find((d) => d.label === i.seriesName);
              return `${i.seriesName}: ${formatNumber(i.value)}${def ? ` (${def.description})` : ""}`;
            }),
          ].join("\n");
        },
      },
      xAxis: { type: "category", data: points.map((p) => formatBucket(p.start, hourly, timeZone)) },
      yAxis: { type: "value", minInterval: 1 },
      series: SERIES.map((s) => ({
        name: labels.get(s.metric)?.label ?? s.metric,
        type: "line",
        showSymbol: points.length <= 45,
        itemStyle: { color: s.colour },
        data: points.map((p) => p[s.key]),
      })),
    });
    chart.on("click", (event) => {
      const series = SERIES[event.seriesIndex ?? -1];
      const point = points[event.dataIndex];
      if (series && point) onPick(series.metric, point);
    });
    const resize = new ResizeObserver(() => chart.resize());
    resize.observe(ref.current);
    return () => {
      resize.disconnect();
      chart.dispose();
    };
  }, [points, hourly, timeZone, labels, onPick]);
  return <div ref={ref} className="chart" role="img" aria-label="Customers and orders over the range (the table below has the same figures)" />;
}

/** The funnel drawn; clicking a step with customers opens them, as its number in the list beside does. */
function FunnelGraph({ steps, onPick }: { steps: AnalyticsPageQuery["funnel"]["steps"]; onPick: (step: number) => void }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    const chart = echarts.init(ref.current, undefined, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      tooltip: {
        trigger: "item",
        renderMode: "richText",
        formatter: (item: { name: string; value: number; dataIndex: number }) => {
          const step = steps[item.dataIndex];
          return `${item.name}: ${formatNumber(item.value)} customers\nfrom the previous step ${formatPercent(step?.conversionFromPrevious)}`;
        },
      },
      series: [
        {
          type: "funnel",
          sort: "none",
          left: "5%",
          width: "90%",
          label: { position: "inside" },
          data: steps.map((s) => ({ name: s.name, value: s.customers })),
        },
      ],
    });
    chart.on("click", (event) => {
      const step = steps[event.dataIndex];
      if (step && step.customers > 0) onPick(step.step);
    });
    const resize = new ResizeObserver(() => chart.resize());
    resize.observe(ref.current);
    return () => {
      resize.disconnect();
      chart.dispose();
    };
  }, [steps, onPick]);
  return <div ref={ref} className="chart funnel" role="img" aria-label="The user funnel (the list beside it has the same figures)" />;
}

export default function Analytics() {
  const { organisation } = useSession();
  const [range, setRange] = useRange();
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const category = params.get("category");
  const filter = useMemo(
    () => ({ range: rangeInput(range), ...(category ? { categoryIds: [category] } : {}) }),
    [range, category],
  );
  const [{ data, error, fetching }, refetch] = useQuery({ query: AnalyticsPage, variables: { filter } });
  const [exporting, runExport] = useMutation(ExportAnalytics);
  // Live: each push after the first (events or orders landed) re-reads the figures of this filter.
  const [live] = useSubscription({ query: AnalyticsLive });
  const pushedAt = live.data?.analyticsUpdated.initial === false ? live.data.analyticsUpdated.at : null;
  useThrottledOnChange(pushedAt, () => refetch({ requestPolicy: "network-only" }));
  const [exportProblem, setExportProblem] = useState<string | null>(null);

  const labels = useMemo(
    () => new Map((data?.metricDefinitions ?? []).map((d) => [d.key, { label: d.label, description: d.description }])),
    [data?.metricDefinitions],
  );
  const points = data?.analytics.points ?? [];
  const hourly = data?.analytics.granularity === "HOUR";
  const timeZone = data?.analytics.timeZone ?? organisation.timeZone;
  const filterQuery = params.toString();
  const drill = useMemo(
    () => (metric: AnalyticsMetric, point: Point) => {
      const q = new URLSearchParams(filterQuery);
      q.set("metric", metric);
      q.set("bucket", point.start);
      navigate(`/analytics/drilldown?${q.toString()}`);
    },
    [filterQuery, navigate],
  );
  const funnelLink = useCallback(
    (step: number) => {
      const q = new URLSearchParams(filterQuery);
      q.set("step", String(step));
      return `/analytics/drilldown?${q.toString()}`;
    },
    [filterQuery],
  );
  const pickStep = useCallback((step: number) => navigate(funnelLink(step)), [funnelLink, navigate]);

  const setCategory = (id: string | null) => {
    const next = new URLSearchParams(params);
    if (id) next.set("category", id);
    else next.delete("category");
    setParams(next);
  };
  const exportCsv = async () => {
    setExportProblem(null);
    const result = await runExport({ filter });
    const answer = result.data?.requestExport;
    if (answer?.url) download(answer.url);
    else setExportProblem(answer?.errors[0]?.message ?? "The export could not be made; try again.");
  };
  const ordersLink = `/orders?${new URLSearchParams([...params].filter(([k]) => ["preset", "from", "to", "category"].includes(k))).toString()}`;

  return (
    <section aria-labelledby="analytics-title">
      <div className="page-head">
        <h1 id="analytics-title">Analytics</h1>
        <div className="actions">
          <button type="button" className="button primary" onClick={() => void exportCsv()} disabled={exporting.fetching}>
            {exporting.fetching ? "Preparing CSV…" : "Download CSV"}
          </button>
          <Link className="button" to={ordersLink}>
            View Orders
          </Link>
        </div>
      </div>
      {exportProblem ? (
        <p role="alert" className="field-error">
          {exportProblem}
        </p>
      ) : null}
      <div className="filters">
        <CategoryFilter key={category ?? ""} categories={data?.categories ?? []} value={category} onChange={setCategory} />
        <RangePicker value={range} onChange={setRange} />
      </div>
      {data ? (
        <p className="muted small">
          {formatDay(data.analytics.from)} – {formatDay(data.analytics.to)} · {zoneNote(timeZone)} ·{" "}
          <span className="live" data-live={live.data ? "on" : live.error ? "off" : "connecting"}>
            {live.data
              ? `Live${pushedAt ? `, updated ${formatDateTime(pushedAt, timeZone)}` : ""}`
              : live.error
                ? "Live updates paused: reload to resume"
                : "Connecting live updates…"}
          </span>
        </p>
      ) : null}
      {error && !data ? <ErrorState error={error} what="analytics" retry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && !error ? <Loading what="analytics" /> : null}
      {data ? (
        <>
          <ul className="tiles" aria-label="Totals of the range" aria-busy={fetching}>
            {SERIES.map((s) => {
              const def = labels.get(s.metric);
              const total = points.reduce((n, p) => n + p[s.key], 0);
              return (
                <li key={s.metric} className="tile">
                  <span className="tile-label">
                    {def?.label ?? s.metric} {def ? <Explain id={`explain-${s.metric}`} text={def.description} /> : null}
                  </span>
                  <span className="tile-value" data-metric={s.metric}>
                    {formatNumber(total)}
                  </span>
                </li>
              );
            })}
            {(["COMMISSION_PENDING", "COMMISSION_PAID"] as const).map((metric) => {
              const def = labels.get(metric);
              const key = metric === "COMMISSION_PENDING" ? "commissionPending" : "commissionPaid";
              return (
                <li key={metric} className="tile">
                  <span className="tile-label">
                    {def?.label ?? metric} {def ? <Explain id={`explain-${metric}`} text={def.description} /> : null}
                  </span>
                  <span className="tile-value money" data-metric={metric}>
                    {formatMoneyList(sumMoney(points, key))}
                  </span>
                </li>
              );
            })}
          </ul>
          <h2>Customers and orders</h2>
          {points.every((p) => SERIES.every((s) => p[s.key] === 0)) ? (
            <Empty>
              <p>No customers or orders in this range.</p>
              <p className="muted">Choose a longer range, or another category.</p>
            </Empty>
          ) : (
            <LineGraph points={points} hourly={hourly} timeZone={timeZone} labels={labels} onPick={drill} />
          )}
          <details className="data-table">
            <summary>The figures as a table (each number opens what it counts)</summary>
            <div className="table-scroll" tabIndex={0} role="region" aria-label="Table (scrolls sideways on narrow screens)">
              <table>
                <thead>
                  <tr>
                    <th scope="col">{hourly ? "Hour" : "Day"}</th>
                    {SERIES.map((s) => (
                      <th scope="col" key={s.metric} className="num">
                        {labels.get(s.metric)?.label ?? s.metric}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {points.map((p) => (
                    <tr key={p.start}>
                      <th scope="row">{hourly ? formatBucket(p.start, true, timeZone) : formatDay(p.day)}</th>
                      {SERIES.map((s) => (
                        <td key={s.metric} className="num">
                          {p[s.key] > 0 ? (
                            <button type="button" className="link-button" data-drill={`${s.metric}:${p.start}`} onClick={() => drill(s.metric, p)}>
                              {formatNumber(p[s.key])}
                            </button>
                          ) : (
                            "0"
                          )}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </details>
          <h2>User funnel</h2>
          {data.funnel.steps.every((s) => s.customers === 0) ? (
            <Empty>
              <p>Nobody entered the funnel in this range.</p>
            </Empty>
          ) : (
            <div className="funnel-row">
              <FunnelGraph steps={data.funnel.steps} onPick={pickStep} />
              <ol className="funnel-steps">
                {data.funnel.steps.map((s) => {
                  const def = labels.get(s.key);
                  return (
                    <li key={s.step}>
                      <span>
                        {s.name} {def ? <Explain id={`explain-step-${s.step}`} text={def.description} /> : null}
                      </span>
                      {s.customers > 0 ? (
                        <Link to={funnelLink(s.step)} data-step={s.step}>
                          {formatNumber(s.customers)}
                        </Link>
                      ) : (
                        <span>0</span>
                      )}
                      <span className="muted small">{s.step > 1 ? formatPercent(s.conversionFromPrevious) : ""}</span>
                    </li>
                  );
                })}
              </ol>
            </div>
          )}
        </>
      ) : null}
    </section>
  );
}
