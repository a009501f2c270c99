import { describe, expect, it } from "vitest";
import { DEFAULT_PRESET, parseRange, rangeInput, withRange } from "./range";

describe("the range in the URL", () => {
  it("reads a preset, a custom range, and falls back to the default", () => {
    expect(parseRange(new URLSearchParams("preset=LAST_7_DAYS"))).toEqual({ preset: "LAST_7_DAYS" });
    expect(parseRange(new URLSearchParams("from=2026-01-01&to=2026-01-31"))).toEqual({ from: "2026-01-01", to: "2026-01-31" });
    expect(parseRange(new URLSearchParams("preset=NOPE"))).toEqual({ preset: DEFAULT_PRESET });
    // Reversed or half ranges are not a range.
    expect(parseRange(new URLSearchParams("from=2026-02-01&to=2026-01-01"))).toEqual({ preset: DEFAULT_PRESET });
    expect(parseRange(new URLSearchParams("from=2026-02-01"))).toEqual({ preset: DEFAULT_PRESET });
  });

  it("keeps other filters, drops the page cursor and the other kind of range", () => {
    const next = withRange(new URLSearchParams("category=c1&after=abc&from=2026-01-01&to=2026-01-02"), { preset: "TODAY" });
    expect(next.toString()).toBe("category=c1&preset=TODAY");
  });

  it("gives the API's range input", () => {
    expect(rangeInput({ preset: "TODAY" })).toEqual({ preset: "TODAY" });
    expect(rangeInput({ from: "2026-01-01", to: "2026-01-02" })).toEqual({ from: "2026-01-01", to: "2026-01-02" });
  });
});
