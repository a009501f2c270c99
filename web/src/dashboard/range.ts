// The date range and category filters, kept in the URL (?preset=LAST_30_DAYS or ?from=…&to=…, ?category=…)
// so that a reload, the back button or a shared link shows the same figures.
import { useSearchParams } from "react-router";
import type { DatePreset } from "../gql/graphql";

export const PRESETS: { value: DatePreset; label: string }[] = [
  { value: "TODAY", label: "Today" },
  { value: "YESTERDAY", label: "Yesterday" },
  { value: "LAST_7_DAYS", label: "Last 7 days" },
  { value: "LAST_30_DAYS", label: "Last 30 days" },
  { value: "LAST_90_DAYS", label: "Last 90 days" },
  { value: "THIS_MONTH", label: "This month" },
  { value: "LAST_MONTH", label: "Last month" },
];
export const DEFAULT_PRESET: DatePreset = "LAST_30_DAYS";

export type RangeValue = { preset: DatePreset } | { from: string; to: string };

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The range a query string names; a custom range needs both days in order, else the default preset. */
export function parseRange(params: URLSearchParams): RangeValue {
  const from = params.get("from");
  const to = params.get("to");
  if (from && to && DAY.test(from) && DAY.test(to) && from <= to) return { from, to };
  const preset = params.get("preset");
  const known = PRESETS.find((p) => p.value === preset);
  return { preset: known ? known.value : DEFAULT_PRESET };
}

/** The params after choosing `range` (others, such as the category, kept). */
export function withRange(params: URLSearchParams, range: RangeValue): URLSearchParams {
  const next = new URLSearchParams(params);
  next.delete("preset");
  next.delete("from");
  next.delete("to");
  next.delete("after");
  if ("preset" in range) next.set("preset", range.preset);
  else {
    next.set("from", range.from);
    next.set("to", range.to);
  }
  return next;
}

export function rangeInput(range: RangeValue): { preset?: DatePreset; from?: string; to?: string } {
  return "preset" in range ? { preset: range.preset } : { from: range.from, to: range.to };
}

export function useRange(): [RangeValue, (range: RangeValue) => void] {
  const [params, setParams] = useSearchParams();
  return [parseRange(params), (range) => setParams(withRange(params, range))];
}
