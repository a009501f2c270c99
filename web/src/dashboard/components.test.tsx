import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { CombinedError } from "urql";
import { afterEach, describe, expect, it, vi } from "vitest";
import { gatewayFetch, recordFailure } from "./api";
import { RangePicker } from "./RangePicker";
import { ErrorState } from "./states";
import { applyPrimaryColour } from "./theme";

afterEach(cleanup);

function gatewayError(code: string, requestId = "req-1") {
  return new CombinedError({ graphQLErrors: [{ message: "m", extensions: { code, requestId } }] });
}

describe("error states", () => {
  it("tells a backing service outage from a refusal, with the request id", () => {
    render(<ErrorState error={gatewayError("UNAVAILABLE", "rid-42")} what="orders" />);
    expect(screen.getByRole("alert").textContent).toContain("A backing service is unavailable");
    expect(screen.getByRole("alert").textContent).toContain("rid-42");
  });

  it("offers a retry", () => {
    const retry = vi.fn();
    render(<ErrorState error={gatewayError("RATE_LIMITED")} what="orders" retry={retry} />);
    fireEvent.click(screen.getByRole("button", { name: "Try again" }));
    expect(retry).toHaveBeenCalledOnce();
  });

  it("has a generic message for an unknown code", () => {
    render(<ErrorState error={gatewayError("SOMETHING_NEW")} what="funnel" />);
    expect(screen.getByRole("alert").textContent).toContain("The funnel could not be loaded.");
  });
});

describe("the range picker", () => {
  it("marks the chosen preset and sends another", () => {
    const onChange = vi.fn();
    render(<RangePicker value={{ preset: "LAST_30_DAYS" }} onChange={onChange} />);
    expect(screen.getByRole("button", { name: "Last 30 days" }).getAttribute("aria-pressed")).toBe("true");
    fireEvent.click(screen.getByRole("button", { name: "Last 7 days" }));
    expect(onChange).toHaveBeenCalledWith({ preset: "LAST_7_DAYS" });
  });

  it("refuses a custom range that ends before it starts, naming why", () => {
    const onChange = vi.fn();
    render(<RangePicker value={{ preset: "TODAY" }} onChange={onChange} />);
    fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-02-10" } });
    fireEvent.change(screen.getByLabelText("To"), { target: { value: "2026-02-01" } });
    fireEvent.click(screen.getByRole("button", { name: "Apply" }));
    expect(onChange).not.toHaveBeenCalled();
    expect(screen.getByRole("alert").textContent).toContain("must not be after");
  });
});

describe("the gateway's refusals", () => {
  it("become GraphQL errors with their code, and 401 asks for sign-in", async () => {
    const answer = new Response(JSON.stringify({ error: { code: "UNAUTHENTICATED", message: "expired" } }), {
      status: 401,
      headers: { "x-request-id": "rid-7", "content-type": "application/json" },
    });
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(answer));
    const onUnauthenticated = vi.fn();
    const r = await gatewayFetch(onUnauthenticated)("/graphql", {});
    const body = (await r.json()) as { errors: { extensions: { code: string; requestId: string } }[] };
    expect(body.errors[0]?.extensions).toMatchObject({ code: "UNAUTHENTICATED", requestId: "rid-7" });
    expect(onUnauthenticated).toHaveBeenCalledOnce();
    vi.unstubAllGlobals();
    recordFailure({ requestId: null, code: "X", message: "", at: "" });
  });
});

describe("the primary colour", () => {
  it("sets the variables primary buttons use, with readable text", () => {
    applyPrimaryColour("#FFE600");
    expect(document.documentElement.style.getPropertyValue("--primary")).toBe("#FFE600");
    expect(document.documentElement.style.getPropertyValue("--on-primary")).toBe("#111111");
    applyPrimaryColour("not a colour");
    expect(document.documentElement.style.getPropertyValue("--primary")).toBe("#1E5EFF");
  });
});

describe("the Support entry", () => {
  it("shows the request id of the last failed call and the support address", async () => {
    const { Support } = await import("./Shell");
    recordFailure({ requestId: "rid-support-1", code: "UNAVAILABLE", message: "down", at: "2026-01-01T00:00:00Z" });
    render(<Support address="help@partner.example" />);
    fireEvent.click(screen.getByRole("button", { name: "Support" }));
    expect(screen.getByTestId("last-request-id").textContent).toBe("rid-support-1");
    expect(screen.getByRole("link", { name: "help@partner.example" }).getAttribute("href")).toBe("mailto:help@partner.example");
  });
});
