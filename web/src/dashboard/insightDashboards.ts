// Dashboards of saved insights: the grid's rules that need no browser (tested in insightDashboards.test.ts).
// The live subscription pushes the refreshed tiles only; they replace the tiles of the same saved insight in
// place (the grid's order and widths stay those last read), and a tile no longer on the dashboard is not added.

export const WIDTHS = [1, 2, 3, 4] as const;

type TileLike = { position: number; width: number; savedInsight: { id: string } };

/** The tiles read, with the pushed ones in the place of the tile of the same saved insight. */
export function mergeTiles<T extends TileLike>(base: readonly T[], pushed: readonly T[]): T[] {
  const fresh = new Map(pushed.map((t) => [t.savedInsight.id, t]));
  return base.map((t) => {
    const p = fresh.get(t.savedInsight.id);
    return p ? { ...p, position: t.position, width: t.width } : t;
  });
}

/** Pushed tiles kept across messages: a later push of the same saved insight replaces the earlier one. */
export function keepPushed<T extends TileLike>(kept: readonly T[], pushed: readonly T[]): T[] {
  const ids = new Set(pushed.map((t) => t.savedInsight.id));
  return [...kept.filter((t) => !ids.has(t.savedInsight.id)), ...pushed];
}

/** The position a tile moves to by `step` (−1 earlier, +1 later), or null when it is already at that end. */
export function movedTo(position: number, step: -1 | 1, count: number): number | null {
  const next = position + step;
  return next < 0 || next >= count ? null : next;
}

/** A tile's width within the API's 1 to 4 columns. */
export function clampWidth(width: number): number {
  return Math.min(4, Math.max(1, Math.round(width) || 1));
}

/** Saved insights not yet on the dashboard, by name (what "Add a tile" offers). */
export function notOnDashboard<S extends { id: string; name: string }>(saved: readonly S[], tiles: readonly TileLike[]): S[] {
  const on = new Set(tiles.map((t) => t.savedInsight.id));
  return saved.filter((s) => !on.has(s.id)).sort((a, b) => a.name.localeCompare(b.name));
}

/** A mutation's refusal as {field: message}: `name` for the dashboard's name, `form` for anything else. */
export function fieldErrors(errors: readonly { field?: string | null; message: string }[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of errors) {
    const key = e.field === "name" || e.field === "input.name" ? "name" : "form";
    out[key] = key === "form" && e.field ? `${e.field}: ${e.message}` : e.message;
  }
  return out;
}
