import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { Client, fetchExchange, Provider } from "urql";
import { afterEach, describe, expect, it, vi } from "vitest";
import { cohortState, ConnectionCohorts, scheduleText } from "./connectionCohorts";

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

const HOUR = 3_600_000;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

const row = (cohortId: string, extra: Record<string, unknown> = {}) => ({
  __typename: "MixpanelCohortImport",
  cohortId,
  segmentId: `seg-${cohortId}`,
  everyMinutes: null,
  importedAt: ago(HOUR),
  members: 3,
  added: 3,
  removed: 0,
  unmatchedCount: 0,
  unmatched: [],
  ...extra,
});

/** A client answering each operation by name (a `{ data }` or `{ errors }` body), recording what was sent. */
function fakeClient(answers: Record<string, (variables: Record<string, unknown>) => unknown>) {
  const sent: { name: string; variables: Record<string, unknown> }[] = [];
  const fetchFn = vi.fn(async (_url: RequestInfo | URL, init?: RequestInit) => {
    const body = JSON.parse(String(init?.body)) as { operationName: string; variables: Record<string, unknown> };
    sent.push({ name: body.operationName, variables: body.variables });
    const answer = answers[body.operationName];
    if (!answer) throw new Error(`unexpected operation ${body.operationName}`);
    return new Response(JSON.stringify(answer(body.variables)), { headers: { "content-type": "application/json" } });
  });
  const client = new Client({ url: "http://test/graphql", exchanges: [fetchExchange], fetch: fetchFn as typeof fetch, requestPolicy: "network-only", preferGetMethod: false });
  return { client, sent };
}

function show(client: Client, paused = false) {
  render(
    <Provider value={client}>
      <MemoryRouter>
        <ConnectionCohorts connectionId="conn-1" projectId="4242" paused={paused} zone="Europe/London" />
      </MemoryRouter>
    </Provider>,
  );
}

const rows = () => [...document.querySelectorAll("tr[data-cohort]")].map((tr) => [tr.getAttribute("data-cohort"), tr.getAttribute("data-state")]);

describe("a Mixpanel connection's cohort imports", () => {
  it("lists every import with its segment linked, counts, schedule and state; an import refreshes the list", async () => {
    let imports = [
      row("7", { everyMinutes: 60, members: 1200, added: 5, removed: 2, unmatchedCount: 4, unmatched: ["anon-1", "anon-2", "anon-3", "anon-4"] }),
      row("9", { everyMinutes: 30, importedAt: ago(3 * HOUR), segmentId: "seg-gone" }),
    ];
    const { client, sent } = fakeClient({
      ConnectionCohortImports: () => ({
        data: {
          mixpanelCohortImports: imports,
          segments: [
            { __typename: "Segment", id: "seg-7", name: "Power users" },
            { __typename: "Segment", id: "seg-12", name: "Churn risk" },
          ],
        },
      }),
      ImportCohort: (v) => {
        if (v.everyMinutes === 5) {
          return { data: { importMixpanelCohort: { __typename: "MixpanelCohortImportPayload", cohortImport: null, errors: [{ __typename: "UserError", field: "everyMinutes", message: "at least every 15 minutes" }] } } };
        }
        imports = [...imports, row("12", { members: 2, unmatchedCount: 1, unmatched: ["x-1"] })];
        return {
          data: {
            importMixpanelCohort: {
              __typename: "MixpanelCohortImportPayload",
              cohortImport: { __typename: "MixpanelCohortImport", cohortId: "12", segmentId: "seg-12", members: 2, unmatchedCount: 1, unmatched: ["x-1"] },
              errors: [],
            },
          },
        };
      },
    });
    show(client);
    await waitFor(() => expect(rows()).toEqual([["7", "current"], ["9", "overdue"]]));
    expect(sent[0]).toEqual({ name: "ConnectionCohortImports", variables: { connectionId: "conn-1" } });
    const first = document.querySelector("tr[data-cohort='7']") as HTMLElement;
    expect(within(first).getByRole("link", { name: "Power users" }).getAttribute("href")).toBe("/segments?segment=seg-7");
    expect(first.textContent).toContain("every hour");
    expect(first.textContent).toContain("(+5 / −2)");
    expect(first.textContent).toContain("anon-1, anon-2, anon-3, …");
    expect(first.textContent).toMatch(/1[,.]?200/);
    const overdue = document.querySelector("tr[data-cohort='9']") as HTMLElement;
    expect(overdue.textContent).toContain("every 30 minutes");
    expect(overdue.textContent).toContain("Overdue");
    expect(overdue.textContent).toContain("Segment deleted");
    expect(within(overdue).queryByRole("link")).toBeNull();

    // A refused schedule: named on its field, nothing refreshed
    fireEvent.change(screen.getByLabelText("Cohort id"), { target: { value: "12" } });
    fireEvent.change(screen.getByLabelText("Segment name (first import)"), { target: { value: "Churn risk" } });
    const every = screen.getByLabelText(/^Re-import every/);
    fireEvent.change(every, { target: { value: "5" } });
    fireEvent.click(screen.getByRole("button", { name: "Import cohort" }));
    await waitFor(() => expect(every.getAttribute("aria-invalid")).toBe("true"));
    expect(document.getElementById(every.getAttribute("aria-describedby") ?? "")?.textContent).toBe("at least every 15 minutes");
    expect(sent.filter((s) => s.name === "ConnectionCohortImports")).toHaveLength(1);

    // Imported: the result said, the list read again with the new cohort
    fireEvent.change(every, { target: { value: "" } });
    fireEvent.click(screen.getByRole("button", { name: "Import cohort" }));
    await waitFor(() => expect(rows().map(([id]) => id)).toEqual(["7", "9", "12"]));
    expect(sent.find((s) => s.name === "ImportCohort" && s.variables.everyMinutes === null)?.variables).toEqual({
      connectionId: "conn-1",
      cohortId: "12",
      name: "Churn risk",
      everyMinutes: null,
    });
    expect(every.getAttribute("aria-invalid")).toBe("false");
    expect(screen.getByRole("status").textContent).toContain("2 matched, 1 unmatched (x-1)");
    expect(within(document.querySelector("tr[data-cohort='12']") as HTMLElement).getByRole("link", { name: "Churn risk" })).toBeTruthy();
  });

  it("says when nothing was imported yet, and what to do", async () => {
    const { client } = fakeClient({ ConnectionCohortImports: () => ({ data: { mixpanelCohortImports: [], segments: [] } }) });
    show(client);
    expect(await screen.findByText("No cohort imported from project 4242 yet.")).toBeTruthy();
    expect(screen.getByText(/Import one with its Mixpanel cohort id/)).toBeTruthy();
  });

  it("says when the insights service is unavailable, with a retry that asks again", async () => {
    let calls = 0;
    const { client } = fakeClient({
      ConnectionCohortImports: () => {
        calls += 1;
        return calls === 1
          ? { data: null, errors: [{ message: "insights is down", extensions: { code: "UNAVAILABLE", requestId: "rid-9" } }] }
          : { data: { mixpanelCohortImports: [row("3")], segments: [] } };
      },
    });
    show(client);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("A backing service is unavailable");
    expect(alert.textContent).toContain("rid-9");
    fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    await waitFor(() => expect(rows()).toEqual([["3", "current"]]));
  });

  it("shows the loading state until the imports arrive", async () => {
    const { client } = fakeClient({ ConnectionCohortImports: () => ({ data: { mixpanelCohortImports: [], segments: [] } }) });
    show(client);
    expect(screen.getByText("Loading cohort imports…")).toBeTruthy();
    await screen.findByText("No cohort imported from project 4242 yet.");
  });
});

describe("cohort import rules", () => {
  it("words a schedule", () => {
    expect(scheduleText(null)).toBe("on demand");
    expect(scheduleText(15)).toBe("every 15 minutes");
    expect(scheduleText(120)).toBe("every 2 hours");
    expect(scheduleText(1440)).toBe("every day");
    expect(scheduleText(2880)).toBe("every 2 days");
  });

  it("calls a schedule overdue after two periods and a quarter of an hour, paused with its connection", () => {
    const now = Date.parse("2026-12-01T12:00:00Z");
    const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString();
    expect(cohortState({ importedAt: at(134), everyMinutes: 60 }, false, now).kind).toBe("current");
    expect(cohortState({ importedAt: at(136), everyMinutes: 60 }, false, now).kind).toBe("overdue");
    expect(cohortState({ importedAt: at(136), everyMinutes: 60 }, true, now).kind).toBe("paused");
    expect(cohortState({ importedAt: at(100_000), everyMinutes: null }, false, now).kind).toBe("current");
    expect(cohortState({ importedAt: null, everyMinutes: 60 }, false, now).kind).toBe("never");
  });
});
