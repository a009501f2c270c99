// Settings (seed 000): marketplace URL, partner name, primary colour (applied to the app's primary buttons and
// links as soon as it is saved), base currency, time zone; then the team: members, roles, invite, remove, the
// invitations still pending (when each was emailed; resend, revoke), and the teams (../teams.tsx). Admins change
// them; members see them. A refusal names the field at fault, next to it; every change says what it did.
import { useState } from "react";
import { useMutation, useQuery, type CombinedError } from "urql";
import { graphql } from "../../gql";
import type { Role, TeamPageQuery } from "../../gql/graphql";
import { formatDateTime, zoneNote } from "../format";
import { useSession } from "../session";
import { ErrorState, errorMessage, Loading } from "../states";
import { Teams, unanswered } from "../teams";
import { applyPrimaryColour } from "../theme";
import "./settings.css";

const TeamPage = graphql(`
  query TeamPage {
    timeZones
    members {
      id
      email
      role
      status
      createdAt
      invitedAt
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
    if (!payload) return setErrors({ form: errorMessage(result.error, "The settings could not be saved; try again.") });
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

const ResendInvitation = graphql(`
  mutation ResendInvitation($memberId: ID!) {
    resendInvitation(memberId: $memberId) {
      member {
        id
        invitedAt
      }
      errors {
        field
        message
      }
    }
  }
`);

const RevokeInvitation = graphql(`
  mutation RevokeInvitation($memberId: ID!) {
    revokeInvitation(memberId: $memberId) {
      revoked
      errors {
        field
        message
      }
    }
  }
`);

type Member = TeamPageQuery["members"][number];
type Said = { ok: boolean; text: string };

function Team({ members, reload }: { members: TeamPageQuery["members"]; reload: () => void }) {
  const { organisation, me } = useSession();
  const admin = me.role === "ADMIN";
  const zone = organisation.timeZone;
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("MEMBER");
  const [inviteErrors, setInviteErrors] = useState<FieldErrors>({});
  const [said, setSaid] = useState<Said | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [, invite] = useMutation(InviteMember);
  const [, remove] = useMutation(RemoveMember);
  const [, changeRole] = useMutation(ChangeRole);
  const [, resend] = useMutation(ResendInvitation);
  const [, revoke] = useMutation(RevokeInvitation);
  /** One member action's outcome: the API's refusal (it names the member), the outage, or what was done. */
  const settle = (
    result: { error?: CombinedError },
    payload: { errors: readonly { message: string }[] } | undefined,
    done: string,
  ) => {
    setBusy(null);
    if (!payload) return setSaid({ ok: false, text: unanswered(result.error).form ?? "" });
    const refusal = payload.errors[0];
    setSaid(refusal ? { ok: false, text: refusal.message } : { ok: true, text: done });
    reload();
  };
  const setRoleOf = async (m: Member, next: Role) => {
    setBusy(m.id);
    const result = await changeRole({ memberId: m.id, role: next });
    settle(result, result.data?.changeMemberRole, `${m.email} is now ${next === "ADMIN" ? "an admin" : "a member"}.`);
  };
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setSaid(null);
    const result = await invite({ email, role });
    const payload = result.data?.inviteMember;
    if (!payload) return setInviteErrors({ form: unanswered(result.error).form ?? "" });
    if (payload.errors.length > 0) {
      return setInviteErrors(Object.fromEntries(payload.errors.map((e) => [e.field === "role" ? "role" : e.field === "email" ? "email" : "form", e.message])));
    }
    setInviteErrors({});
    setSaid({ ok: true, text: `Invitation emailed to ${payload.member?.email ?? email}.` });
    setEmail("");
    reload();
  };
  const drop = async (m: Member) => {
    if (!window.confirm(`Remove ${m.email} from ${organisation.name}? They lose access and leave every team.`)) return;
    setBusy(m.id);
    const result = await remove({ memberId: m.id });
    settle(result, result.data?.removeMember, `${m.email} removed from ${organisation.name}.`);
  };
  const sendAgain = async (m: Member) => {
    if (!window.confirm(`Email the invitation to ${m.email} again?`)) return;
    setBusy(m.id);
    const result = await resend({ memberId: m.id });
    const at = result.data?.resendInvitation.member?.invitedAt;
    settle(result, result.data?.resendInvitation, `Invitation emailed again to ${m.email}${at ? ` (${formatDateTime(at, zone)})` : ""}.`);
  };
  const withdraw = async (m: Member) => {
    if (!window.confirm(`Revoke the invitation to ${m.email}? The link they were sent stops working.`)) return;
    setBusy(m.id);
    const result = await revoke({ memberId: m.id });
    settle(result, result.data?.revokeInvitation, `Invitation to ${m.email} revoked.`);
  };
  const invalid = (name: string) => ({
    "aria-invalid": Boolean(inviteErrors[name]),
    "aria-describedby": inviteErrors[name] ? `invite-${name}-error` : undefined,
  });
  const fieldError = (name: string) =>
    inviteErrors[name] ? (
      <span className="field-error" id={`invite-${name}-error`} role="alert">
        {inviteErrors[name]}
      </span>
    ) : null;
  return (
    <section aria-labelledby="team-title">
      <h2 id="team-title">Team</h2>
      <p className="muted small">{zoneNote(zone)}.</p>
      <div className="table-scroll" tabIndex={0} role="region" aria-label="Team members (scrolls sideways on narrow screens)">
        <table className="members">
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
              <tr key={m.id} data-member={m.email} data-status={m.status}>
                <td>{m.email}</td>
                <td>
                  {admin && m.id !== me.memberId && m.role !== "PROVIDER" ? (
                    <select
                      aria-label={`Role of ${m.email}`}
                      value={m.role}
                      disabled={busy === m.id}
                      onChange={(e) => void setRoleOf(m, e.target.value as Role)}
                    >
                      <option value="MEMBER">member</option>
                      <option value="ADMIN">admin</option>
                    </select>
                  ) : (
                    m.role.toLowerCase()
                  )}
                </td>
                <td>
                  {m.status === "INVITED" ? (
                    <>
                      invited
                      {m.invitedAt ? (
                        <span className="invited-at muted small">
                          {" "}
                          · emailed <time dateTime={m.invitedAt}>{formatDateTime(m.invitedAt, zone)}</time>
                        </span>
                      ) : null}
                    </>
                  ) : (
                    "active"
                  )}
                </td>
                <td>{formatDateTime(m.createdAt, zone)}</td>
                {admin ? (
                  <td className="member-actions">
                    {m.id === me.memberId ? (
                      <span className="muted">you</span>
                    ) : m.status === "INVITED" ? (
                      <>
                        <button type="button" className="link-button" disabled={busy === m.id} onClick={() => void sendAgain(m)}>
                          Resend <span className="visually-hidden">the invitation to {m.email}</span>
                        </button>
                        <button type="button" className="link-button" disabled={busy === m.id} onClick={() => void withdraw(m)}>
                          Revoke <span className="visually-hidden">the invitation to {m.email}</span>
                        </button>
                      </>
                    ) : (
                      <button type="button" className="link-button" disabled={busy === m.id} onClick={() => void drop(m)}>
                        Remove <span className="visually-hidden">{m.email}</span>
                      </button>
                    )}
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p role="status" className={said?.ok ? "saved member-status" : "member-status"}>
        {said?.ok ? said.text : ""}
      </p>
      {said && !said.ok ? (
        <p className="field-error" role="alert">
          {said.text}
        </p>
      ) : null}
      {admin ? (
        <form className="invite" onSubmit={(e) => void submit(e)} aria-label="Invite a member">
          <div className="field">
            <label htmlFor="invite-email">Email</label>
            <input id="invite-email" type="email" required value={email} onChange={(e) => setEmail(e.target.value)} {...invalid("email")} />
            {fieldError("email")}
          </div>
          <div className="field">
            <label htmlFor="invite-role">Role</label>
            <select id="invite-role" value={role} onChange={(e) => setRole(e.target.value as Role)} {...invalid("role")}>
              <option value="MEMBER">member</option>
              <option value="ADMIN">admin</option>
            </select>
            {fieldError("role")}
          </div>
          <button type="submit" className="button primary">
            Invite
          </button>
          {inviteErrors.form ? (
            <p className="field-error" role="alert">
              {inviteErrors.form}
            </p>
          ) : null}
        </form>
      ) : null}
    </section>
  );
}

export default function Settings() {
  const session = useSession();
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
          <Teams members={data.members} admin={session.me.role === "ADMIN"} membersVersion={data.members} />
        </>
      ) : null}
    </section>
  );
}
