// Settings > Teams (issue 12, seed 002's report recipients): named groups of members that report schedules mail.
// Admins create, rename and delete them and add or remove members; members see them. A refusal of the API shows
// on the field it names (the name, the member picked), anything else next to the team; every change says what
// it did in a status line.
import { useEffect, useRef, useState } from "react";
import { useMutation, useQuery, type CombinedError } from "urql";
import { graphql } from "../gql";
import type { Role } from "../gql/graphql";
import { errorCode } from "./api";
import { ErrorState, Empty, Loading } from "./states";

const TeamsDoc = graphql(`
  query Teams {
    teams {
      id
      name
      members {
        id
        email
        role
        status
      }
    }
  }
`);

const CreateTeam = graphql(`
  mutation CreateTeam($name: String!) {
    createTeam(name: $name) {
      team {
        id
        name
      }
      errors {
        field
        message
      }
    }
  }
`);

const RenameTeam = graphql(`
  mutation RenameTeam($id: ID!, $name: String!) {
    renameTeam(id: $id, name: $name) {
      team {
        id
        name
      }
      errors {
        field
        message
      }
    }
  }
`);

const AddTeamMember = graphql(`
  mutation AddTeamMember($teamId: ID!, $memberId: ID!) {
    addTeamMember(teamId: $teamId, memberId: $memberId) {
      team {
        id
      }
      errors {
        field
        message
      }
    }
  }
`);

const RemoveTeamMember = graphql(`
  mutation RemoveTeamMember($teamId: ID!, $memberId: ID!) {
    removeTeamMember(teamId: $teamId, memberId: $memberId) {
      team {
        id
      }
      errors {
        field
        message
      }
    }
  }
`);

const DeleteTeam = graphql(`
  mutation DeleteTeam($id: ID!) {
    deleteTeam(id: $id) {
      deleted
      errors {
        field
        message
      }
    }
  }
`);

export type TeamRow = { id: string; name: string; members: readonly { id: string; email?: string | null; role: Role }[] };
export type OrgMember = { id: string; email: string; role: Role };
/** The API's refusals by field (`name`, `memberId`; `form` for the rest), or a message when it was not reached. */
export type FieldErrors = Record<string, string>;
type ApiError = { field?: string | null; message: string };

export type TeamActions = {
  create: (name: string) => Promise<FieldErrors>;
  rename: (id: string, name: string) => Promise<FieldErrors>;
  add: (teamId: string, memberId: string) => Promise<FieldErrors>;
  remove: (teamId: string, memberId: string) => Promise<FieldErrors>;
  delete: (id: string) => Promise<FieldErrors>;
};

/** The API's `errors { field message }` keyed by the form's fields: ids (`id`, `teamId`) belong to the whole form. */
export function teamErrors(errors: readonly ApiError[]): FieldErrors {
  const out: FieldErrors = {};
  for (const e of errors) {
    const key = e.field === "name" || e.field === "memberId" ? e.field : "form";
    out[key] = out[key] ? `${out[key]} ${e.message}` : e.message;
  }
  return out;
}

/** Who can still join a team: members of the organisation not in it; a provider's staff never can (the API says
 * so too). */
export function candidates(team: TeamRow, members: readonly OrgMember[]): OrgMember[] {
  const inside = new Set(team.members.map((m) => m.id));
  return members.filter((m) => !inside.has(m.id) && m.role !== "PROVIDER");
}

function FieldError({ id, message }: { id: string; message: string | undefined }) {
  return message ? (
    <span className="field-error" id={id} role="alert">
      {message}
    </span>
  ) : null;
}

function TeamCard({
  team,
  members,
  admin,
  actions,
  said,
}: {
  team: TeamRow;
  members: readonly OrgMember[];
  admin: boolean;
  actions: TeamActions;
  said: (message: string | null) => void;
}) {
  const [renaming, setRenaming] = useState(false);
  const [name, setName] = useState(team.name);
  const [pick, setPick] = useState("");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const renameInput = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (renaming) renameInput.current?.focus();
  }, [renaming]);
  const who = (id: string) => members.find((m) => m.id === id)?.email ?? team.members.find((m) => m.id === id)?.email ?? "the member";
  const run = async (action: () => Promise<FieldErrors>, done: string): Promise<boolean> => {
    setBusy(true);
    said(null); // an earlier outcome is not this one's
    const found = await action();
    setBusy(false);
    setErrors(found);
    if (Object.keys(found).length === 0) {
      said(done);
      return true;
    }
    return false;
  };
  const open = candidates(team, members);
  const base = `team-${team.id}`;
  return (
    <li className="team-card" data-team={team.name}>
      <div className="team-head">
        <h3 className="team-name">{team.name}</h3>
        <span className="muted small">
          {team.members.length === 1 ? "1 member" : `${team.members.length} members`}
        </span>
        {admin && !renaming ? (
          <span className="actions">
            <button type="button" className="link-button" onClick={() => {
                setName(team.name);
                setErrors({});
                setRenaming(true);
              }}>
              Rename <span className="visually-hidden">team {team.name}</span>
            </button>
            <button
              type="button"
              className="link-button danger"
              disabled={busy}
              onClick={() => {
                if (!window.confirm(`Delete the team ${team.name}? Report schedules that mail it stop sending to it.`)) return;
                void run(() => actions.delete(team.id), `Team ${team.name} deleted.`);
              }}
            >
              Delete <span className="visually-hidden">team {team.name}</span>
            </button>
          </span>
        ) : null}
      </div>
      {renaming ? (
        <form
          className="team-rename"
          aria-label={`Rename team ${team.name}`}
          onSubmit={(e) => {
            e.preventDefault();
            const next = name.trim();
            void run(() => actions.rename(team.id, next), `Team ${team.name} renamed to ${next}.`).then((ok) => ok && setRenaming(false));
          }}
        >
          <label htmlFor={`${base}-name`}>New name</label>
          <input
            id={`${base}-name`}
            ref={renameInput}
            required
            maxLength={100}
            value={name}
            aria-invalid={Boolean(errors.name)}
            aria-describedby={errors.name ? `${base}-name-error` : undefined}
            onChange={(e) => setName(e.target.value)}
          />
          <button type="submit" className="button primary small" disabled={busy}>
            Save name
          </button>
          <button type="button" className="link-button" onClick={() => {
              setRenaming(false);
              setErrors({});
            }}>
            Cancel
          </button>
          <FieldError id={`${base}-name-error`} message={errors.name} />
        </form>
      ) : null}
      {team.members.length === 0 ? (
        <p className="muted small">No members yet{admin ? ": add one below." : "."}</p>
      ) : (
        <ul className="team-members" aria-label={`Members of ${team.name}`}>
          {team.members.map((m) => (
            <li key={m.id}>
              <span>
                {m.email ?? "(no email)"} <span className="muted small">{m.role.toLowerCase()}</span>
              </span>
              {admin ? (
                <button
                  type="button"
                  className="link-button small"
                  disabled={busy}
                  onClick={() => void run(() => actions.remove(team.id, m.id), `${m.email ?? "The member"} removed from ${team.name}.`)}
                >
                  Remove <span className="visually-hidden">{m.email} from {team.name}</span>
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      )}
      {admin ? (
        open.length === 0 ? (
          <p className="muted small">Every member who can join is in this team.</p>
        ) : (
          <form
            className="team-add"
            aria-label={`Add a member to ${team.name}`}
            onSubmit={(e) => {
              e.preventDefault();
              if (!pick) return setErrors({ memberId: "Choose a member to add." });
              void run(() => actions.add(team.id, pick), `${who(pick)} added to ${team.name}.`).then((ok) => ok && setPick(""));
            }}
          >
            <label htmlFor={`${base}-add`}>Add a member</label>
            <select
              id={`${base}-add`}
              value={pick}
              aria-invalid={Boolean(errors.memberId)}
              aria-describedby={errors.memberId ? `${base}-add-error` : undefined}
              onChange={(e) => {
                setPick(e.target.value);
                if (errors.memberId) setErrors({});
              }}
            >
              <option value="">Choose…</option>
              {open.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.email}
                </option>
              ))}
            </select>
            <button type="submit" className="button small" disabled={busy}>
              Add <span className="visually-hidden">to {team.name}</span>
            </button>
            <FieldError id={`${base}-add-error`} message={errors.memberId} />
          </form>
        )
      ) : null}
      {errors.form ? (
        <p className="field-error" role="alert">
          {errors.form}
        </p>
      ) : null}
    </li>
  );
}

/** The teams and what an admin can do with them, over `actions` (the API's, or a test's). */
export function TeamsView({
  teams,
  members,
  admin,
  actions,
}: {
  teams: readonly TeamRow[];
  members: readonly OrgMember[];
  admin: boolean;
  actions: TeamActions;
}) {
  const [name, setName] = useState("");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const create = async (event: React.FormEvent) => {
    event.preventDefault();
    const next = name.trim();
    setBusy(true);
    setMessage(null);
    const found = await actions.create(next);
    setBusy(false);
    setErrors(found);
    if (Object.keys(found).length === 0) {
      setName("");
      setMessage(`Team ${next} created.`);
    }
  };
  return (
    <section aria-labelledby="teams-title" className="teams">
      <h2 id="teams-title">Teams</h2>
      <p className="muted">Report schedules can mail a team: whoever is in it when the report is sent.</p>
      {teams.length === 0 ? (
        <Empty>
          <p>No teams yet.</p>
          <p className="muted">{admin ? "Create one below, then add members to it." : "An admin of your organisation creates them."}</p>
        </Empty>
      ) : (
        <ul className="team-list">
          {teams.map((t) => (
            <TeamCard key={t.id} team={t} members={members} admin={admin} actions={actions} said={setMessage} />
          ))}
        </ul>
      )}
      {admin ? (
        <form className="team-create" aria-label="Create a team" onSubmit={(e) => void create(e)}>
          <div className="field">
            <label htmlFor="team-create-name">Team name</label>
            <input
              id="team-create-name"
              required
              maxLength={100}
              value={name}
              aria-invalid={Boolean(errors.name)}
              aria-describedby={errors.name ? "team-create-name-error" : undefined}
              onChange={(e) => {
                setName(e.target.value);
                if (errors.name) setErrors({}); // edited: the refusal was about the old name
              }}
            />
            <FieldError id="team-create-name-error" message={errors.name} />
          </div>
          <button type="submit" className="button primary" disabled={busy}>
            Create team
          </button>
          {errors.form ? (
            <p className="field-error" role="alert">
              {errors.form}
            </p>
          ) : null}
        </form>
      ) : null}
      <p role="status" className="saved team-status">
        {message ?? ""}
      </p>
    </section>
  );
}

/** Why a change has no answer of the API's (no payload): the outage or refusal, as a next step. */
export function unanswered(error: CombinedError | undefined): FieldErrors {
  const code = errorCode(error);
  if (code === "UNAVAILABLE") return { form: "A backing service is unavailable: nothing changed. Try again in a minute." };
  if (code === "FORBIDDEN") return { form: "This needs the admin role: nothing changed." };
  if (code === "NETWORK") return { form: "The platform could not be reached: nothing changed. Check your connection and try again." };
  return { form: `The change could not be made${code ? ` (${code})` : ""}; try again, or see Support for the request id.` };
}

/** The Teams section of Settings: the API's teams, reloaded after each change and when the team list changes. */
export function Teams({ members, admin, membersVersion }: { members: readonly OrgMember[]; admin: boolean; membersVersion: unknown }) {
  const [{ data, error }, refetch] = useQuery({ query: TeamsDoc });
  const reload = () => refetch({ requestPolicy: "network-only" });
  // A member removed from the organisation leaves every team: reload the teams when the members change.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    refetch({ requestPolicy: "network-only" });
  }, [membersVersion, refetch]);
  const [, create] = useMutation(CreateTeam);
  const [, rename] = useMutation(RenameTeam);
  const [, add] = useMutation(AddTeamMember);
  const [, remove] = useMutation(RemoveTeamMember);
  const [, drop] = useMutation(DeleteTeam);
  const settle = (result: { error?: CombinedError }, payload: { errors: readonly ApiError[] } | undefined): FieldErrors => {
    if (!payload) return unanswered(result.error);
    reload();
    return teamErrors(payload.errors);
  };
  const actions: TeamActions = {
    create: (name) => create({ name }).then((r) => settle(r, r.data?.createTeam)),
    rename: (id, name) => rename({ id, name }).then((r) => settle(r, r.data?.renameTeam)),
    add: (teamId, memberId) => add({ teamId, memberId }).then((r) => settle(r, r.data?.addTeamMember)),
    remove: (teamId, memberId) => remove({ teamId, memberId }).then((r) => settle(r, r.data?.removeTeamMember)),
    delete: (id) => drop({ id }).then((r) => settle(r, r.data?.deleteTeam)),
  };
  if (!data) {
    return (
      <section aria-labelledby="teams-title" className="teams">
        <h2 id="teams-title">Teams</h2>
        {error ? <ErrorState error={error} what="teams" retry={reload} /> : <Loading what="the teams" />}
      </section>
    );
  }
  return <TeamsView teams={data.teams} members={members} admin={admin} actions={actions} />;
}
