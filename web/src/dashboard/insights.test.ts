import { describe, expect, it } from "vitest";
import { builderOfSaved, builderParams, chartOption, decodeFilter, insightInput, parseBuilder, pointValue, seriesName } from "./insights";

describe("the insights builder in the URL", () => {
  it("round-trips a builder through the query string", () => {
    const b = parseBuilder(
      new URLSearchParams(
        "type=payment&measure=TOTAL_AMOUNT&by=channel&by=state&filter=currency~IN~GBP|EUR&from=2026-11-01&to=2026-11-30&interval=WEEK&chart=STACKED_BAR",
      ),
    );
    expect(b).toEqual({
      eventType: "payment",
      measure: "TOTAL_AMOUNT",
      breakdowns: ["channel", "state"],
      filters: [{ field: "currency", operator: "IN", values: ["GBP", "EUR"] }],
      range: { from: "2026-11-01", to: "2026-11-30" },
      interval: "WEEK",
      chartType: "STACKED_BAR",
    });
    expect(parseBuilder(builderParams(b, "s1"))).toEqual(b);
    expect(builderParams(b, "s1").get("saved")).toBe("s1");
  });

  it("falls back on unknown values, keeps at most 3 breakdowns, drops bad filters", () => {
    const b = parseBuilder(new URLSearchParams("measure=MAX&by=a&by=b&by=c&by=d&filter=x~LIKE~1&chart=RADAR&from=2026-12-01&to=2026-11-01"), "visit");
    expect(b.eventType).toBe("visit");
    expect(b.measure).toBe("COUNT");
    expect(b.breakdowns).toEqual(["a", "b", "c"]);
    expect(b.filters).toEqual([]);
    expect(b.chartType).toBe("BAR");
    expect(b.range).toEqual({ preset: "LAST_30_DAYS" });
    expect(decodeFilter("state~IS_SET~")).toEqual({ field: "state", operator: "IS_SET", values: [] });
  });

  it("sends the API's input, and reads a saved one back", () => {
    const b = parseBuilder(new URLSearchParams("type=visit&preset=TODAY&interval=HOUR&chart=PIE&by=channel"));
    const input = insightInput(b);
    expect(input).toEqual({
      eventType: "visit",
      measure: "COUNT",
      breakdowns: ["channel"],
      filters: [],
      range: { preset: "TODAY" },
      interval: "HOUR",
      chartType: "PIE",
    });
    expect(builderOfSaved(JSON.parse(JSON.stringify({ ...input, range: { preset: "TODAY", from: null, to: null } })))).toEqual(b);
  });
});

describe("insight answers as charts", () => {
  const answer = {
    buckets: [{ label: "1 Nov" }, { label: "2 Nov" }],
    series: [
      { values: ["web"], currency: "GBP", points: ["10.50", null], total: "10.50" },
      { values: [null], currency: null, points: [3, 4], total: 7 },
    ],
  };

  it("reads counts, decimal strings and gaps", () => {
    expect(pointValue("10.50")).toBe(10.5);
    expect(pointValue(3)).toBe(3);
    expect(pointValue(null)).toBeNull();
    expect(pointValue("n/a")).toBeNull();
  });

  it("names series by their breakdown values and currency", () => {
    expect(seriesName(["web", null], "EUR", "Count")).toBe("web · (not set) (EUR)");
    expect(seriesName([], null, "Count")).toBe("Count");
  });

  it("stacks bars only for Stacked Bar, draws lines for Line and totals for Pie", () => {
    const stacked = chartOption(answer, "STACKED_BAR", "Count") as { series: { type: string; stack?: string; data: unknown[] }[] };
    expect(stacked.series.map((s) => [s.type, s.stack])).toEqual([
      ["bar", "total"],
      ["bar", "total"],
    ]);
    expect(stacked.series[0]?.data).toEqual([10.5, null]);
    const bar = chartOption(answer, "BAR", "Count") as { series: { stack?: string }[] };
    expect(bar.series.every((s) => s.stack === undefined)).toBe(true);
    const line = chartOption(answer, "LINE", "Count") as { series: { type: string }[] };
    expect(line.series.every((s) => s.type === "line")).toBe(true);
    const pie = chartOption(answer, "PIE", "Count") as { series: { type: string; data: { name: string; value: number }[] }[] };
    expect(pie.series[0]?.data).toEqual([
      { name: "web (GBP)", value: 10.5 },
      { name: "(not set)", value: 7 },
    ]);
  });
});
