// The insights builder's state as the URL keeps it (?type=&measure=&by=&filter=&preset=|from=&to=&interval=&chart=),
// the API's InsightInput it becomes, a saved insight's input back into the URL, and the answer as chart data.
// Pure functions, tested without a browser.
import type { DatePreset, InsightChartType, InsightInput, InsightInterval, InsightMeasure, InsightOperator } from "../gql/graphql";

export const MEASURES: { value: InsightMeasure; label: string; amount: boolean }[] = [
  { value: "COUNT", label: "Count of events", amount: false },
  { value: "UNIQUE_CUSTOMERS", label: "Unique customers", amount: false },
  { value: "TOTAL_AMOUNT", label: "Total amount", amount: true },
  { value: "AVERAGE_AMOUNT", label: "Average amount", amount: true },
];
export const INTERVALS: { value: InsightInterval; label: string }[] = [
  { value: "HOUR", label: "Hour" },
  { value: "DAY", label: "Day" },
  { value: "WEEK", label: "Week" },
  { value: "MONTH", label: "Month" },
];
export const CHARTS: { value: InsightChartType; label: string }[] = [
  { value: "BAR", label: "Bar" },
  { value: "STACKED_BAR", label: "Stacked Bar" },
  { value: "LINE", label: "Line" },
  { value: "PIE", label: "Pie" },
  { value: "LIST", label: "List" },
  { value: "TABLE", label: "Table" },
];
/** The builder's range tabs (seed 002): Today, 1 Week, 1 Month, 3 Months, or a custom range. */
export const RANGE_TABS: { value: DatePreset; label: string }[] = [
  { value: "TODAY", label: "Today" },
  { value: "LAST_7_DAYS", label: "1 Week" },
  { value: "LAST_30_DAYS", label: "1 Month" },
  { value: "LAST_90_DAYS", label: "3 Months" },
];
export const OPERATORS: { value: InsightOperator; label: string }[] = [
  { value: "EQUALS", label: "equals" },
  { value: "NOT_EQUALS", label: "does not equal" },
  { value: "IN", label: "is one of" },
  { value: "CONTAINS", label: "contains" },
  { value: "GREATER_THAN", label: "greater than" },
  { value: "LESS_THAN", label: "less than" },
  { value: "IS_SET", label: "is set" },
];
export const MAX_BREAKDOWNS = 3;

export type BuilderFilter = { field: string; operator: InsightOperator; values: string[] };
export type Builder = {
  eventType: string;
  measure: InsightMeasure;
  breakdowns: string[];
  filters: BuilderFilter[];
  range: { preset: DatePreset } | { from: string; to: string };
  interval: InsightInterval;
  chartType: InsightChartType;
};

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const PRESETS: DatePreset[] = ["TODAY", "YESTERDAY", "LAST_7_DAYS", "LAST_30_DAYS", "LAST_90_DAYS", "THIS_MONTH", "LAST_MONTH"];

function pick<T extends string>(value: string | null, allowed: readonly { value: T }[], fallback: T): T {
  return allowed.find((a) => a.value === value)?.value ?? fallback;
}

/** A filter in the URL: `field~OPERATOR~v1|v2` (a field or value may hold commas, never `~` or `|`). */
export function encodeFilter(f: BuilderFilter): string {
  return [f.field, f.operator, f.values.join("|")].join("~");
}

export function decodeFilter(text: string): BuilderFilter | null {
  const [field, operator, values] = text.split("~");
  if (!field || !OPERATORS.some((o) => o.value === operator)) return null;
  return { field, operator: operator as InsightOperator, values: values ? values.split("|").filter((v) => v !== "") : [] };
}

/** The builder a query string names; anything unknown falls back to the default (a count by day, one month). */
export function parseBuilder(params: URLSearchParams, defaultType = ""): Builder {
  const from = params.get("from");
  const to = params.get("to");
  const preset = params.get("preset") as DatePreset | null;
  return {
    eventType: params.get("type") ?? defaultType,
    measure: pick(params.get("measure"), MEASURES, "COUNT"),
    breakdowns: params.getAll("by").filter(Boolean).slice(0, MAX_BREAKDOWNS),
    filters: params
      .getAll("filter")
      .map(decodeFilter)
      .filter((f): f is BuilderFilter => f !== null),
    range:
      from && to && DAY.test(from) && DAY.test(to) && from <= to
        ? { from, to }
        : { preset: preset && PRESETS.includes(preset) ? preset : "LAST_30_DAYS" },
    interval: pick(params.get("interval"), INTERVALS, "DAY"),
    chartType: pick(params.get("chart"), CHARTS, "BAR"),
  };
}

/** The query string of a builder (the saved insight being looked at, `saved`, kept if given). */
export function builderParams(b: Builder, saved?: string | null): URLSearchParams {
  const p = new URLSearchParams();
  if (saved) p.set("saved", saved);
  if (b.eventType) p.set("type", b.eventType);
  p.set("measure", b.measure);
  for (const by of b.breakdowns) p.append("by", by);
  for (const f of b.filters) p.append("filter", encodeFilter(f));
  if ("preset" in b.range) p.set("preset", b.range.preset);
  else {
    p.set("from", b.range.from);
    p.set("to", b.range.to);
  }
  p.set("interval", b.interval);
  p.set("chart", b.chartType);
  return p;
}

export function insightInput(b: Builder): InsightInput {
  return {
    eventType: b.eventType,
    measure: b.measure,
    breakdowns: b.breakdowns,
    filters: b.filters.map((f) => ({ field: f.field, operator: f.operator, values: f.values })),
    range: "preset" in b.range ? { preset: b.range.preset } : { from: b.range.from, to: b.range.to },
    interval: b.interval,
    chartType: b.chartType,
  };
}

type SavedInput = {
  eventType?: string;
  measure?: string;
  breakdowns?: string[];
  filters?: { field: string; operator: string; values?: string[] }[];
  range?: { preset?: string | null; from?: string | null; to?: string | null };
  interval?: string;
  chartType?: string;
};

/** A saved insight's input (InsightInput's JSON, as the API stores it) as the builder. */
export function builderOfSaved(input: unknown): Builder {
  const s = (input && typeof input === "object" ? input : {}) as SavedInput;
  const p = new URLSearchParams();
  if (s.eventType) p.set("type", s.eventType);
  if (s.measure) p.set("measure", s.measure);
  for (const by of s.breakdowns ?? []) p.append("by", by);
  for (const f of s.filters ?? []) p.append("filter", encodeFilter({ field: f.field, operator: f.operator as InsightOperator, values: f.values ?? [] }));
  if (s.range?.preset) p.set("preset", s.range.preset);
  if (s.range?.from) p.set("from", s.range.from);
  if (s.range?.to) p.set("to", s.range.to);
  if (s.interval) p.set("interval", s.interval);
  if (s.chartType) p.set("chart", s.chartType);
  return parseBuilder(p);
}

/** A point or total from the API (a count, a decimal string, or null) as a number; null stays null. */
export function pointValue(value: unknown): number | null {
  if (value === null || value === undefined || value === "") return null;
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? n : null;
}

/** A series' name: its breakdown values (a missing one "(not set)"), its currency when amounts are not converted. */
export function seriesName(values: readonly (string | null)[], currency: string | null | undefined, fallback: string): string {
  const base = values.length > 0 ? values.map((v) => v ?? "(not set)").join(" · ") : fallback;
  return currency ? `${base} (${currency})` : base;
}

type Answer = {
  buckets: readonly { label: string }[];
  series: readonly { values: readonly (string | null)[]; currency?: string | null; points: readonly unknown[]; total: unknown }[];
};

/** The ECharts option of an answer drawn as `chart` (BAR, STACKED_BAR, LINE or PIE; LIST and TABLE are not charts). */
export function chartOption(answer: Answer, chart: InsightChartType, measureLabel: string): Record<string, unknown> {
  const names = answer.series.map((s) => seriesName(s.values, s.currency, measureLabel));
  const base = { animation: false, tooltip: { trigger: chart === "PIE" ? "item" : "axis", renderMode: "richText" }, legend: { type: "scroll", top: 0 } };
  if (chart === "PIE") {
    return {
      ...base,
      series: [
        {
          type: "pie",
          radius: ["30%", "65%"],
          top: 32,
          data: answer.series.map((s, i) => ({ name: names[i], value: pointValue(s.total) ?? 0 })),
        },
      ],
    };
  }
  return {
    ...base,
    grid: { left: 56, right: 16, top: 40, bottom: 32 },
    xAxis: { type: "category", data: answer.buckets.map((b) => b.label) },
    yAxis: { type: "value" },
    series: answer.series.map((s, i) => ({
      name: names[i],
      type: chart === "LINE" ? "line" : "bar",
      ...(chart === "STACKED_BAR" ? { stack: "total" } : {}),
      data: s.points.map(pointValue),
    })),
  };
}

/** One cell of an answer, as a click picks it: the bucket (its start; null for a pie slice or a series' total,
 * which span every bucket), the series' breakdown values and currency, and the value drawn there. */
export type Cell = { bucket: string | null; values: (string | null)[]; currency: string | null; value: number | null };

type PickAnswer = {
  buckets: readonly { start: string }[];
  series: readonly { values: readonly (string | null)[]; currency?: string | null; points: readonly unknown[]; total: unknown }[];
};

/** The cell behind a click on the chart: ECharts' series and data index (a pie has one series, a slice per
 * answer series); null when out of range. */
export function pickCell(answer: PickAnswer, chart: InsightChartType, seriesIndex: number, dataIndex: number): Cell | null {
  if (chart === "PIE") {
    const s = answer.series[dataIndex];
    if (!s) return null;
    const only = answer.buckets.length === 1 ? answer.buckets[0] : undefined;
    return { bucket: only ? only.start : null, values: [...s.values], currency: s.currency ?? null, value: pointValue(s.total) };
  }
  const s = answer.series[seriesIndex];
  const b = answer.buckets[dataIndex];
  if (!s || !b) return null;
  return { bucket: b.start, values: [...s.values], currency: s.currency ?? null, value: pointValue(s.points[dataIndex]) };
}

/** The query string of the events behind a cell (/insights/events): the builder's question, the bucket's start,
 * the series' values (JSON: a value may be null, "not set") and currency. */
export function drillParams(b: Builder, cell: Pick<Cell, "bucket" | "values" | "currency">, saved?: string | null): URLSearchParams {
  const p = builderParams(b, saved);
  if (cell.bucket) p.set("bucket", cell.bucket);
  p.set("values", JSON.stringify(cell.values));
  if (cell.currency) p.set("currency", cell.currency);
  return p;
}

export type Drill = { builder: Builder; bucket: string | null; values: (string | null)[]; currency: string | null; saved: string | null };

/** The events page's URL read back; values that are not a JSON list of strings and nulls become none. */
export function parseDrill(params: URLSearchParams, defaultType = ""): Drill {
  let values: (string | null)[] = [];
  try {
    const parsed: unknown = JSON.parse(params.get("values") ?? "[]");
    if (Array.isArray(parsed) && parsed.every((v) => v === null || typeof v === "string")) values = parsed as (string | null)[];
  } catch {
    values = [];
  }
  return {
    builder: parseBuilder(params, defaultType),
    bucket: params.get("bucket") || null,
    values,
    currency: params.get("currency") || null,
    saved: params.get("saved") || null,
  };
}

/** Whether a cell's values and currency name this series (the events page finds its row in the answer). */
export function sameSeries(s: { values: readonly (string | null)[]; currency?: string | null }, values: readonly (string | null)[], currency: string | null): boolean {
  return s.values.length === values.length && s.values.every((v, i) => v === values[i]) && (s.currency ?? null) === currency;
}

type TypeFields = {
  dimensions: readonly string[];
  business?: { lineItems: boolean; fields: readonly { name: string; filterable: boolean; breakdown: boolean }[] } | null;
};

/** What a type can be broken down by: its dimensions, its business fields (`fields.<name>`, numbers excepted) and,
 * with line items, `item.productId`; a value already chosen stays offered (a saved insight's, say). */
export function breakdownChoices(type: TypeFields | undefined, chosen: readonly string[] = []): string[] {
  const fields = (type?.business?.fields ?? []).filter((f) => f.breakdown).map((f) => `fields.${f.name}`);
  const items = type?.business?.lineItems ? ["item.productId"] : [];
  return [...new Set([...(type?.dimensions ?? []), ...fields, ...items, ...chosen.filter(Boolean)])];
}

/** The fields a type's filters suggest: its dimensions and its filterable business fields. */
export function filterChoices(type: TypeFields | undefined): string[] {
  const fields = (type?.business?.fields ?? []).filter((f) => f.filterable).map((f) => `fields.${f.name}`);
  const items = type?.business?.lineItems ? ["item.productId"] : [];
  return [...new Set([...(type?.dimensions ?? []), ...fields, ...items])];
}
