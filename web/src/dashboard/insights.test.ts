import { describe, expect, it } from "vitest";
import {
  breakdownChoices,
  builderOfSaved,
  builderParams,
  chartOption,
  decodeFilter,
  drillParams,
  filterChoices,
  insightInput,
  parseBuilder,
  parseDrill,
  pickCell,
  pointValue,
  sameSeries,
  seriesName,
} from "./insights";

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

describe("the events behind a figure", () => {
  const answer = {
    buckets: [{ start: "2026-11-01T00:00:00+00:00" }, { start: "2026-11-02T00:00:00+00:00" }],
    series: [
      { values: ["card"], currency: "GBP", points: ["10.50", "0.00"], total: "10.50" },
      { values: [null], currency: null, points: [3, 4], total: 7 },
    ],
  };

  it("picks the bucket and series of a bar or point, the series of a slice", () => {
    expect(pickCell(answer, "BAR", 1, 1)).toEqual({ bucket: "2026-11-02T00:00:00+00:00", values: [null], currency: null, value: 4 });
    expect(pickCell(answer, "LINE", 0, 0)).toEqual({ bucket: "2026-11-01T00:00:00+00:00", values: ["card"], currency: "GBP", value: 10.5 });
    expect(pickCell(answer, "STACKED_BAR", 2, 0)).toBeNull();
    expect(pickCell(answer, "BAR", 0, 5)).toBeNull();
    // A slice is a series' total over every bucket: no bucket, unless the range has one.
    expect(pickCell(answer, "PIE", 0, 1)).toEqual({ bucket: null, values: [null], currency: null, value: 7 });
    expect(pickCell({ ...answer, buckets: [answer.buckets[0]!] }, "PIE", 0, 0)?.bucket).toBe("2026-11-01T00:00:00+00:00");
  });

  it("keeps the question, the bucket, null values and the currency in the URL", () => {
    const b = parseBuilder(new URLSearchParams("type=payment&measure=TOTAL_AMOUNT&by=fields.method&by=channel&preset=LAST_7_DAYS"));
    const p = drillParams(b, { bucket: "2026-11-02T00:00:00+00:00", values: ["card", null], currency: "GBP" }, "s9");
    const back = parseDrill(new URLSearchParams(p.toString()));
    expect(back).toEqual({ builder: b, bucket: "2026-11-02T00:00:00+00:00", values: ["card", null], currency: "GBP", saved: "s9" });
    expect(insightInput(back.builder)).toEqual(insightInput(b));
    const slice = parseDrill(new URLSearchParams(drillParams(b, { bucket: null, values: [], currency: null }).toString()));
    expect([slice.bucket, slice.values, slice.currency, slice.saved]).toEqual([null, [], null, null]);
  });

  it("ignores values that are not a list of strings and nulls", () => {
    expect(parseDrill(new URLSearchParams("type=visit&values=%7Bx")).values).toEqual([]);
    expect(parseDrill(new URLSearchParams("type=visit&values=%5B1%2C2%5D")).values).toEqual([]);
  });

  it("finds the series of a cell by its values and currency", () => {
    expect(sameSeries(answer.series[0]!, ["card"], "GBP")).toBe(true);
    expect(sameSeries(answer.series[0]!, ["card"], null)).toBe(false);
    expect(sameSeries(answer.series[1]!, [null], null)).toBe(true);
    expect(sameSeries(answer.series[1]!, ["null"], null)).toBe(false);
  });
});

describe("the fields a type offers", () => {
  const payment = {
    dimensions: ["channel", "state"],
    business: {
      lineItems: true,
      fields: [
        { name: "method", filterable: true, breakdown: true },
        { name: "amountDue", filterable: true, breakdown: false },
        { name: "note", filterable: false, breakdown: false },
      ],
    },
  };

  it("breaks down by dimensions, business fields (numbers excepted) and line-item products, keeping a chosen one", () => {
    expect(breakdownChoices(payment)).toEqual(["channel", "state", "fields.method", "item.productId"]);
    expect(breakdownChoices({ dimensions: ["channel"] }, ["custom.tier", "channel"])).toEqual(["channel", "custom.tier"]);
    expect(breakdownChoices(undefined)).toEqual([]);
  });

  it("filters on dimensions and filterable business fields", () => {
    expect(filterChoices(payment)).toEqual(["channel", "state", "fields.method", "fields.amountDue", "item.productId"]);
  });
});
