import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter, Route, Routes, useLocation } from "react-router";
import { Client, fetchExchange, Provider, subscriptionExchange } from "urql";
import { afterEach, describe, expect, it, vi } from "vitest";
import Activity from "./pages/Activity";
import { SessionContext, type Session } from "./session";

afterEach(cleanup);

const edge = (id: string, at: string, extra: Record<string, unknown> = {}) => ({
  __typename: "ActivityEdge",
  cursor: `cursor-${id}`,
  node: {
    __typename: "ActivityEvent",
    id,
    at,
    kind: "VISIT",
    type: "visit",
    class: "FUNNEL",
    orderId: null,
    customerId: `cust-${id}`,
    detail: "Web Marketplace",
    amount: null,
    integration: { __typename: "Integration", id: "i1", name: "Web Marketplace" },
    device: null,
    customer: { __typename: "Customer", id: `cust-${id}`, email: `${id}@example.com`, displayName: id },
    ...extra,
  },
});

const page = (edges: unknown[], hasNextPage: boolean) => ({
  __typename: "ActivityConnection",
  pageInfo: { __typename: "PageInfo", hasNextPage },
  edges,
});

const TYPES = [
  { __typename: "EventType", name: "visit", class: "funnel" },
  { __typename: "EventType", name: "page_view", class: "behaviour" },
];

const session = {
  me: { role: "ADMIN" },
  organisation: { timeZone: "Europe/London" },
} as unknown as Session;

function Where() {
  const location = useLocation();
  return <output data-testid="where">{location.search}</output>;
}

describe("the activity feed page", () => {
  it("lists the API's events with links, loads more, takes live pushes and keeps its filter in the URL", async () => {
    const sent: { name: string; variables: Record<string, unknown> }[] = [];
    let push: ((value: unknown) => void) | null = null;
    const fetchFn = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
      const body = JSON.parse(String(init?.body)) as { operationName: string; variables: Record<string, unknown> };
      sent.push({ name: body.operationName, variables: body.variables });
      const filter = body.variables.filter as { classes?: string[] } | null;
      let data: unknown;
      if (body.operationName === "ActivityPage" && filter?.classes?.[0] === "BEHAVIOUR") {
        data = {
          eventTypes: TYPES,
          activity: page([edge("b1", "2026-12-01T09:00:00+00:00", { kind: "PAGE_VIEW", type: "page_view", class: "BEHAVIOUR" })], false),
        };
      } else if (body.operationName === "ActivityPage") {
        data = {
          eventTypes: TYPES,
          activity: page(
            [
              edge("e3", "2026-12-01T10:03:00+00:00", { kind: "ORDER_PLACED", type: "order_placed", orderId: "order-1" }),
              edge("e2", "2026-12-01T10:02:00+00:00"),
            ],
            true,
          ),
        };
      } else if (body.operationName === "ActivityMore") {
        data = { activity: page([edge("e1", "2026-12-01T10:01:00+00:00")], false) };
      } else {
        throw new Error(`unexpected ${body.operationName}`);
      }
      return new Response(JSON.stringify({ data }), { headers: { "content-type": "application/json" } });
    });
    const client = new Client({
      url: "http://test/graphql",
      preferGetMethod: false,
      requestPolicy: "network-only",
      fetch: fetchFn as typeof fetch,
      exchanges: [
        fetchExchange,
        subscriptionExchange({
          forwardSubscription: () => ({
            subscribe: (sink) => {
              push = (value) => sink.next(value as never);
              return { unsubscribe: () => (push = null) };
            },
          }),
        }),
      ],
    });
    render(
      <Provider value={client}>
        <SessionContext.Provider value={session}>
          <MemoryRouter initialEntries={["/customers/activity"]}>
            <Routes>
              <Route
                path="/customers/activity"
                element={
                  <>
                    <Activity />
                    <Where />
                  </>
                }
              />
            </Routes>
          </MemoryRouter>
        </SessionContext.Provider>
      </Provider>,
    );
    const items = () => [...document.querySelectorAll("ol.activity-feed > li")].map((li) => li.getAttribute("data-event"));
    await waitFor(() => expect(items()).toEqual(["e3", "e2"]));
    expect(screen.getByRole("link", { name: "e3@example.com" }).getAttribute("href")).toBe("/customers/cust-e3");
    expect(screen.getByRole("link", { name: /^Order/ }).getAttribute("href")).toBe("/orders/order-1");

    // Load more: the next page after the oldest shown, appended
    fireEvent.click(screen.getByRole("button", { name: "Load more" }));
    await waitFor(() => expect(items()).toEqual(["e3", "e2", "e1"]));
    await waitFor(() => expect(document.activeElement?.getAttribute("data-event")).toBe("e1")); // focus on what came
    expect(sent.find((s) => s.name === "ActivityMore")?.variables).toEqual({ filter: null, first: 50, after: "cursor-e2" });
    expect(screen.getByText("No older events.")).toBeTruthy();

    // Live: the pushed first page's new entry joins the top, the loaded pages stay
    await waitFor(() => expect(push).not.toBeNull());
    act(() => push?.({ data: { activity: page([edge("e4", "2026-12-01T10:04:00+00:00"), edge("e3", "2026-12-01T10:03:00+00:00")], true) } }));
    await waitFor(() => expect(items()).toEqual(["e4", "e3", "e2", "e1"]));
    expect(document.querySelector(".live")?.textContent).toContain("1 new event arrived");

    // A class filter goes into the URL and the list is that filter's
    fireEvent.click(screen.getByRole("button", { name: "User behaviour" }));
    await waitFor(() => expect(screen.getByTestId("where").textContent).toBe("?class=BEHAVIOUR"));
    await waitFor(() => expect(items()).toEqual(["b1"]));
    expect(sent.filter((s) => s.name === "ActivityPage").at(-1)?.variables).toEqual({ filter: { classes: ["BEHAVIOUR"] }, first: 50 });
    // the type list offers that class's types only
    const types = [...(screen.getByLabelText("Event type") as HTMLSelectElement).options].map((o) => o.value);
    expect(types).toEqual(["", "page_view"]);
  });
});

describe("the activity feed's states", () => {
  function renderWith(answer: (name: string) => unknown, entry = "/customers/activity") {
    const fetchFn = async (_url: RequestInfo | URL, init?: RequestInit) => {
      const body = JSON.parse(String(init?.body)) as { operationName: string };
      return new Response(JSON.stringify(answer(body.operationName)), { headers: { "content-type": "application/json" } });
    };
    const client = new Client({
      url: "http://test/graphql",
      preferGetMethod: false,
      requestPolicy: "network-only",
      fetch: fetchFn as typeof fetch,
      exchanges: [fetchExchange, subscriptionExchange({ forwardSubscription: () => ({ subscribe: () => ({ unsubscribe: () => {} }) }) })],
    });
    render(
      <Provider value={client}>
        <SessionContext.Provider value={session}>
          <MemoryRouter initialEntries={[entry]}>
            <Routes>
              <Route path="/customers/activity" element={<Activity />} />
            </Routes>
          </MemoryRouter>
        </SessionContext.Provider>
      </Provider>,
    );
  }

  it("says when the backing service is unavailable, with a retry", async () => {
    renderWith(() => ({ data: null, errors: [{ message: "insights is down", extensions: { code: "UNAVAILABLE", requestId: "rid-7" } }] }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("A backing service is unavailable");
    expect(alert.textContent).toContain("rid-7");
    expect(screen.getByRole("button", { name: "Try again" })).toBeTruthy();
  });

  it("tells an empty filter from an empty feed, naming the way back", async () => {
    renderWith(() => ({ data: { eventTypes: TYPES, activity: page([], false) } }), "/customers/activity?class=BUSINESS");
    expect((await screen.findByText("No event of this kind yet.")).textContent).toBeTruthy();
    expect(screen.getByText("Choose Everything or All types to see every event.")).toBeTruthy();
    cleanup();
    renderWith(() => ({ data: { eventTypes: TYPES, activity: page([], false) } }));
    expect(await screen.findByText("No event yet.")).toBeTruthy();
  });
});
