import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { MemoryRouter } from "react-router";
import { CombinedError } from "urql";
import { afterEach, describe, expect, it, vi } from "vitest";
import NotFound from "./pages/NotFound";
import { errorMessage, isChunkLoadError, PageErrorBoundary } from "./states";

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

function Boom({ error }: { error: Error }): React.ReactNode {
  throw error;
}

function Harness({ error }: { error: Error }) {
  const [path, setPath] = useState("/a");
  return (
    <>
      <button type="button" onClick={() => setPath("/b")}>
        Navigate
      </button>
      <PageErrorBoundary resetKey={path}>{path === "/a" ? <Boom error={error} /> : <p>The other page</p>}</PageErrorBoundary>
    </>
  );
}

describe("the page error boundary", () => {
  it("shows a message and Reload, not a blank, when a page throws; the next navigation clears it", () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    render(<Harness error={new TypeError("Cannot read properties of undefined (reading 'x')")} />);
    const alert = screen.getByRole("alert");
    expect(alert.textContent).toContain("This page stopped working");
    expect(alert.textContent).not.toContain("Cannot read properties");
    expect(screen.getByRole("button", { name: "Reload" })).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Navigate" }));
    expect(screen.queryByRole("alert")).toBeNull();
    expect(screen.getByText("The other page")).toBeTruthy();
  });

  it("says a new version is available when a page's chunk no longer loads", () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    render(<Harness error={new TypeError("Failed to fetch dynamically imported module: https://x/assets/Reports-abc.js")} />);
    expect(screen.getByRole("alert").textContent).toContain("A new version of the dashboard is available");
  });

  it("tells chunk failures of each browser from other errors", () => {
    expect(isChunkLoadError(new TypeError("Importing a module script failed."))).toBe(true);
    expect(isChunkLoadError(new TypeError("error loading dynamically imported module"))).toBe(true);
    expect(isChunkLoadError(new Error("Unable to preload CSS for /assets/x.css"))).toBe(true);
    expect(isChunkLoadError(new Error("x is undefined"))).toBe(false);
  });
});

describe("error messages for people", () => {
  it("never shows urql's raw text; known codes have their sentence", () => {
    const network = new CombinedError({ networkError: new TypeError("Failed to fetch") });
    expect(network.message).toContain("[Network]");
    expect(errorMessage(network)).toBe("The platform could not be reached. Check your connection, then try again.");
    const forbidden = new CombinedError({ graphQLErrors: [{ message: "forbidden", extensions: { code: "FORBIDDEN" } }] });
    expect(errorMessage(forbidden, "x")).toBe("This needs another role. Ask an admin of your organisation.");
  });

  it("an unknown code: the fallback, with the code and request id for Support", () => {
    const odd = new CombinedError({ graphQLErrors: [{ message: "boom internals", extensions: { code: "INTERNAL", requestId: "r-9" } }] });
    expect(errorMessage(odd, "The schedule could not be saved; try again.")).toBe("The schedule could not be saved; try again. (code INTERNAL, request r-9)");
    expect(errorMessage(odd)).not.toContain("boom internals");
    const plain = new CombinedError({ graphQLErrors: [{ message: "[GraphQL] something" }] });
    expect(errorMessage(plain, "Not saved.")).toBe("Not saved.");
  });
});

describe("an address with no page", () => {
  it("is 'Page not found' with links to its section and to Analytics", () => {
    render(
      <MemoryRouter initialEntries={["/reports/nope/deeper"]}>
        <NotFound />
      </MemoryRouter>,
    );
    expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("Page not found");
    expect(screen.getByRole("link", { name: "Go to Reports" }).getAttribute("href")).toBe("/reports");
    expect(screen.getByRole("link", { name: "Go to Analytics" }).getAttribute("href")).toBe("/analytics");
    expect(document.body.textContent).not.toContain("coming");
  });

  it("outside every section: Analytics only", () => {
    render(
      <MemoryRouter initialEntries={["/nowhere"]}>
        <NotFound />
      </MemoryRouter>,
    );
    expect(screen.getAllByRole("link").map((a) => a.textContent)).toEqual(["Go to Analytics"]);
  });
});
