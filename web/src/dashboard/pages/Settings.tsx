// Settings (seed 000): marketplace URL, partner name, primary colour (applied to the app's primary buttons and
// links as soon as it is saved), base currency, time zone; then the team: members, roles, invite, remove.
// Admins change them; members see them. A refusal names the field at fault, next to it.
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { graphql } from "../../gql";
import type { Role, TeamPageQuery } from "../../gql/graphql";
import { formatDateTime } from "../format";
import { useSession } from "../session";
import { ErrorState, Loading } from "../states";
import { applyPrimaryColour } from "../theme";

const TeamPage = graphql(`
  query TeamPage {
    timeZones
    members {
      id
      email
      role
      status
      createdAt
    }
  }
`);

const UpdateSettings = graphql(`
  mutation UpdateSettings($input: SettingsInput!) {
    updateSettings(input: $input) {
      organisation {
        id
        name
        marketplaceUrl
        primaryColour
        baseCurrency
        timeZone
      }
      errors {
        field
        code
        message
      }
    }
  }
`);

const InviteMember = graphql(`
  mutation InviteMember($email: String!, $role: Role!) {
    inviteMember(email: $email, role: $role) {
      member {
        id
        email
      }
      errors {
        field
        message
      }
    }
  }
`);

const ChangeRole = graphql(`
  mutation ChangeRole($memberId: ID!, $role: Role!) {
    changeMemberRole(memberId: $memberId, role: $role) {
      member {
        id
        role
      }
      errors {
        field
        message
      }
    }
  }
`);

const RemoveMember = graphql(`
  mutation RemoveMember($memberId: ID!) {
    removeMember(memberId: $memberId) {
      removed
      errors {
        field
        message
      }
    }
  }
`);

type FieldErrors = Record<string, string>;

function OrganisationSettings({ timeZones }: { timeZones: readonly string[] }) {
  const { organisation, me, refresh } = useSession();
  const admin = me.role === "ADMIN";
  const [form, setForm] = useState({
    name: organisation.name,
    marketplaceUrl: organisation.marketplaceUrl ?? "",
    primaryColour: organisation.primaryColour,
    baseCurrency: organisation.baseCurrency,
    timeZone: organisation.timeZone,
  });
  const [errors, setErrors] = useState<FieldErrors>({});
  const [saved, setSaved] = useState(false);
  const [state, update] = useMutation(UpdateSettings);
  const save = async (event: React.FormEvent) => {
    event.preventDefault();
    setSaved(false);
    // Only what changed: an untouched field is left as it is (null in SettingsInput).
    const before: Record<string, string> = {
      name: organisation.name,
      marketplaceUrl: organisation.marketplaceUrl ?? "",
      primaryColour: organisation.primaryColour,
      baseCurrency: organisation.baseCurrency,
      timeZone: organisation.timeZone,
    };
    const input = Object.fromEntries(Object.entries(form).filter(([k, v]) => before[k] !== v));
    const result = await update({ input });
    const payload = result.data?.updateSettings;
    if (!payload) return setErrors({ form: result.error?.message ?? "The settings could not be saved; try again." });
    if (payload.errors.length > 0) {
      return setErrors(Object.fromEntries(payload.errors.map((e) => [e.field ?? "form", e.message])));
    }
    setErrors({});
    setSaved(true);
    applyPrimaryColour(payload.organisation?.primaryColour);
    refresh();
  };
  const field = (name: keyof typeof form, label: string, input: React.ReactNode) => (
    <div className="field">
      <label htmlFor={`settings-${name}`}>{label}</label>
      {input}
      {errors[name] ? (
        <span className="field-error" id={`settings-${name}-error`} role="alert">
          {errors[name]}
        </span>
      ) : null}
    </div>
  );
  const props = (name: keyof typeof form) => ({
    id: `settings-${name}`,
    value: form[name],
    disabled: !admin,
    "aria-invalid": Boolean(errors[name]),
    "aria-describedby": errors[name] ? `settings-${name}-error` : undefined,
    onChange: (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => setForm({ ...form, [name]: e.target.value }),
  });
  return (
    <form className="settings-form" onSubmit={(e) => void save(e)} aria-labelledby="organisation-title">
      <h2 id="organisation-title">Organisation</h2>
      {!admin ? <p className="muted">Only admins change these.</p> : null}
      {field("name", "Partner name", <input {...props("name")} />)}
      {field("marketplaceUrl", "Marketplace URL", <input type="url" {...props("marketplaceUrl")} />)}
      {field(
        "primaryColour",
        "Primary colour",
        <span className="colour-field">
          <input type="color" {...props("primaryColour")} id="settings-primaryColour-picker" aria-label="Pick the primary colour" />
          <input {...props("primaryColour")} pattern="#[0-9a-fA-F]{6}" />
        </span>,
      )}
      {field("baseCurrency", "Base currency", <input {...props("baseCurrency")} maxLength={3} />)}
      {field(
        "timeZone",
        "Time zone",
        <select {...props("timeZone")}>
          {(timeZones.includes(form.timeZone) ? timeZones : [form.timeZone, ...timeZones]).map((z) => (
            <option key={z} value={z}>
              {z}
            </option>
          ))}
        </select>,
      )}
      {errors.form ? (
        <p className="field-error" role="alert">
          {errors.form}
        </p>
      ) : null}
      {admin ? (
        <button type="submit" className="button primary" disabled={state.fetching}>
          {state.fetching ? "Saving…" : "Save settings"}
        </button>
      ) : null}
      {saved ? (
        <span role="status" className="saved">
          Saved.
        </span>
      ) : null}
    </form>
  );
}

function Team({ members, reload }: { members: TeamPageQuery["members"]; reload: () => void }) {
  const { organisation, me } = useSession();
  const admin = me.role === "ADMIN";
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("MEMBER");
  const [problem, setProblem] = useState<string | null>(null);
  const [, invite] = useMutation(InviteMember);
  const [, remove] = useMutation(RemoveMember);
  const [, changeRole] = useMutation(ChangeRole);
  const setRoleOf = async (id: string, next: Role) => {
    const result = await changeRole({ memberId: id, role: next });
    const err = result.data?.changeMemberRole.errors[0];
    setProblem(err ? err.message : result.data ? null : "The role could not be changed; try again.");
    reload();
  };
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const result = await invite({ email, role });
    const err = result.data?.inviteMember.errors[0];
    if (err || !result.data) return setProblem(err?.message ?? "The invitation could not be sent; try again.");
    setProblem(null);
    setEmail("");
    reload();
  };
  const drop = async (id: string, who: string) => {
    if (!window.confirm(`Remove ${who} from ${organisation.name}?`)) return;
    const result = await remove({ memberId: id });
    const err = result.data?.removeMember.errors[0];
    setProblem(err ? err.message : null);
    reload();
  };
  return (
    <section aria-labelledby="team-title">
      <h2 id="team-title">Team</h2>
      <div className="table-scroll" tabIndex={0} role="region" aria-label="Table (scrolls sideways on narrow screens)">
        <table>
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Status</th>
              <th scope="col">Since</th>
              {admin ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {members.map((m) => (
              <tr key={m.id}>
                <td>{m.email}</td>
                <td>
                  {admin && m.id !== me.memberId && m.role !== "PROVIDER" ? (
                    <select
                      aria-label={`Role of ${m.email}`}
                      value={m.role}
                      onChange={(e) => void setRoleOf(m.id, e.target.value as Role)}
                    >
                      <option value="MEMBER">member</option>
                      <option value="ADMIN">admin</option>
                    </select>
                  ) : (
                    m.role.toLowerCase()
                  )}
                </td>
                <td>{m.status.toLowerCase()}</td>
                <td>{formatDateTime(m.createdAt, organisation.timeZone)}</td>
                {admin ? (
                  <td>
                    {m.id !== me.memberId ? (
                      <button type="button" className="link-button" onClick={() => void drop(m.id, m.email)}>
                        Remove <span className="visually-hidden">{m.email}</span>
                      </button>
                    ) : (
                      <span className="muted">you</span>
                    )}
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {admin ? (
        <form className="invite" onSubmit={(e) => void submit(e)} aria-label="Invite a member">
          <label>
            Email <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
          </label>
          <label>
            Role{" "}
            <select value={role} onChange={(e) => setRole(e.target.value as Role)}>
              <option value="MEMBER">member</option>
              <option value="ADMIN">admin</option>
            </select>
          </label>
          <button type="submit" className="button primary">
            Invite
          </button>
        </form>
      ) : null}
      {problem ? (
        <p className="field-error" role="alert">
          {problem}
        </p>
      ) : null}
    </section>
  );
}

export default function Settings() {
  const [{ data, error }, refetch] = useQuery({ query: TeamPage });
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      {error && !data ? <ErrorState error={error} what="settings" retry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && !error ? <Loading what="settings" /> : null}
      {data ? (
        <>
          <OrganisationSettings timeZones={data.timeZones} />
          <Team members={data.members} reload={() => refetch({ requestPolicy: "network-only" })} />
        </>
      ) : null}
    </section>
  );
}
