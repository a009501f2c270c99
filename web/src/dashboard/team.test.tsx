import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { CombinedError } from "urql";
import { afterEach, describe, expect, it, vi } from "vitest";
import { OrganisationChooser, switchTarget } from "./Shell";
import { candidates, TeamsView, teamErrors, unanswered, type FieldErrors, type TeamActions } from "./teams";

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

const orgs = [
  { organisationId: "o1", organisationName: "Acme Partners", role: "ADMIN" },
  { organisationId: "o2", organisationName: "Beta Deals", role: "MEMBER" },
];

describe("the organisation chooser", () => {
  it("is not there for a user of one organisation", () => {
    const { container } = render(<OrganisationChooser memberships={orgs.slice(0, 1)} current="o1" onChoose={() => {}} />);
    expect(container.innerHTML).toBe("");
  });

  it("lists every organisation, marks the current one and chooses another", () => {
    const onChoose = vi.fn();
    render(<OrganisationChooser memberships={orgs} current="o1" onChoose={onChoose} />);
    const toggle = screen.getByRole("button", { name: "Switch organisation" });
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    fireEvent.click(toggle);
    expect(toggle.getAttribute("aria-expanded")).toBe("true");
    const list = screen.getByRole("navigation", { name: "Your organisations" });
    const current = list.querySelector('[aria-current="true"]');
    expect(current?.textContent).toContain("Acme Partners");
    expect(within(list).queryByRole("button", { name: /Acme Partners/ })).toBeNull(); // the current one is no choice
    fireEvent.click(within(list).getByRole("button", { name: /Beta Deals/ }));
    expect(onChoose).toHaveBeenCalledWith("o2");
  });

  it("offers an invitation to join, even to a user of one organisation", () => {
    const onChoose = vi.fn();
    render(
      <OrganisationChooser
        memberships={orgs.slice(0, 1)}
        invitations={[{ organisationId: "o3", organisationName: "Gamma Loans", role: "ADMIN" }]}
        current="o1"
        onChoose={onChoose}
      />,
    );
    fireEvent.click(screen.getByRole("button", { name: "Switch organisation (1 invited)" }));
    const invitations = screen.getByRole("list", { name: "Invitations" });
    fireEvent.click(within(invitations).getByRole("button", { name: "Join Gamma Loans (as an admin)" }));
    expect(onChoose).toHaveBeenCalledWith("o3");
  });

  it("closes with Escape, focus back on its button", () => {
    render(<OrganisationChooser memberships={orgs} current="o2" onChoose={() => {}} />);
    const toggle = screen.getByRole("button", { name: "Switch organisation" });
    fireEvent.click(toggle);
    fireEvent.keyDown(screen.getByRole("button", { name: /Acme Partners/ }), { key: "Escape" });
    expect(screen.queryByRole("navigation", { name: "Your organisations" })).toBeNull();
    expect(document.activeElement).toBe(toggle);
  });

  it("lands on the same section, without the ids and filters of the organisation left", () => {
    expect(switchTarget("/orders/8d1f")).toBe("/orders");
    expect(switchTarget("/reports/contact_summary")).toBe("/reports");
    expect(switchTarget("/settings")).toBe("/settings");
    expect(switchTarget("/")).toBe("/");
    expect(switchTarget("/no-such-page")).toBe("/");
  });
});

const members = [
  { id: "m1", email: "ann@example.com", role: "ADMIN" as const },
  { id: "m2", email: "bob@example.com", role: "MEMBER" as const },
  { id: "m3", email: "staff@bank.example", role: "PROVIDER" as const },
];
const sales = { id: "t1", name: "Sales", members: [{ id: "m1", email: "ann@example.com", role: "ADMIN" as const }] };

function actions(overrides: Partial<TeamActions> = {}): TeamActions {
  return {
    create: vi.fn(async () => ({})),
    rename: vi.fn(async () => ({})),
    add: vi.fn(async () => ({})),
    remove: vi.fn(async () => ({})),
    delete: vi.fn(async () => ({})),
    ...overrides,
  };
}

describe("the teams", () => {
  it("keys the API's refusals by field, ids belonging to the form", () => {
    expect(teamErrors([{ field: "name", message: "taken" }, { field: "teamId", message: "not found" }, { field: null, message: "x" }])).toEqual({
      name: "taken",
      form: "not found x",
    });
  });

  it("offers only members outside the team who may join (no provider staff)", () => {
    expect(candidates(sales, members).map((m) => m.id)).toEqual(["m2"]);
  });

  it("says why a change had no answer", () => {
    const unavailable = new CombinedError({ graphQLErrors: [{ message: "m", extensions: { code: "UNAVAILABLE" } }] });
    expect(unanswered(unavailable).form).toContain("unavailable");
    expect(unanswered(undefined).form).toContain("could not be made");
  });

  it("shows a refused name on the name field, then creates", async () => {
    const create = vi.fn(async (name: string): Promise<FieldErrors> => (name === "Sales" ? { name: "a team of that name exists" } : {}));
    render(<TeamsView teams={[sales]} members={members} admin actions={actions({ create })} />);
    const input = screen.getByLabelText("Team name");
    fireEvent.change(input, { target: { value: " Sales " } });
    fireEvent.submit(screen.getByRole("form", { name: "Create a team" }));
    await waitFor(() => expect(input.getAttribute("aria-invalid")).toBe("true"));
    expect(create).toHaveBeenCalledWith("Sales");
    expect(screen.getByRole("alert").textContent).toBe("a team of that name exists");
    expect(input.getAttribute("aria-describedby")).toBe("team-create-name-error");
    fireEvent.change(input, { target: { value: "Finance" } });
    fireEvent.submit(screen.getByRole("form", { name: "Create a team" }));
    await waitFor(() => expect(screen.getByRole("status").textContent).toBe("Team Finance created."));
    expect(input.getAttribute("aria-invalid")).toBe("false");
  });

  it("renames, adds and removes members, and deletes after confirmation", async () => {
    const a = actions({ rename: vi.fn(async (_id: string, name: string): Promise<FieldErrors> => (name === "" ? { name: "required" } : {})) });
    render(<TeamsView teams={[sales]} members={members} admin actions={a} />);
    fireEvent.click(screen.getByRole("button", { name: "Rename team Sales" }));
    fireEvent.change(screen.getByLabelText("New name"), { target: { value: "Sales EU" } });
    fireEvent.submit(screen.getByRole("form", { name: "Rename team Sales" }));
    await waitFor(() => expect(screen.getByRole("status").textContent).toBe("Team Sales renamed to Sales EU."));
    expect(a.rename).toHaveBeenCalledWith("t1", "Sales EU");
    expect(screen.queryByRole("form", { name: "Rename team Sales" })).toBeNull();

    const picker = screen.getByLabelText("Add a member");
    expect([...picker.querySelectorAll("option")].map((o) => o.textContent)).toEqual(["Choose…", "bob@example.com"]);
    fireEvent.submit(screen.getByRole("form", { name: "Add a member to Sales" }));
    await waitFor(() => expect(picker.getAttribute("aria-invalid")).toBe("true")); // nobody chosen: said on the field
    expect(a.add).not.toHaveBeenCalled();
    fireEvent.change(picker, { target: { value: "m2" } });
    fireEvent.submit(screen.getByRole("form", { name: "Add a member to Sales" }));
    await waitFor(() => expect(screen.getByRole("status").textContent).toBe("bob@example.com added to Sales."));
    expect(a.add).toHaveBeenCalledWith("t1", "m2");

    fireEvent.click(screen.getByRole("button", { name: "Remove ann@example.com from Sales" }));
    await waitFor(() => expect(screen.getByRole("status").textContent).toBe("ann@example.com removed from Sales."));
    expect(a.remove).toHaveBeenCalledWith("t1", "m1");

    const confirm = vi.spyOn(window, "confirm").mockReturnValueOnce(false).mockReturnValueOnce(true);
    fireEvent.click(screen.getByRole("button", { name: "Delete team Sales" }));
    expect(a.delete).not.toHaveBeenCalled(); // not confirmed
    fireEvent.click(screen.getByRole("button", { name: "Delete team Sales" }));
    await waitFor(() => expect(screen.getByRole("status").textContent).toBe("Team Sales deleted."));
    expect(confirm).toHaveBeenCalledTimes(2);
    expect(a.delete).toHaveBeenCalledWith("t1");
  }, 20_000); // many steps: a loaded 2-core machine has taken longer than the 5-s default

  it("is read-only for members, with an empty state that says who creates teams", () => {
    render(<TeamsView teams={[]} members={members} admin={false} actions={actions()} />);
    expect(screen.getByText("No teams yet.")).toBeTruthy();
    expect(screen.getByText(/An admin of your organisation creates them/)).toBeTruthy();
    expect(screen.queryByRole("form", { name: "Create a team" })).toBeNull();
  });
});
