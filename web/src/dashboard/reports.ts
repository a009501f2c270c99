// The Reports area's rules, kept apart from the pages so they are tested without a browser: moving a column
// (drag or keys), the grouping and the custom-field columns a report takes, the configuration carried from a
// report to a new schedule, and the schedule form (its draft, what the API is sent, the API's errors on fields).
import type { ReportAggregate, ReportRunFormat, ReportScheduleCadence } from "../gql/graphql";

/** `list` with the item at `from` moved to index `to` (both clamped); the same list when nothing moves. */
export function moveItem<T>(list: readonly T[], from: number, to: number): T[] {
  const next = [...list];
  if (from < 0 || from >= next.length) return next;
  const target = Math.max(0, Math.min(next.length - 1, to));
  if (target === from) return next;
  const [item] = next.splice(from, 1) as [T];
  next.splice(target, 0, item);
  return next;
}

/** What a screen reader hears after a move: "Amount moved to position 2 of 5." */
export function moveAnnouncement(label: string, to: number, count: number): string {
  return `${label} moved to position ${to + 1} of ${count}.`;
}

/** A comma-separated URL value as a list (blanks dropped); null when absent. */
export function listParam(value: string | null): string[] | null {
  if (value === null) return null;
  return value.split(",").filter(Boolean);
}

// Custom fields (seed 002): itemised reports take their entity's custom fields (`custom.<key>`) and their
// contact's (`contact.custom.<key>`); analytical ones none. The entity of each itemised report's rows:
const REPORT_ENTITIES: Record<string, string[]> = {
  contact_summary: ["customer"],
  orders_with_commission: ["order"],
  passes: ["pass"],
  open_service_requests: ["service_request"],
  subscriptions: ["subscription"],
  inventory_items: ["inventory_item"],
  leads: ["lead"],
};

export type ReportShape = {
  key: string;
  kind: "ITEMISED" | "ANALYTICAL";
  types: readonly string[];
  customFields: boolean;
  contactCustomFields: boolean;
};
export type FieldShape = { entity: string; key: string; name: string };

/** The entities whose custom fields are this report's `custom.<key>` columns (event reports: their types). */
export function reportEntities(report: ReportShape): string[] {
  if (report.kind !== "ITEMISED" || !report.customFields) return [];
  return REPORT_ENTITIES[report.key] ?? [...report.types];
}

export type CustomColumn = { key: string; label: string };

/** The custom-field columns a report offers: its entity's fields, then its contact's ("Contact: …"). */
export function customColumns(report: ReportShape, fields: readonly FieldShape[]): CustomColumn[] {
  if (report.kind !== "ITEMISED") return [];
  const entities = reportEntities(report);
  const seen = new Set<string>();
  const out: CustomColumn[] = [];
  for (const f of fields) {
    const key = `custom.${f.key}`;
    if (entities.includes(f.entity) && !seen.has(key)) {
      seen.add(key);
      out.push({ key, label: `Custom: ${f.name}` });
    }
  }
  if (report.contactCustomFields) {
    for (const f of fields) if (f.entity === "customer") out.push({ key: `contact.custom.${f.key}`, label: `Contact custom: ${f.name}` });
  }
  return out;
}

/** A grouped answer's `_row` cell as a person reads it. */
export function rowKind(value: string | null | undefined): "row" | "subtotal" | "total" {
  return value === "subtotal" ? "subtotal" : value === "total" ? "total" : "row";
}

// A grouped report's summaries: one function per aggregated column, kept in the URL as ?agg=amount:AVERAGE,….
export type AggregateChoice = { column: string; function: ReportAggregate };
const AGGREGATES: readonly string[] = ["COUNT", "SUM", "AVERAGE", "MIN", "MAX"];

export function parseAggregates(value: string | null): AggregateChoice[] {
  const out: AggregateChoice[] = [];
  for (const part of (value ?? "").split(",")) {
    const [column, fn] = part.split(":");
    if (column && fn && AGGREGATES.includes(fn) && !out.some((a) => a.column === column)) out.push({ column, function: fn as ReportAggregate });
  }
  return out;
}

export function aggregatesParam(list: readonly AggregateChoice[]): string {
  return list.map((a) => `${a.column}:${a.function}`).join(",");
}

/** `list` with `column`'s function set (or back to the API's default when `fn` is empty). */
export function withAggregate(list: readonly AggregateChoice[], column: string, fn: string): AggregateChoice[] {
  const rest = list.filter((a) => a.column !== column);
  return AGGREGATES.includes(fn) ? [...rest, { column, function: fn as ReportAggregate }] : rest;
}

// The configuration carried from a report page to a new schedule (?report=<JSON of ReportInput>).
export type ReportConfig = {
  report: string;
  columns?: string[] | null;
  grouping?: string[] | null;
  aggregates?: AggregateChoice[] | null;
  filters?: Record<string, unknown> | null;
};

export function encodeConfig(config: ReportConfig): string {
  return JSON.stringify(config);
}

/** The configuration in a link, or null when it is missing or not one (a report key is required). */
export function decodeConfig(text: string | null): ReportConfig | null {
  if (!text) return null;
  try {
    const value: unknown = JSON.parse(text);
    if (!value || typeof value !== "object" || Array.isArray(value)) return null;
    const v = value as Record<string, unknown>;
    if (typeof v.report !== "string" || !v.report) return null;
    const strings = (x: unknown) => (Array.isArray(x) && x.every((s) => typeof s === "string") ? (x as string[]) : null);
    const aggregates = Array.isArray(v.aggregates)
      ? parseAggregates(
          (v.aggregates as { column?: unknown; function?: unknown }[])
            .map((a) => (a && typeof a.column === "string" && typeof a.function === "string" ? `${a.column}:${a.function}` : ""))
            .join(","),
        )
      : [];
    return {
      report: v.report,
      columns: strings(v.columns),
      grouping: strings(v.grouping),
      ...(aggregates.length > 0 ? { aggregates } : {}),
      filters: v.filters && typeof v.filters === "object" && !Array.isArray(v.filters) ? (v.filters as Record<string, unknown>) : null,
    };
  } catch {
    return null;
  }
}

// The schedule form.
export type ScheduleDraft = {
  name: string;
  format: ReportRunFormat;
  cadence: ReportScheduleCadence;
  timeZone: string;
  time: string;
  weekday: string;
  dayOfMonth: string;
  cron: string;
  memberIds: string[];
  teamIds: string[];
  report: ReportConfig;
};

export const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

export function emptyDraft(report: ReportConfig, timeZone: string): ScheduleDraft {
  return {
    name: "",
    format: "CSV",
    cadence: "WEEKLY",
    timeZone,
    time: "08:00",
    weekday: "1",
    dayOfMonth: "1",
    cron: "",
    memberIds: [],
    teamIds: [],
    report,
  };
}

type ScheduleShape = {
  name: string;
  format: ReportRunFormat;
  cadence: ReportScheduleCadence;
  timeZone: string;
  time?: string | null;
  weekday?: number | null;
  dayOfMonth?: number | null;
  cron?: string | null;
  memberIds: readonly string[];
  teamIds: readonly string[];
  report: unknown;
};

/** A stored schedule as the form edits it (fields its cadence does not use get the form's defaults). */
export function draftOf(s: ScheduleShape): ScheduleDraft {
  const report = decodeConfig(JSON.stringify(s.report)) ?? { report: "" };
  return {
    ...emptyDraft(report, s.timeZone),
    name: s.name,
    format: s.format,
    cadence: s.cadence,
    time: s.time ?? "08:00",
    weekday: s.weekday ? String(s.weekday) : "1",
    dayOfMonth: s.dayOfMonth ? String(s.dayOfMonth) : "1",
    cron: s.cron ?? "",
    memberIds: [...s.memberIds],
    teamIds: [...s.teamIds],
  };
}

export type FieldErrors = Record<string, string>;

/** What the form can tell before asking the API (the API checks everything again and names its field). */
export function checkDraft(d: ScheduleDraft): FieldErrors {
  const errors: FieldErrors = {};
  if (!d.name.trim()) errors.name = "Give the schedule a name.";
  if (!d.timeZone) errors.timeZone = "Choose a time zone.";
  if (d.cadence === "CRON") {
    if (d.cron.trim().split(/\s+/).length !== 5) errors.cron = "Five fields: minute hour day-of-month month day-of-week.";
  } else if (!/^([01]\d|2[0-3]):[0-5]\d$/.test(d.time)) errors.time = "A time of day, HH:MM (00:00 to 23:59).";
  if (d.cadence === "MONTHLY") {
    const day = Number(d.dayOfMonth);
    if (!Number.isInteger(day) || day < 1 || day > 31) errors.dayOfMonth = "A day from 1 to 31.";
  }
  if (d.cadence === "WEEKLY") {
    const day = Number(d.weekday);
    if (!Number.isInteger(day) || day < 1 || day > 7) errors.weekday = "Choose a day of the week.";
  }
  if (!d.report.report) errors.report = "Open a report and choose Schedule to set what it sends.";
  return errors;
}

/** The API's ReportScheduleInput: only the timing fields the cadence uses (the API refuses the others). */
export function scheduleInput(d: ScheduleDraft) {
  const report = {
    report: d.report.report,
    ...(d.report.columns ? { columns: d.report.columns } : {}),
    ...(d.report.grouping && d.report.grouping.length > 0 ? { grouping: d.report.grouping } : {}),
    ...(d.report.grouping && d.report.grouping.length > 0 && d.report.aggregates && d.report.aggregates.length > 0
      ? { aggregates: d.report.aggregates }
      : {}),
    ...(d.report.filters ? { filters: d.report.filters } : {}),
  };
  return {
    name: d.name.trim(),
    format: d.format,
    report,
    cadence: d.cadence,
    timeZone: d.timeZone,
    ...(d.cadence === "CRON" ? { cron: d.cron.trim() } : { time: d.time }),
    ...(d.cadence === "WEEKLY" ? { weekday: Number(d.weekday) } : {}),
    ...(d.cadence === "MONTHLY" ? { dayOfMonth: Number(d.dayOfMonth) } : {}),
    memberIds: d.memberIds,
    teamIds: d.teamIds,
  };
}

/**
 * The API's errors (`input.cron`, `input.memberIds[1]`, `input.report.columns[0]`) on the form's fields: the
 * first segment after `input.` (memberIds, teamIds, report, …); one without a field is the form's.
 */
export function errorsOnFields(errors: readonly { field?: string | null; message: string }[]): FieldErrors {
  const out: FieldErrors = {};
  for (const e of errors) {
    const path = (e.field ?? "").replace(/^input\.?/, "");
    const key = path.split(/[.[]/)[0] || "form";
    out[key] = out[key] ? `${out[key]} ${e.message}` : e.message;
  }
  return out;
}

/** "Every Monday at 08:00 (Europe/London)" and the like. */
export function describeTiming(s: {
  cadence: ReportScheduleCadence;
  timeZone: string;
  time?: string | null;
  weekday?: number | null;
  dayOfMonth?: number | null;
  cron?: string | null;
}): string {
  const zone = s.timeZone.replace(/_/g, " ");
  switch (s.cadence) {
    case "DAILY":
      return `Every day at ${s.time ?? "?"} (${zone})`;
    case "WEEKLY":
      return `Every ${WEEKDAYS[(s.weekday ?? 1) - 1] ?? "week"} at ${s.time ?? "?"} (${zone})`;
    case "MONTHLY":
      return `Monthly on day ${s.dayOfMonth ?? "?"} at ${s.time ?? "?"} (${zone})`;
    default:
      return `Cron ${s.cron ?? ""} (${zone})`;
  }
}

/** Bytes as people read them: 512 B, 12.3 KB, 4.1 MB. */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "–";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

/** Every entity a custom field can be defined on (the API's CustomField description): contacts, then each
 * business entity type. */
export const ENTITIES = [
  "customer",
  "order",
  "purchase",
  "achievement",
  "service_request",
  "activity",
  "subscription",
  "invoice",
  "credit_note",
  "payment",
  "refund",
  "top_up",
  "award",
  "spend",
  "donation",
  "usage",
  "pass",
  "lead",
  "inventory_item",
];

/** Choices typed comma-separated (or one per line): trimmed, blanks and repeats dropped, order kept. */
export function parseChoices(text: string): string[] {
  return [...new Set(text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean))];
}

/** The report page's URL for a configuration (a schedule's, a run's): its columns, grouping and filters in the
 * query string the page reads. */
export function reportLink(config: unknown): string {
  const c = (config && typeof config === "object" ? config : {}) as {
    report?: string;
    columns?: string[] | null;
    grouping?: string[] | null;
    aggregates?: { column: string; function: string }[] | null;
    filters?: {
      range?: { preset?: string; from?: string; to?: string } | null;
      statuses?: string[] | null;
      types?: string[] | null;
      interval?: string | null;
      segmentId?: string | null;
    } | null;
  };
  const q = new URLSearchParams();
  const f = c.filters ?? {};
  if (f.range?.preset) q.set("preset", f.range.preset);
  else if (f.range?.from && f.range.to) {
    q.set("from", f.range.from);
    q.set("to", f.range.to);
  }
  if (c.columns && c.columns.length > 0) q.set("columns", c.columns.join(","));
  if (c.grouping && c.grouping.length > 0) q.set("group", c.grouping.join(","));
  if (c.aggregates && c.aggregates.length > 0) q.set("agg", c.aggregates.map((a) => `${a.column}:${a.function}`).join(","));
  if (f.statuses?.[0]) q.set("status", f.statuses[0]);
  if (f.types?.[0]) q.set("type", f.types[0]);
  if (f.interval) q.set("interval", f.interval);
  if (f.segmentId) q.set("segment", f.segmentId);
  const query = q.toString();
  return `/reports/${c.report ?? ""}${query ? `?${query}` : ""}`;
}
