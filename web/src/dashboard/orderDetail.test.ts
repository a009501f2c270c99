import { describe, expect, it } from "vitest";
import { changedBy } from "./pages/OrderDetail";

const known = {
  integration: { id: "0c3e6d1a-0000-4000-8000-000000000001", name: "Web Marketplace" },
  providers: new Map([["9f1b2c3d-0000-4000-8000-000000000002", "Acme Bank"]]),
  me: { subject: "dev|staff-1", email: "staff@acme-bank.example" },
};

describe("who made an order's history line, in words", () => {
  it("names the integration and the provider the page knows, never a raw id", () => {
    expect(changedBy({ source: "integration", actor: `integration:${known.integration.id}` }, known)).toBe("Integration Web Marketplace");
    expect(changedBy({ source: "integration", actor: `integration:${known.integration.id}` }, { ...known, integration: null })).toBe("The partner's integration");
    expect(changedBy({ source: "provider", actor: "provider:9f1b2c3d-0000-4000-8000-000000000002" }, known)).toBe("Provider Acme Bank (webhook)");
    expect(changedBy({ source: "provider", actor: "provider:00000000-0000-4000-8000-00000000dead" }, known)).toBe("Provider (webhook)");
  });

  it("names a provider user (the signed-in one by email), the operator and demo data", () => {
    const manual = { source: "manual", onBehalfOfProviderName: "Acme Bank" };
    expect(changedBy({ ...manual, actor: "user:dev|staff-1" }, known)).toBe("Provider user staff@acme-bank.example (you) for Acme Bank");
    expect(changedBy({ ...manual, actor: "user:dev|someone-else" }, known)).toBe("A provider user for Acme Bank");
    expect(changedBy({ source: "operator", actor: "operator", onBehalfOfProviderName: "Acme Bank" }, known)).toBe("Operator for Acme Bank");
    expect(changedBy({ source: "operator", actor: "operator" }, known)).toBe("Operator");
    expect(changedBy({ source: "demo", actor: null }, known)).toBe("Demo data");
    for (const h of [{ source: "integration", actor: "integration:x" }, { source: "manual", actor: "user:dev|other" }]) {
      expect(changedBy(h, known)).not.toMatch(/[0-9a-f]{8}-|user:|integration:/);
    }
  });
});
