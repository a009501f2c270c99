import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SegmentForm } from "./pages/Segments";
import { EMPTY_DRAFT, errorsByKey } from "./segments";

afterEach(cleanup);

const lists = { integrations: [{ id: "i1", name: "Web shop" }], eventTypes: [{ name: "visit" }, { name: "order_created" }] };

describe("the segment form", () => {
  it("sends the conditions filled in and shows the API's refusals on their fields", async () => {
    const onSubmit = vi.fn(async () =>
      errorsByKey([
        { field: "input.definition.events.0.lastDays", message: "at most 90 days" },
        { field: "input.name", message: "a segment of that name exists" },
      ]),
    );
    render(<SegmentForm lists={lists} initial={EMPTY_DRAFT} editing={false} submitLabel="Create segment" onSubmit={onSubmit} onCancel={() => {}} />);
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "Buyers" } });
    fireEvent.click(screen.getByLabelText("Web shop"));
    fireEvent.click(screen.getByRole("button", { name: "Add event condition" }));
    fireEvent.change(screen.getByLabelText("Event"), { target: { value: "order_created" } });
    fireEvent.change(screen.getByLabelText("in the last (days, up to 90)"), { target: { value: "120" } });
    fireEvent.submit(screen.getByRole("form", { name: "Create segment" }));
    await waitFor(() => expect(screen.getByLabelText("Name").getAttribute("aria-invalid")).toBe("true"));
    expect(onSubmit).toHaveBeenCalledWith(
      expect.objectContaining({ name: "Buyers", integrationIds: ["i1"], events: [{ type: "order_created", atLeast: "1", lastDays: "120" }] }),
    );
    expect(screen.getByLabelText("in the last (days, up to 90)").getAttribute("aria-invalid")).toBe("true");
    const alerts = screen.getAllByRole("alert").map((a) => a.textContent);
    expect(alerts).toContain("at most 90 days");
    expect(alerts).toContain("a segment of that name exists");
  });

  it("takes a static segment's ids and counts them", () => {
    render(<SegmentForm lists={lists} initial={EMPTY_DRAFT} editing={false} submitLabel="Create segment" onSubmit={async () => ({})} onCancel={() => {}} />);
    fireEvent.click(screen.getByLabelText(/Static/));
    fireEvent.change(screen.getByLabelText(/Customer ids/), { target: { value: "a\nb, a" } });
    expect(screen.getByText("2 ids")).toBeTruthy();
  });
});
