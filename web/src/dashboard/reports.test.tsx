import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ColumnEditor } from "./pages/Reports";
import { ScheduleForm } from "./pages/ReportSchedules";
import {
  aggregatesParam,
  checkDraft,
  customColumns,
  decodeConfig,
  describeTiming,
  draftOf,
  emptyDraft,
  encodeConfig,
  errorsOnFields,
  moveItem,
  parseAggregates,
  parseChoices,
  reportEntities,
  reportLink,
  scheduleInput,
  withAggregate,
} from "./reports";

afterEach(cleanup);

describe("moving a column", () => {
  it("moves forwards and backwards, clamps the target and leaves the list alone when nothing moves", () => {
    expect(moveItem(["a", "b", "c", "d"], 0, 2)).toEqual(["b", "c", "a", "d"]);
    expect(moveItem(["a", "b", "c", "d"], 3, 1)).toEqual(["a", "d", "b", "c"]);
    expect(moveItem(["a", "b", "c"], 1, 9)).toEqual(["a", "c", "b"]);
    expect(moveItem(["a", "b", "c"], 1, -4)).toEqual(["b", "a", "c"]);
    expect(moveItem(["a", "b"], 5, 0)).toEqual(["a", "b"]);
    const list = ["a", "b"];
    expect(moveItem(list, 1, 1)).not.toBe(list);
  });
});

const labels: Record<string, string> = { a: "Amount", b: "Buyer", c: "Currency" };
function editor(columns: string[], onChange = vi.fn()) {
  render(<ColumnEditor columns={columns} label={(k) => labels[k] ?? k} onChange={onChange} addable={[{ key: "d", label: "Day" }]} />);
  return onChange;
}

describe("the column editor", () => {
  it("reorders by drag and drop and announces the move", () => {
    const onChange = editor(["a", "b", "c"]);
    const items = screen.getAllByRole("listitem");
    const data = new Map<string, string>();
    const dataTransfer = { setData: (t: string, v: string) => data.set(t, v), getData: (t: string) => data.get(t) ?? "", effectAllowed: "", dropEffect: "" };
    fireEvent.dragStart(items[2]!, { dataTransfer });
    fireEvent.dragOver(items[0]!, { dataTransfer });
    fireEvent.drop(items[0]!, { dataTransfer });
    expect(onChange).toHaveBeenCalledWith(["c", "a", "b"]);
    expect(screen.getByTestId("column-announcement").textContent).toBe("Currency moved to position 1 of 3.");
  });

  it("moves with the keyboard's buttons, the ends disabled, and adds a column", () => {
    const onChange = editor(["a", "b", "c"]);
    expect((screen.getByRole("button", { name: "Up Amount" }) as HTMLButtonElement).disabled).toBe(true);
    expect((screen.getByRole("button", { name: "Down Currency" }) as HTMLButtonElement).disabled).toBe(true);
    fireEvent.click(screen.getByRole("button", { name: "Down Amount" }));
    expect(onChange).toHaveBeenLastCalledWith(["b", "a", "c"]);
    expect(screen.getByTestId("column-announcement").textContent).toBe("Amount moved to position 2 of 3.");
    fireEvent.change(screen.getByLabelText("Add a column"), { target: { value: "d" } });
    expect(onChange).toHaveBeenLastCalledWith(["a", "b", "c", "d"]);
  });
});

const report = (key: string, kind: "ITEMISED" | "ANALYTICAL", types: string[] = []) => ({ key, kind, types, customFields: true, contactCustomFields: true });
const fields = [
  { entity: "order", key: "channel", name: "Channel" },
  { entity: "customer", key: "tier", name: "Tier" },
  { entity: "invoice", key: "po", name: "PO number" },
];

describe("custom-field columns", () => {
  it("offers the rows' entity's fields and the contact's, none in analytical reports", () => {
    expect(customColumns(report("orders_with_commission", "ITEMISED"), fields)).toEqual([
      { key: "custom.channel", label: "Custom: Channel" },
      { key: "contact.custom.tier", label: "Contact custom: Tier" },
    ]);
    expect(reportEntities(report("financial_transactions", "ITEMISED", ["invoice", "payment"]))).toEqual(["invoice", "payment"]);
    expect(customColumns(report("financial_transactions", "ITEMISED", ["invoice"]), fields).map((c) => c.key)).toEqual(["custom.po", "contact.custom.tier"]);
    expect(customColumns(report("revenue_per_period", "ANALYTICAL"), fields)).toEqual([]);
    expect(parseChoices(" gold, silver,,gold\nbronze ")).toEqual(["gold", "silver", "bronze"]);
  });
});

describe("the schedule's configuration and input", () => {
  it("carries a report's configuration through a link and refuses what is not one", () => {
    const config = { report: "orders_with_commission", columns: ["a", "b"], grouping: ["status"], filters: { range: { preset: "LAST_7_DAYS" } } };
    expect(decodeConfig(encodeConfig(config))).toEqual(config);
    expect(decodeConfig("{not json")).toBeNull();
    expect(decodeConfig(JSON.stringify({ columns: ["a"] }))).toBeNull();
    expect(decodeConfig(null)).toBeNull();
  });

  it("sends only the timing fields its cadence uses", () => {
    const d = { ...emptyDraft({ report: "leads", columns: ["a"], grouping: [] }, "Europe/London"), name: " Weekly leads ", memberIds: ["m1"], teamIds: ["t1"] };
    expect(scheduleInput(d)).toEqual({
      name: "Weekly leads",
      format: "CSV",
      report: { report: "leads", columns: ["a"] },
      cadence: "WEEKLY",
      timeZone: "Europe/London",
      time: "08:00",
      weekday: 1,
      memberIds: ["m1"],
      teamIds: ["t1"],
    });
    const cron = scheduleInput({ ...d, cadence: "CRON", cron: " 0 8 * * 1-5 " });
    expect(cron).toMatchObject({ cron: "0 8 * * 1-5" });
    expect(cron).not.toHaveProperty("time");
    expect(cron).not.toHaveProperty("weekday");
    expect(scheduleInput({ ...d, cadence: "MONTHLY", dayOfMonth: "31" })).toMatchObject({ dayOfMonth: 31, time: "08:00" });
  });

  it("checks the form before asking, maps the API's errors to fields and reads a stored schedule back", () => {
    const d = emptyDraft({ report: "" }, "UTC");
    expect(Object.keys(checkDraft({ ...d, time: "25:00" })).sort()).toEqual(["name", "report", "time"]);
    expect(checkDraft({ ...d, name: "x", report: { report: "leads" }, cadence: "CRON", cron: "* *" })).toHaveProperty("cron");
    expect(checkDraft({ ...d, name: "x", report: { report: "leads" }, cadence: "MONTHLY", dayOfMonth: "0" })).toHaveProperty("dayOfMonth");
    expect(checkDraft({ ...d, name: "x", report: { report: "leads" } })).toEqual({});
    expect(
      errorsOnFields([
        { field: "input.memberIds[1]", message: "is not a member" },
        { field: "input.report.columns[0]", message: "unknown column" },
        { field: "input.cron", message: "too often" },
        { field: null, message: "try again" },
      ]),
    ).toEqual({ memberIds: "is not a member", report: "unknown column", cron: "too often", form: "try again" });
    const stored = draftOf({
      name: "N",
      format: "PDF",
      cadence: "MONTHLY",
      timeZone: "Asia/Tokyo",
      time: "06:30",
      weekday: null,
      dayOfMonth: 15,
      cron: null,
      memberIds: ["m"],
      teamIds: [],
      report: { report: "leads", grouping: ["state"] },
    });
    expect(stored).toMatchObject({ name: "N", format: "PDF", cadence: "MONTHLY", time: "06:30", dayOfMonth: "15", timeZone: "Asia/Tokyo" });
    expect(stored.report).toMatchObject({ report: "leads", grouping: ["state"] });
    expect(describeTiming({ cadence: "WEEKLY", timeZone: "America/New_York", time: "09:15", weekday: 5 })).toBe("Every Friday at 09:15 (America/New York)");
  });
});

describe("a grouped report's summaries", () => {
  it("read one function per column from the URL, ignore unknown ones, and travel with the schedule when grouped", () => {
    expect(parseAggregates("amount:AVERAGE,created_at:MAX,amount:SUM,x:MEDIAN,bad")).toEqual([
      { column: "amount", function: "AVERAGE" },
      { column: "created_at", function: "MAX" },
    ]);
    const list = withAggregate(parseAggregates("amount:AVERAGE"), "amount", "MIN");
    expect(aggregatesParam(list)).toBe("amount:MIN");
    expect(withAggregate(list, "amount", "")).toEqual([]);
    const config = { report: "leads", columns: ["a"], grouping: ["state"], aggregates: [{ column: "a", function: "MAX" as const }] };
    expect(decodeConfig(encodeConfig(config))).toMatchObject(config);
    const d = { ...emptyDraft(config, "UTC"), name: "x" };
    expect(scheduleInput(d).report).toEqual({ report: "leads", columns: ["a"], grouping: ["state"], aggregates: [{ column: "a", function: "MAX" }] });
    expect(scheduleInput({ ...d, report: { ...config, grouping: [] } }).report).not.toHaveProperty("aggregates");
    expect(reportLink(config)).toBe("/reports/leads?columns=a&group=state&agg=a%3AMAX");
  });
});

describe("a configuration as the report page's URL", () => {
  it("puts the columns, grouping and filters where the page reads them", () => {
    const link = reportLink({
      report: "event_log",
      columns: ["a", "custom.tier"],
      grouping: ["type"],
      filters: { range: { from: "2026-11-01", to: "2026-11-30" }, statuses: ["posted"], types: ["purchase"], interval: "WEEK", segmentId: "s1" },
    });
    const [path, query] = link.split("?");
    expect(path).toBe("/reports/event_log");
    expect(Object.fromEntries(new URLSearchParams(query))).toEqual({
      from: "2026-11-01",
      to: "2026-11-30",
      columns: "a,custom.tier",
      group: "type",
      status: "posted",
      type: "purchase",
      interval: "WEEK",
      segment: "s1",
    });
    expect(reportLink({ report: "leads", filters: { range: { preset: "LAST_7_DAYS" } } })).toBe("/reports/leads?preset=LAST_7_DAYS");
    expect(reportLink({ report: "leads" })).toBe("/reports/leads");
  });
});

describe("the schedule form", () => {
  const lists = {
    timeZones: ["Europe/London", "UTC"],
    members: [
      { id: "m1", email: "ann@example.com", status: "ACTIVE" },
      { id: "m2", email: "bob@example.com", status: "ACTIVE" },
    ],
    teams: [{ id: "t1", name: "Finance", members: [{}, {}] }],
  };
  const reports = [{ key: "leads", name: "Leads" }];

  it("sends the chosen recipients and timing, and shows the API's refusals on their fields", async () => {
    const onSubmit = vi.fn(async () => errorsOnFields([{ field: "input.teamIds[0]", message: "no such team" }, { field: "input.name", message: "taken" }]));
    const { container } = render(
      <ScheduleForm initial={emptyDraft({ report: "leads", columns: ["a"] }, "UTC")} lists={lists} reports={reports} editing={false} onSubmit={onSubmit} onCancel={() => {}} />,
    );
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "Leads daily" } });
    fireEvent.change(screen.getByLabelText("Frequency"), { target: { value: "DAILY" } });
    fireEvent.change(screen.getByLabelText("Time zone"), { target: { value: "Europe/London" } });
    fireEvent.click(screen.getByLabelText("bob@example.com"));
    fireEvent.click(screen.getByLabelText(/Finance/));
    expect(screen.queryByLabelText("Day")).toBeNull();
    fireEvent.submit(container.querySelector("form")!);
    await waitFor(() => expect(screen.getByLabelText("Name").getAttribute("aria-invalid")).toBe("true"));
    expect(onSubmit).toHaveBeenCalledWith(
      expect.objectContaining({ name: "Leads daily", cadence: "DAILY", timeZone: "Europe/London", memberIds: ["m2"], teamIds: ["t1"] }),
    );
    const alerts = screen.getAllByRole("alert").map((a) => a.textContent);
    expect(alerts).toEqual(expect.arrayContaining(["no such team", "taken"]));
  });

  it("does not ask the API while the form itself is incomplete", async () => {
    const onSubmit = vi.fn(async () => ({}));
    const { container } = render(<ScheduleForm initial={emptyDraft({ report: "leads" }, "UTC")} lists={lists} reports={reports} editing={false} onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.submit(container.querySelector("form")!);
    await waitFor(() => expect(screen.getByText("Give the schedule a name.")).toBeTruthy());
    expect(onSubmit).not.toHaveBeenCalled();
  });
});
