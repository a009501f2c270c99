// The activity feed's rules, kept apart from the page so they are tested without a browser: its filter as the
// URL keeps it (?class=FUNNEL&type=visit), the order of its entries (the API's: newest first by time, then
// id), and how a live push of the first page joins what is already on screen without losing or repeating one.
import type { ActivityFilterInput, TimelineClass } from "../gql/graphql";
import { userLocale } from "./format";

/** The classes the feed holds (order changes are on a customer's timeline, not here). */
export const FEED_CLASSES: { value: TimelineClass; label: string }[] = [
  { value: "FUNNEL", label: "Funnel events" },
  { value: "BEHAVIOUR", label: "User behaviour" },
  { value: "BUSINESS", label: "Business events" },
];

export type FeedFilter = { klass: TimelineClass | null; types: string[] };

/** The filter the URL names; an unknown class is ignored (a link from an older version still opens). */
export function filterFromParams(params: URLSearchParams): FeedFilter {
  const raw = params.get("class");
  const klass = FEED_CLASSES.find((c) => c.value === raw)?.value ?? null;
  const types = [...new Set(params.getAll("type").filter(Boolean))].sort();
  return { klass, types };
}

/** The API's input for a filter: only what is set (no filter at all is every event). */
export function filterInput(filter: FeedFilter): ActivityFilterInput | null {
  const input: ActivityFilterInput = {
    ...(filter.klass ? { classes: [filter.klass] } : {}),
    ...(filter.types.length > 0 ? { types: filter.types } : {}),
  };
  return Object.keys(input).length > 0 ? input : null;
}

/** The URL of a filter, other parameters kept. */
export function paramsWith(params: URLSearchParams, filter: FeedFilter): URLSearchParams {
  const next = new URLSearchParams(params);
  next.delete("class");
  next.delete("type");
  if (filter.klass) next.set("class", filter.klass);
  for (const t of filter.types) next.append("type", t);
  return next;
}

/** A stable key of a filter: the feed on screen belongs to one. */
export function filterKey(filter: FeedFilter): string {
  return `${filter.klass ?? ""}|${filter.types.join(",")}`;
}

export type Entry = { cursor: string; node: { id: string; at: string } };

/** An instant as [milliseconds, microseconds within the millisecond]: the API's times carry microseconds. */
function instant(at: string): [number, number] {
  const ms = Date.parse(at);
  const fraction = /T[\d:]+\.(\d+)/.exec(at)?.[1] ?? "";
  const micros = Number(fraction.padEnd(6, "0").slice(3, 6));
  return [ms, micros];
}

/** The API's order: newest first, ties by id (descending). Negative when `a` comes first. */
export function newestFirst(a: Entry, b: Entry): number {
  const [am, au] = instant(a.node.at);
  const [bm, bu] = instant(b.node.at);
  if (am !== bm) return bm - am;
  if (au !== bu) return bu - au;
  return a.node.id < b.node.id ? 1 : a.node.id > b.node.id ? -1 : 0;
}

/** Entries of both lists, each once (the newer copy wins: its customer may have been renamed), in the API's order. */
export function union<T extends Entry>(current: readonly T[], incoming: readonly T[]): T[] {
  const byId = new Map<string, T>();
  for (const e of current) byId.set(e.node.id, e);
  for (const e of incoming) byId.set(e.node.id, e);
  return [...byId.values()].sort(newestFirst);
}

export type Feed<T extends Entry> = { entries: T[]; hasNext: boolean };

/**
 * A live push (the feed's first page as it is now) joined to the feed on screen. When it shares no entry with
 * what is shown and more follow it, events between the two may be missing: the screen starts again from the
 * pushed page (Load more goes on from there) rather than show a gap.
 */
export function mergeLive<T extends Entry>(feed: Feed<T>, page: readonly T[], pageHasNext: boolean): Feed<T> {
  if (feed.entries.length === 0) return { entries: [...page], hasNext: pageHasNext };
  const shown = new Set(feed.entries.map((e) => e.node.id));
  const overlaps = page.some((e) => shown.has(e.node.id));
  const oldestPushed = page[page.length - 1];
  const newestShown = feed.entries[0];
  if (!overlaps && pageHasNext && oldestPushed && newestShown && newestFirst(oldestPushed, newestShown) < 0) {
    return { entries: [...page], hasNext: true };
  }
  return { entries: union(feed.entries, page), hasNext: feed.hasNext };
}

/** The next page's cursor: the oldest entry shown (keyset: each entry's cursor is a place in the list). */
export function nextCursor(feed: Feed<Entry>): string | null {
  return feed.hasNext ? (feed.entries[feed.entries.length - 1]?.cursor ?? null) : null;
}

/** `ORDER_PLACED` → "order placed"; a custom type keeps its own words. */
export function kindLabel(kind: string): string {
  return kind.toLowerCase().replace(/_/g, " ");
}

/** An event's time in the organisation's zone, to the second (a feed's entries are often minutes apart). */
export function formatEventTime(iso: string, timeZone: string, locale: string = userLocale()): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "medium", timeZone }).format(new Date(iso));
}
