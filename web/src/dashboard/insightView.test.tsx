import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { formatNumber } from "./format";
import { parseBuilder, parseDrill } from "./insights";
import { formatTotal, InsightTable, type Answer } from "./insightView";
import { NameForm } from "./pages/InsightDashboards";

afterEach(cleanup);

const answer = {
  from: "2026-11-30",
  to: "2026-12-01",
  timeZone: "Europe/London",
  currency: null,
  source: "events",
  totalSeries: 2,
  buckets: [
    { start: "2026-11-30T00:00:00+00:00", label: "2026-11-30", partial: false },
    { start: "2026-12-01T00:00:00+00:00", label: "2026-12-01", partial: false },
  ],
  series: [
    { rank: 1, values: ["card"], currency: null, points: [0, 4], total: 4 },
    { rank: 2, values: [null], currency: null, points: [1, 1], total: 2 },
  ],
  total: [{ currency: null, value: 6 }],
  others: { series: 0 },
} as unknown as Answer;

describe("an insight's table", () => {
  it("links each figure but zeros to the events behind it: its bucket, series values and the question", () => {
    const builder = parseBuilder(new URLSearchParams("type=payment&by=fields.method&preset=LAST_7_DAYS"));
    render(
      <MemoryRouter>
        <InsightTable answer={answer} builder={builder} label="Count of events" saved="s1" full />
      </MemoryRouter>,
    );
    const links = screen.getAllByRole("link");
    // card: 4 (bucket 2) and its total; (not set): 1, 1 and its total. card's 0 is not a link.
    expect(links.map((a) => a.textContent)).toEqual(["4", "4", "1", "1", "2"]);
    const first = parseDrill(new URL(links[0]!.getAttribute("href")!, "http://x").searchParams);
    expect(first).toEqual({ builder, bucket: "2026-12-01T00:00:00+00:00", values: ["card"], currency: null, saved: "s1" });
    const notSet = parseDrill(new URL(links[2]!.getAttribute("href")!, "http://x").searchParams);
    expect([notSet.bucket, notSet.values]).toEqual(["2026-11-30T00:00:00+00:00", [null]]);
    // A total spans every bucket: no bucket (the events page lists the periods to choose from).
    expect(parseDrill(new URL(links[1]!.getAttribute("href")!, "http://x").searchParams).bucket).toBeNull();
    expect(screen.getByRole("rowheader", { name: "(not set)" })).toBeTruthy();
  });
});

describe("a dashboard's name form", () => {
  it("shows the API's refusal on the name field", async () => {
    const onSubmit = vi.fn(async () => ({ name: "a dashboard of that name exists" }));
    render(<NameForm id="n" label="New dashboard" formLabel="Create a dashboard" submit="Create dashboard" busy={false} onSubmit={onSubmit} />);
    fireEvent.change(screen.getByLabelText("New dashboard"), { target: { value: "  Sales  " } });
    fireEvent.submit(screen.getByRole("form", { name: "Create a dashboard" }));
    await waitFor(() => expect(screen.getByLabelText("New dashboard").getAttribute("aria-invalid")).toBe("true"));
    expect(onSubmit).toHaveBeenCalledWith("Sales");
    expect(screen.getByRole("alert").textContent).toBe("a dashboard of that name exists");
    expect(screen.getByLabelText("New dashboard").getAttribute("aria-describedby")).toBe("n-error");
  });
});

describe("an insight's total", () => {
  it("is a count, or amounts with their currency code", () => {
    expect(formatTotal({ total: [{ currency: null, value: 1234 }] })).toBe(formatNumber(1234));
    expect(formatTotal({ total: [{ currency: "GBP", value: "25.5" }, { currency: "EUR", value: "10.00" }] })).toMatch(/^GBP.*25\.50 · EUR.*10\.00$/);
    expect(formatTotal({ total: [] })).toBe("–");
  });
});
