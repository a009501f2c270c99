import { describe, expect, it } from "vitest";
import { formatBucket, formatDay, formatMoney, formatMoneyList, formatNumber, readableOn, zoneNote } from "./format";

describe("numbers and money", () => {
  it("groups digits as the locale does", () => {
    expect(formatNumber(1234567, "en-GB")).toBe("1,234,567");
    expect(formatNumber(1234567, "de-DE")).toBe("1.234.567");
  });

  it("always writes the currency code, in the locale's order", () => {
    expect(formatMoney({ amount: "1234.5", currency: "GBP" }, "en-GB")).toBe("GBP\u00a01,234.50");
    expect(formatMoney({ amount: "1234.5", currency: "EUR" }, "de-DE")).toBe("1.234,50\u00a0EUR");
  });

  it("keeps a code Intl does not know", () => {
    expect(formatMoney({ amount: "3", currency: "XXY" }, "en-GB")).toMatch(/XXY/);
  });

  it("lists several currencies by code, and nothing as a dash", () => {
    expect(
      formatMoneyList(
        [
          { amount: "2.00", currency: "USD" },
          { amount: "1.00", currency: "EUR" },
        ],
        "en-GB",
      ),
    ).toBe("EUR\u00a01.00 · USD\u00a02.00");
    expect(formatMoneyList([], "en-GB")).toBe("–");
  });
});

describe("dates in the organisation's time zone", () => {
  it("shows an API day as that calendar day whatever the browser's zone", () => {
    expect(formatDay("2026-03-29", "en-GB")).toBe("29 Mar 2026");
  });

  it("shows a UTC instant in the organisation's zone", () => {
    // 23:30 UTC on 31 March is already 1 April in Sydney (UTC+11 then).
    expect(formatBucket("2026-03-31T23:30:00Z", false, "Australia/Sydney", "en-GB")).toBe("1 Apr");
    expect(formatBucket("2026-03-31T23:30:00Z", false, "Europe/London", "en-GB")).toBe("1 Apr");
    expect(formatBucket("2026-03-31T22:30:00Z", false, "Europe/London", "en-GB")).toBe("31 Mar");
  });

  it("names the zone", () => {
    expect(zoneNote("America/New_York")).toContain("America/New York");
  });
});

describe("text on the primary colour", () => {
  it("is white on dark colours and black on light ones", () => {
    expect(readableOn("#1E5EFF")).toBe("#ffffff");
    expect(readableOn("#FFE600")).toBe("#111111");
    expect(readableOn("nonsense")).toBe("#ffffff");
  });
});

describe("report cells by column type", () => {
  it("formats instants in the zone, days as days, numbers and money in the locale, flags as words", async () => {
    const { formatCell } = await import("./format");
    expect(formatCell("2026-06-30T23:30:00Z", "datetime", "Europe/London", "en-GB")).toBe("1 Jul 2026, 00:30");
    expect(formatCell("2026-06-30", "date", "Europe/London", "en-GB")).toBe("30 Jun 2026");
    expect(formatCell("12345.5", "money", "UTC", "de-DE")).toBe("12.345,50");
    expect(formatCell("1234", "number", "UTC", "en-GB")).toBe("1,234");
    expect(formatCell("true", "boolean", "UTC", "en-GB")).toBe("Yes");
    expect(formatCell(null, "text", "UTC", "en-GB")).toBe("–");
    expect(formatCell("abc", "id", "UTC", "en-GB")).toBe("abc");
  });
});

describe("API field paths as people read them", () => {
  it("names list positions from 1, drops the input prefix and splits camel case", async () => {
    const { fieldLabel } = await import("./format");
    expect(fieldLabel("input.filters[0].values")).toBe("Filter 1, values");
    expect(fieldLabel("filters[2].field")).toBe("Filter 3, field");
    expect(fieldLabel("input.range.from")).toBe("Range, from");
    expect(fieldLabel("eventType")).toBe("Event type");
    expect(fieldLabel("values[0]")).toBe("Value 1");
    expect(fieldLabel("input.breakdowns[1]")).toBe("Breakdown 2");
    expect(fieldLabel("series[0].name")).toBe("Series 1, name");
    expect(fieldLabel("categories[0]")).toBe("Category 1");
  });
});
