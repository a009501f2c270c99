import { describe, expect, it } from "vitest";
import { describeDefinition, draftOf, EMPTY_DRAFT, errorKey, errorsByKey, parseCustomerIds, segmentInput } from "./segments";

describe("segment drafts", () => {
  it("reads customer ids one per line or comma-separated, without blanks or repeats", () => {
    expect(parseCustomerIds(" a\nb, c\n\nb ;d ")).toEqual(["a", "b", "c", "d"]);
    expect(parseCustomerIds("  \n ")).toEqual([]);
  });

  it("sends only the conditions filled in, an empty 'at least' as once", () => {
    const input = segmentInput({
      ...EMPTY_DRAFT,
      name: "  Buyers ",
      integrationIds: ["i1"],
      lastFrom: "2026-11-01",
      events: [{ type: "checkout_completed", atLeast: "", lastDays: "30" }],
    });
    expect(input).toEqual({
      name: "Buyers",
      definition: {
        integrationIds: ["i1"],
        lastSeen: { from: "2026-11-01" },
        events: [{ type: "checkout_completed", atLeast: 1, lastDays: 30 }],
      },
    });
  });

  it("sends a static segment's list and no definition", () => {
    expect(segmentInput({ ...EMPTY_DRAFT, kind: "STATIC", name: "VIP", customerIds: "x\ny" })).toEqual({
      name: "VIP",
      customerIds: ["x", "y"],
    });
  });

  it("round-trips a stored definition into the form and back", () => {
    const definition = {
      integrationIds: ["i1", "i2"],
      firstSeen: { from: "2026-10-01", to: "2026-10-31" },
      events: [{ type: "page_view", atLeast: 3, lastDays: 7 }],
    };
    const draft = draftOf({ name: "Active", kind: "DYNAMIC", definition });
    expect(draft.events).toEqual([{ type: "page_view", atLeast: "3", lastDays: "7" }]);
    expect(segmentInput(draft).definition).toEqual(definition);
  });

  it("describes a definition in a line", () => {
    expect(describeDefinition(null)).toBe("everyone");
    expect(
      describeDefinition({ integrationIds: ["a"], lastSeen: { to: "2026-11-30" }, events: [{ type: "signup", lastDays: 30 }] }),
    ).toBe("1 integration · last seen to 2026-11-30 · signup ≥ 1× in 30 days");
  });

  it("maps the API's error paths to the form's fields, the unknown to the form", () => {
    expect(errorKey("input.definition.events[1].lastDays")).toBe("events.1.lastDays");
    expect(errorKey("input.definition.events.0.type")).toBe("events.0.type");
    expect(errorsByKey([{ field: "input.customerIds[1]", message: "customer not found" }], ["a", "b"])).toEqual({
      customerIds: "b: customer not found",
    });
    expect(errorKey("input.definition.lastSeen.from")).toBe("lastSeen");
    expect(errorKey("input.customerIds[2]")).toBe("customerIds");
    expect(errorKey("input.name")).toBe("name");
    expect(errorKey("something.else")).toBe("form");
    expect(errorKey(null)).toBe("form");
    expect(errorsByKey([{ field: "x", message: "A." }, { field: null, message: "B." }])).toEqual({ form: "A. B." });
  });
});
