// A segment's form as the user fills it, and the API's inputs it becomes (and back, for editing). Kept apart
// from the page so the rules (blank fields mean "no condition", ids one per line or comma-separated, the
// API's error paths mapped to the form's fields) are tested without a browser.
import type { SegmentDefinitionInput } from "../gql/graphql";

export type EventCondition = { type: string; atLeast: string; lastDays: string };

export type SegmentDraft = {
  name: string;
  kind: "DYNAMIC" | "STATIC";
  integrationIds: string[];
  firstFrom: string;
  firstTo: string;
  lastFrom: string;
  lastTo: string;
  events: EventCondition[];
  customerIds: string;
};

export const EMPTY_DRAFT: SegmentDraft = {
  name: "",
  kind: "DYNAMIC",
  integrationIds: [],
  firstFrom: "",
  firstTo: "",
  lastFrom: "",
  lastTo: "",
  events: [],
  customerIds: "",
};

/** Customer ids typed one per line, or separated by commas or spaces; blanks and repeats dropped, order kept. */
export function parseCustomerIds(text: string): string[] {
  const seen = new Set<string>();
  for (const id of text.split(/[\s,;]+/)) if (id) seen.add(id);
  return [...seen];
}

function range(from: string, to: string): { from?: string; to?: string } | null {
  if (!from && !to) return null;
  return { ...(from ? { from } : {}), ...(to ? { to } : {}) };
}

/**
 * The definition a dynamic draft names. Numbers are sent as typed (the API names a bad one by its field),
 * except that an empty "at least" means once, as the API's default.
 */
export function definitionOf(draft: SegmentDraft): SegmentDefinitionInput {
  const firstSeen = range(draft.firstFrom, draft.firstTo);
  const lastSeen = range(draft.lastFrom, draft.lastTo);
  return {
    ...(draft.integrationIds.length > 0 ? { integrationIds: draft.integrationIds } : {}),
    ...(firstSeen ? { firstSeen } : {}),
    ...(lastSeen ? { lastSeen } : {}),
    ...(draft.events.length > 0
      ? {
          events: draft.events.map((e) => ({
            type: e.type,
            atLeast: e.atLeast.trim() === "" ? 1 : Number(e.atLeast),
            lastDays: Number(e.lastDays),
          })),
        }
      : {}),
  };
}

/** The create/update input of a draft: a definition for a dynamic segment, the id list for a static one. */
export function segmentInput(draft: SegmentDraft): { name: string; definition?: SegmentDefinitionInput; customerIds?: string[] } {
  return draft.kind === "DYNAMIC"
    ? { name: draft.name.trim(), definition: definitionOf(draft) }
    : { name: draft.name.trim(), customerIds: parseCustomerIds(draft.customerIds) };
}

type Stored = {
  integrationIds?: string[] | null;
  firstSeen?: { from?: string | null; to?: string | null } | null;
  lastSeen?: { from?: string | null; to?: string | null } | null;
  events?: { type: string; atLeast?: number | null; lastDays: number }[] | null;
};

/** The draft of a stored segment (its definition JSON as the API answers it; a static one's ids listed apart). */
export function draftOf(segment: { name: string; kind: "DYNAMIC" | "STATIC"; definition?: unknown }, customerIds: string[] = []): SegmentDraft {
  const d = (segment.definition && typeof segment.definition === "object" ? segment.definition : {}) as Stored;
  return {
    name: segment.name,
    kind: segment.kind,
    integrationIds: d.integrationIds ?? [],
    firstFrom: d.firstSeen?.from ?? "",
    firstTo: d.firstSeen?.to ?? "",
    lastFrom: d.lastSeen?.from ?? "",
    lastTo: d.lastSeen?.to ?? "",
    events: (d.events ?? []).map((e) => ({ type: e.type, atLeast: String(e.atLeast ?? 1), lastDays: String(e.lastDays) })),
    customerIds: customerIds.join("\n"),
  };
}

/** A short reading of a dynamic definition for the list ("2 integrations · last seen from 2026-11-01 · …"). */
export function describeDefinition(definition: unknown): string {
  if (!definition || typeof definition !== "object") return "everyone";
  const d = definition as Stored;
  const parts: string[] = [];
  const n = d.integrationIds?.length ?? 0;
  if (n > 0) parts.push(n === 1 ? "1 integration" : `${n} integrations`);
  for (const [label, r] of [
    ["first seen", d.firstSeen],
    ["last seen", d.lastSeen],
  ] as const) {
    if (r && (r.from || r.to)) parts.push(`${label}${r.from ? ` from ${r.from}` : ""}${r.to ? ` to ${r.to}` : ""}`);
  }
  for (const e of d.events ?? []) parts.push(`${e.type} ≥ ${e.atLeast ?? 1}× in ${e.lastDays} days`);
  return parts.length > 0 ? parts.join(" · ") : "everyone";
}

/**
 * The API's error paths (`input.definition.events[0].lastDays`, `input.name`) as the form's keys
 * (`events.0.lastDays`, `name`); anything unknown goes to `form`, so no message is lost.
 */
export function errorKey(field: string | null | undefined): string {
  if (!field) return "form";
  const path = field.replace(/^input\./, "").replace(/^definition\./, "");
  const event = /^events(?:\[(\d+)\]|\.(\d+))\.(\w+)$/.exec(path);
  if (event) return `events.${event[1] ?? event[2]}.${event[3]}`;
  if (/^(firstSeen|lastSeen)(\.|$)/.test(path)) return path.split(".")[0] ?? "form";
  if (/^customerIds(\[\d+\])?$/.test(path)) return "customerIds";
  if (/^integrationIds(\[\d+\])?$/.test(path)) return "integrationIds";
  if (path === "name" || path === "events") return path;
  return "form";
}

/** The messages per form key; a refused customer id is named in its message (`c-9: customer not found`). */
export function errorsByKey(
  errors: readonly { field?: string | null; message: string }[],
  customerIds: readonly string[] = [],
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of errors) {
    const key = errorKey(e.field);
    const index = /customerIds\[(\d+)\]$/.exec(e.field ?? "");
    const named = index ? customerIds[Number(index[1])] : undefined;
    const message = named ? `${named}: ${e.message}` : e.message;
    out[key] = out[key] ? `${out[key]} ${message}` : message;
  }
  return out;
}
