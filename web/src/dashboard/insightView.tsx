// An insight's answer drawn (ECharts: bar, stacked bar, line, pie) and listed (the table of series × buckets),
// shared by the builder (pages/Insights.tsx) and the dashboards' tiles (pages/InsightDashboards.tsx). Clicking a
// bar, a point or a slice, or following a figure of the table, opens the events behind it (/insights/events).
import { useEffect, useRef } from "react";
import { Link, useNavigate } from "react-router";
import { graphql } from "../gql";
import type { InsightAnswerFieldsFragment } from "../gql/graphql";
import { echarts } from "./chartsInsights";
import { formatMoney, formatNumber, zoneNote } from "./format";
import { chartOption, drillParams, pickCell, pointValue, seriesName, type Builder, type Cell } from "./insights";

export const InsightAnswerFields = graphql(`
  fragment InsightAnswerFields on InsightAnswer {
    from
    to
    timeZone
    currency
    source
    totalSeries
    buckets {
      start
      label
      partial
    }
    series {
      rank
      values
      currency
      points
      total
    }
    total {
      currency
      value
    }
    others {
      series
    }
  }
`);

export type Answer = InsightAnswerFieldsFragment;

export const DRAWN = ["BAR", "STACKED_BAR", "LINE", "PIE"];

export function formatValue(value: unknown): string {
  const n = pointValue(value);
  return n === null ? "–" : formatNumber(n);
}

/** The answer's overall total, per currency ("12", or amounts with their code: "GBP 25.00 · EUR 10.00"). */
export function formatTotal(answer: Pick<Answer, "total">): string {
  return (
    answer.total
      .map((t) => {
        const n = pointValue(t.value);
        return t.currency && n !== null ? formatMoney({ amount: n, currency: t.currency }) : formatValue(t.value);
      })
      .join(" · ") || "–"
  );
}

/** The URL of the events behind a cell of this question. */
export function eventsLink(builder: Builder, cell: Pick<Cell, "bucket" | "values" | "currency">, saved?: string | null): string {
  return `/insights/events?${drillParams(builder, cell, saved).toString()}`;
}

export function InsightChart({
  answer,
  builder,
  label,
  saved,
  compact = false,
}: {
  answer: Answer;
  builder: Builder;
  label: string;
  saved?: string | null;
  compact?: boolean;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const navigate = useNavigate();
  useEffect(() => {
    if (!ref.current) return;
    const chart = echarts.init(ref.current, undefined, { renderer: "canvas" });
    chart.setOption(chartOption(answer, builder.chartType, label));
    // A bar, a point or a slice: the events behind it.
    chart.on("click", (event) => {
      const cell = pickCell(answer, builder.chartType, event.seriesIndex ?? -1, event.dataIndex);
      if (cell && cell.value !== null && cell.value !== 0) void navigate(eventsLink(builder, cell, saved));
    });
    const resize = new ResizeObserver(() => chart.resize());
    resize.observe(ref.current);
    return () => {
      resize.disconnect();
      chart.dispose();
    };
  }, [answer, builder, label, saved, navigate]);
  return (
    <div
      ref={ref}
      className={compact ? "chart insight-chart compact" : "chart insight-chart"}
      data-chart={builder.chartType}
      role="img"
      aria-label={`${label} as a chart (the table has the same figures; each figure opens the events behind it)`}
    />
  );
}

function Figure({ value, to }: { value: unknown; to: string }) {
  const n = pointValue(value);
  if (n === null || n === 0) return <>{formatValue(value)}</>;
  return <Link to={to}>{formatValue(value)}</Link>;
}

export function InsightTable({
  answer,
  builder,
  label,
  saved,
  full,
  caption = true,
}: {
  answer: Answer;
  builder: Builder;
  label: string;
  saved?: string | null;
  full: boolean;
  caption?: boolean;
}) {
  return (
    <div className="table-scroll" tabIndex={0} role="region" aria-label={`${label}: the figures (scrolls sideways on narrow screens)`}>
      <table className="data-table insight-table">
        {caption ? (
          <caption className="muted small">
            {formatNumber(answer.totalSeries)} series · {answer.from} to {answer.to} · {zoneNote(answer.timeZone)} · each figure opens its events
          </caption>
        ) : null}
        <thead>
          <tr>
            <th scope="col">Series</th>
            {full
              ? answer.buckets.map((b) => (
                  <th scope="col" key={b.start} className="num">
                    {b.label}
                    {b.partial ? " *" : ""}
                  </th>
                ))
              : null}
            <th scope="col" className="num">
              Total
            </th>
          </tr>
        </thead>
        <tbody>
          {answer.series.map((s) => {
            const cell = { values: [...s.values], currency: s.currency ?? null };
            const only = answer.buckets.length === 1 ? (answer.buckets[0]?.start ?? null) : null;
            return (
              <tr key={s.rank}>
                <th scope="row">{seriesName(s.values, s.currency, label)}</th>
                {full
                  ? s.points.map((p, i) => (
                      <td key={answer.buckets[i]?.start ?? i} className="num" data-bucket={answer.buckets[i]?.start}>
                        <Figure value={p} to={eventsLink(builder, { ...cell, bucket: answer.buckets[i]?.start ?? null }, saved)} />
                      </td>
                    ))
                  : null}
                <td className="num" data-testid="series-total">
                  <Figure value={s.total} to={eventsLink(builder, { ...cell, bucket: only }, saved)} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
