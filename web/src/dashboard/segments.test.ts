import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { createElement } from "react";
import { MemoryRouter } from "react-router";
import { Client, fetchExchange, Provider } from "urql";
import { afterEach, describe, expect, it, vi } from "vitest";
import Segments from "./pages/Segments";
import { SessionContext, type Session } from "./session";
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

// The Segments page over a fake API (no JSX here: this file is .ts): a hand-made static segment's members are
// removed and added on its Members list, each change sending the whole list back (updateSegment's
// customerIds); a refusal is shown, and an imported list is not offered for editing.
describe("a static segment's members on the Segments page", () => {
  type Member = { id: string; email: string };
  const people: Member[] = [
    { id: "c1", email: "one@example.com" },
    { id: "c2", email: "two@example.com" },
    { id: "c3", email: "three@example.com" },
  ];

  function fakeApi(source: string, refuse = false) {
    let members = ["c1", "c2"];
    const updates: string[][] = [];
    const answer = (name: string, variables: Record<string, unknown>): unknown => {
      const segment = (withMembers: boolean) => ({
        __typename: "Segment",
        id: "s1",
        name: "VIP",
        kind: "STATIC",
        source,
        memberCount: members.length,
        ...(withMembers
          ? {
              members: {
                __typename: "SegmentMemberConnection",
                totalCount: members.length,
                pageInfo: { __typename: "PageInfo", hasNextPage: false, endCursor: null },
                nodes: members.map((id) => ({
                  __typename: "SegmentMember",
                  customerId: id,
                  customer: { __typename: "Customer", id, email: people.find((p) => p.id === id)?.email, displayName: id, lastSeen: "2026-11-30T10:00:00Z" },
                })),
              },
            }
          : { definition: null, computedAt: null, updatedAt: "2026-11-30T10:00:00Z" }),
      });
      switch (name) {
        case "SegmentsPage":
          return { integrations: [], eventTypes: [], segments: [segment(false)] };
        case "SegmentMembers":
          return { segment: segment(true) };
        case "SegmentCustomerPick":
          return {
            customers: {
              __typename: "CustomerConnection",
              nodes: people
                .filter((p) => p.email.startsWith(String(variables.search)))
                .map((p) => ({ __typename: "Customer", id: p.id, email: p.email, displayName: p.id })),
            },
          };
        case "UpdateSegment": {
          const ids = (variables.input as { customerIds: string[] }).customerIds;
          updates.push(ids);
          if (refuse) {
            return {
              updateSegment: {
                __typename: "SegmentPayload",
                segment: null,
                errors: [{ __typename: "UserError", field: "input.customerIds[0]", message: "customer not found" }],
              },
            };
          }
          members = ids;
          return { updateSegment: { __typename: "SegmentPayload", segment: { __typename: "Segment", id: "s1", memberCount: ids.length }, errors: [] } };
        }
        default:
          throw new Error(`unexpected ${name}`);
      }
    };
    const fetchFn = async (_url: RequestInfo | URL, init?: RequestInit) => {
      const body = JSON.parse(String(init?.body)) as { operationName: string; variables: Record<string, unknown> };
      return new Response(JSON.stringify({ data: answer(body.operationName, body.variables) }), { headers: { "content-type": "application/json" } });
    };
    const client = new Client({ url: "http://test/graphql", exchanges: [fetchExchange], fetch: fetchFn as typeof fetch, requestPolicy: "network-only", preferGetMethod: false });
    return { client, updates };
  }

  function renderPage(client: Client) {
    const session = { me: { role: "ADMIN" }, organisation: { timeZone: "Europe/London" } } as unknown as Session;
    return render(
      createElement(
        Provider,
        { value: client },
        createElement(
          SessionContext.Provider,
          { value: session },
          createElement(MemoryRouter, { initialEntries: ["/segments?segment=s1"] }, createElement(Segments)),
        ),
      ),
    );
  }

  const rows = () => [...document.querySelectorAll("tr[data-member]")].map((tr) => tr.getAttribute("data-member"));

  afterEach(() => {
    cleanup();
    vi.restoreAllMocks();
  });

  it("removes one (confirmed) and adds one found by email, sending the whole list each time", async () => {
    vi.spyOn(window, "confirm").mockReturnValue(true);
    const { client, updates } = fakeApi("manual");
    renderPage(client);
    await waitFor(() => expect(rows()).toEqual(["c1", "c2"]));
    fireEvent.click(screen.getByRole("button", { name: "Remove one@example.com from VIP" }));
    await waitFor(() => expect(rows()).toEqual(["c2"]));
    expect(updates).toEqual([["c2"]]);

    fireEvent.change(screen.getByLabelText("Customer to add"), { target: { value: "thr" } });
    fireEvent.click(screen.getByRole("button", { name: "Find" }));
    fireEvent.click(await screen.findByRole("button", { name: "Add three@example.com to VIP" }));
    await waitFor(() => expect(rows()).toEqual(["c2", "c3"]));
    expect(updates).toEqual([["c2"], ["c2", "c3"]]);
    expect(screen.getByText("three@example.com added to VIP.")).toBeTruthy();
    expect(screen.queryByRole("list", { name: "Customers found" })).toBeNull();
  });

  it("keeps the list when a removal is not confirmed, and shows a refusal on the member", async () => {
    const confirm = vi.spyOn(window, "confirm").mockReturnValue(false);
    const { client, updates } = fakeApi("manual", true);
    renderPage(client);
    await waitFor(() => expect(rows()).toEqual(["c1", "c2"]));
    fireEvent.click(screen.getByRole("button", { name: "Remove one@example.com from VIP" }));
    expect(updates).toEqual([]);
    confirm.mockReturnValue(true);
    fireEvent.click(screen.getByRole("button", { name: "Remove one@example.com from VIP" }));
    const row = await waitFor(() => {
      const tr = document.querySelector('tr[data-member="c1"]') as HTMLElement;
      expect(tr.querySelector('[role="alert"]')?.textContent).toContain("customer not found");
      return tr;
    });
    expect(row).toBeTruthy();
    expect(rows()).toEqual(["c1", "c2"]);
  });

  it("does not offer an imported list for editing", async () => {
    const { client } = fakeApi("mixpanel_cohort");
    renderPage(client);
    await waitFor(() => expect(rows()).toEqual(["c1", "c2"]));
    expect(screen.queryByRole("button", { name: /^Remove/ })).toBeNull();
    expect(screen.queryByLabelText("Customer to add")).toBeNull();
    expect(screen.getByText(/the next import replaces them/)).toBeTruthy();
  });
});
