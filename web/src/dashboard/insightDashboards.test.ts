import { describe, expect, it } from "vitest";
import { clampWidth, fieldErrors, keepPushed, mergeTiles, movedTo, notOnDashboard } from "./insightDashboards";

const tile = (id: string, position: number, width: number, total: number) => ({ position, width, savedInsight: { id, total } });

describe("a dashboard's tiles", () => {
  it("replaces a pushed tile in place, keeping the grid's order and widths, never adding one", () => {
    const base = [tile("a", 0, 2, 1), tile("b", 1, 1, 5), tile("c", 2, 4, 9)];
    const merged = mergeTiles(base, [tile("b", 0, 3, 6), tile("gone", 3, 1, 2)]);
    expect(merged.map((t) => [t.savedInsight.id, t.position, t.width, t.savedInsight.total])).toEqual([
      ["a", 0, 2, 1],
      ["b", 1, 1, 6],
      ["c", 2, 4, 9],
    ]);
    expect(merged[0]).toBe(base[0]); // untouched tiles keep their identity (their charts are not redrawn)
  });

  it("keeps the latest push of each saved insight", () => {
    const kept = keepPushed([tile("a", 0, 1, 1), tile("b", 1, 1, 1)], [tile("a", 0, 1, 2)]);
    expect(kept.map((t) => [t.savedInsight.id, t.savedInsight.total])).toEqual([
      ["b", 1],
      ["a", 2],
    ]);
  });

  it("moves within the grid and sizes within 1 to 4 columns", () => {
    expect(movedTo(0, -1, 3)).toBeNull();
    expect(movedTo(0, 1, 3)).toBe(1);
    expect(movedTo(2, 1, 3)).toBeNull();
    expect(movedTo(2, -1, 3)).toBe(1);
    expect([0, 1, 2.6, 4, 9, Number.NaN].map(clampWidth)).toEqual([1, 1, 3, 4, 4, 1]);
  });

  it("offers the saved insights not on the dashboard, by name", () => {
    const saved = [
      { id: "a", name: "Zeta" },
      { id: "b", name: "Alpha" },
      { id: "c", name: "Mid" },
    ];
    expect(notOnDashboard(saved, [tile("c", 0, 1, 0)]).map((s) => s.name)).toEqual(["Alpha", "Zeta"]);
  });

  it("puts the API's refusals on the name field or the form, naming the field", () => {
    expect(fieldErrors([{ field: "name", message: "must not be empty" }])).toEqual({ name: "must not be empty" });
    expect(fieldErrors([{ field: "savedInsightId", message: "at most 24 tiles" }])).toEqual({ form: "savedInsightId: at most 24 tiles" });
    expect(fieldErrors([{ field: null, message: "refused" }])).toEqual({ form: "refused" });
  });
});
