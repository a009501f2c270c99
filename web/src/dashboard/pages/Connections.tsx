// Segments › Connections (issue 12): where the organisation's data is forwarded. Mixpanel projects (events and
// contacts out, cohorts back in as static segments) and MongoDB databases (the documented collections). Admins
// only, as the API answers. Credentials are write-only: the forms send them, the API never returns them (a
// MongoDB URI comes back masked), so nothing secret is ever shown or kept in the page after a submit. A Mixpanel
// project's cohort imports (form and list) are connectionCohorts.tsx.
import { useState } from "react";
import { Link } from "react-router";
import { useMutation, useQuery } from "urql";
import { ConnectionCohorts } from "../connectionCohorts";
import { graphql } from "../../gql";
import type { ConnectionsPageQuery } from "../../gql/graphql";
import { formatDateTime, formatNumber, zoneNote } from "../format";
import { useSession } from "../session";
import { Empty, ErrorState, Loading } from "../states";
import "./connections.css";

const ConnectionsPage = graphql(`
  query ConnectionsPage {
    eventTypes {
      name
    }
    mixpanelConnections {
      id
      projectId
      region
      forwardContacts
      eventTypes
      paused
      backfillDone
      forwarded
      failed
      profiles
      lastSuccessAt
      lastError
      lastErrorAt
      backlog
      failures {
        eventId
        eventType
        occurredAt
        field
        reason
      }
    }
    mongoConnections {
      id
      uri
      host
      database
      collections
      status
      failing
      failingSince
      lastSuccessAt
      backlog
      collectionStatus {
        collection
        forwarded
        backlog
      }
      failures {
        at
        collection
        reason
      }
    }
  }
`);

const ConnectMixpanel = graphql(`
  mutation ConnectMixpanel($input: MixpanelConnectionInput!) {
    connectMixpanel(input: $input) {
      connection {
        id
      }
      errors {
        field
        message
      }
    }
  }
`);

const PauseMixpanel = graphql(`
  mutation PauseMixpanel($id: ID!) {
    pauseMixpanelConnection(id: $id) {
      errors {
        message
      }
    }
  }
`);

const ResumeMixpanel = graphql(`
  mutation ResumeMixpanel($id: ID!) {
    resumeMixpanelConnection(id: $id) {
      errors {
        message
      }
    }
  }
`);

const DeleteMixpanel = graphql(`
  mutation DeleteMixpanel($id: ID!) {
    deleteMixpanelConnection(id: $id) {
      deleted
      errors {
        message
      }
    }
  }
`);

const ConnectMongo = graphql(`
  mutation ConnectMongo($input: MongoConnectionInput!) {
    connectMongo(input: $input) {
      connection {
        id
      }
      errors {
        field
        message
      }
    }
  }
`);

const PauseMongo = graphql(`
  mutation PauseMongo($id: ID!) {
    pauseMongoConnection(id: $id) {
      errors {
        message
      }
    }
  }
`);

const ResumeMongo = graphql(`
  mutation ResumeMongo($id: ID!) {
    resumeMongoConnection(id: $id) {
      errors {
        message
      }
    }
  }
`);

const DeleteMongo = graphql(`
  mutation DeleteMongo($id: ID!) {
    deleteMongoConnection(id: $id) {
      deleted
      errors {
        message
      }
    }
  }
`);

/** The documented collections (the API's MongoDB forwarding; /docs describes each). */
export const MONGO_COLLECTIONS = [
  "contact_profiles",
  "organisation_profiles",
  "devices",
  "events",
  "subscriptions",
  "orders",
  "leads",
  "service_requests",
  "financial_journals",
  "usage_allowances",
];

type Errors = Record<string, string>;
type Mongo = ConnectionsPageQuery["mongoConnections"][number];

/** `input.projectToken` → `projectToken`; no field → `form`. */
function byField(errors: readonly { field?: string | null; message: string }[]): Errors {
  const out: Errors = {};
  for (const e of errors) {
    const key = (e.field ?? "form").replace(/^input\./, "").replace(/\[\d+\]$/, "");
    out[key] = out[key] ? `${out[key]} ${e.message}` : e.message;
  }
  return out;
}

function Field({
  id,
  label,
  value,
  error,
  secret,
  onChange,
}: {
  id: string;
  label: string;
  value: string;
  error?: string;
  secret?: boolean;
  onChange: (value: string) => void;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        required
        type={secret ? "password" : "text"}
        autoComplete={secret ? "new-password" : "off"}
        spellCheck={false}
        value={value}
        aria-invalid={Boolean(error)}
        onChange={(e) => onChange(e.target.value)}
      />
      {error ? (
        <span className="field-error" role="alert">
          {error}
        </span>
      ) : null}
    </div>
  );
}

function Checkboxes({
  legend,
  options,
  chosen,
  error,
  onChange,
}: {
  legend: string;
  options: readonly string[];
  chosen: string[];
  error?: string;
  onChange: (chosen: string[]) => void;
}) {
  return (
    <fieldset className="field">
      <legend>{legend}</legend>
      {options.map((o) => (
        <label key={o}>
          <input
            type="checkbox"
            checked={chosen.includes(o)}
            onChange={(e) => onChange(e.target.checked ? [...chosen, o] : chosen.filter((x) => x !== o))}
          />{" "}
          {o}
        </label>
      ))}
      {error ? (
        <span className="field-error" role="alert">
          {error}
        </span>
      ) : null}
    </fieldset>
  );
}

function FormActions({ busy, label, errors, onCancel }: { busy: boolean; label: string; errors: Errors; onCancel: () => void }) {
  return (
    <>
      {errors.form ? (
        <p className="field-error" role="alert">
          {errors.form}
        </p>
      ) : null}
      <div className="actions">
        <button type="submit" className="button primary" disabled={busy}>
          {label}
        </button>
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </>
  );
}

function MixpanelForm({ eventTypes, onDone }: { eventTypes: readonly string[]; onDone: (made: boolean) => void }) {
  const empty = { projectId: "", projectToken: "", serviceAccountUsername: "", serviceAccountSecret: "", region: "EU" };
  const [draft, setDraft] = useState(empty);
  const [forwardContacts, setForwardContacts] = useState(true);
  const [types, setTypes] = useState<string[]>([]);
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const [, connect] = useMutation(ConnectMixpanel);
  const set = (k: keyof typeof empty) => (v: string) => setDraft({ ...draft, [k]: v });
  return (
    <form
      className="settings-form"
      aria-label="Connect Mixpanel"
      onSubmit={(e) => {
        e.preventDefault();
        setBusy(true);
        void connect({ input: { ...draft, forwardContacts, eventTypes: types } }).then((result) => {
          setBusy(false);
          const payload = result.data?.connectMixpanel;
          if (!payload) return setErrors({ form: "Mixpanel could not be connected; try again." });
          if (payload.errors.length > 0) return setErrors(byField(payload.errors));
          setDraft(empty); // the credentials leave the page once sent
          onDone(true);
        });
      }}
    >
      <Field id="mixpanel-project" label="Project id" value={draft.projectId} error={errors.projectId} onChange={set("projectId")} />
      <Field id="mixpanel-token" label="Project token" secret value={draft.projectToken} error={errors.projectToken} onChange={set("projectToken")} />
      <Field
        id="mixpanel-sa-user"
        label="Service account username"
        value={draft.serviceAccountUsername}
        error={errors.serviceAccountUsername}
        onChange={set("serviceAccountUsername")}
      />
      <Field
        id="mixpanel-sa-secret"
        label="Service account secret"
        secret
        value={draft.serviceAccountSecret}
        error={errors.serviceAccountSecret}
        onChange={set("serviceAccountSecret")}
      />
      <div className="field">
        <label htmlFor="mixpanel-region">Region (the project's data residency)</label>
        <select id="mixpanel-region" value={draft.region} aria-invalid={Boolean(errors.region)} onChange={(e) => set("region")(e.target.value)}>
          <option value="EU">EU</option>
          <option value="US">US</option>
        </select>
        {errors.region ? (
          <span className="field-error" role="alert">
            {errors.region}
          </span>
        ) : null}
      </div>
      <div className="field">
        <label>
          <input type="checkbox" checked={forwardContacts} onChange={(e) => setForwardContacts(e.target.checked)} /> Forward contacts (profiles)
        </label>
      </div>
      <Checkboxes legend="Event types to forward" options={eventTypes} chosen={types} error={errors.eventTypes} onChange={setTypes} />
      <FormActions busy={busy} label="Connect Mixpanel" errors={errors} onCancel={() => onDone(false)} />
    </form>
  );
}

function MongoForm({ onDone }: { onDone: (made: boolean) => void }) {
  const [uri, setUri] = useState("");
  const [database, setDatabase] = useState("");
  const [collections, setCollections] = useState<string[]>([]);
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const [, connect] = useMutation(ConnectMongo);
  return (
    <form
      className="settings-form"
      aria-label="Connect MongoDB"
      onSubmit={(e) => {
        e.preventDefault();
        setBusy(true);
        void connect({ input: { uri, database, collections: collections.length > 0 ? collections : null } }).then((result) => {
          setBusy(false);
          const payload = result.data?.connectMongo;
          if (!payload) return setErrors({ form: "MongoDB could not be connected; try again." });
          if (payload.errors.length > 0) return setErrors(byField(payload.errors));
          setUri(""); // the credentials leave the page once sent
          onDone(true);
        });
      }}
    >
      <Field id="mongo-uri" label="Connection string (mongodb:// or mongodb+srv://)" secret value={uri} error={errors.uri} onChange={setUri} />
      <Field id="mongo-database" label="Database" value={database} error={errors.database} onChange={setDatabase} />
      <Checkboxes
        legend="Collections (none: all of them)"
        options={MONGO_COLLECTIONS}
        chosen={collections}
        error={errors.collections}
        onChange={setCollections}
      />
      <FormActions busy={busy} label="Connect MongoDB" errors={errors} onCancel={() => onDone(false)} />
    </form>
  );
}

function when(iso: string | null | undefined, zone: string, never = "never"): string {
  return iso ? formatDateTime(iso, zone) : never;
}

export default function Connections() {
  const { organisation, me } = useSession();
  const [{ data, error }, refetch] = useQuery({ query: ConnectionsPage });
  const [adding, setAdding] = useState<"mixpanel" | "mongo" | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [, pauseMp] = useMutation(PauseMixpanel);
  const [, resumeMp] = useMutation(ResumeMixpanel);
  const [, deleteMp] = useMutation(DeleteMixpanel);
  const [, pauseMg] = useMutation(PauseMongo);
  const [, resumeMg] = useMutation(ResumeMongo);
  const [, deleteMg] = useMutation(DeleteMongo);
  const reload = () => refetch({ requestPolicy: "network-only" });
  const zone = organisation.timeZone;
  const act = async (run: Promise<{ data?: unknown; error?: unknown }>, what: string) => {
    setProblem(null);
    const result = await run;
    const payload = result.data ? Object.values(result.data as Record<string, { errors: { message: string }[] }>)[0] : undefined;
    const message = payload?.errors[0]?.message;
    if (!payload || message) setProblem(message ?? `The connection could not be ${what}; try again.`);
    reload();
  };
  const done = (made: boolean) => {
    setAdding(null);
    if (made) reload();
  };

  const head = (
    <div className="page-head">
      <h1 id="connections-title">Connections</h1>
      <p className="muted">
        <Link to="/segments">Back to Segments</Link>
      </p>
    </div>
  );
  if (me.role !== "ADMIN") {
    return (
      <section aria-labelledby="connections-title">
        {head}
        <Empty>
          <p>Connections are managed by admins.</p>
          <p className="muted">Ask an admin of your organisation.</p>
        </Empty>
      </section>
    );
  }
  return (
    <section aria-labelledby="connections-title">
      {head}
      {problem ? (
        <p className="field-error" role="alert">
          {problem}
        </p>
      ) : null}
      {error && !data ? <ErrorState error={error} what="connections" retry={reload} /> : null}
      {!data && !error ? <Loading what="connections" /> : null}
      {data ? (
        <>
          <section aria-labelledby="mixpanel-title">
            <div className="page-head">
              <h2 id="mixpanel-title">Mixpanel</h2>
              {adding === null ? (
                <button type="button" className="button primary" onClick={() => setAdding("mixpanel")}>
                  Connect Mixpanel
                </button>
              ) : null}
            </div>
            {adding === "mixpanel" ? <MixpanelForm eventTypes={data.eventTypes.map((t) => t.name)} onDone={done} /> : null}
            {data.mixpanelConnections.length === 0 ? (
              <Empty>
                <p>No Mixpanel project is connected.</p>
                <p className="muted">Connect one to forward events and contacts, and to import its cohorts as segments.</p>
              </Empty>
            ) : (
              <ul className="integration-list connection-list">
                {data.mixpanelConnections.map((c) => (
                  <li key={c.id} className="tile" data-connection={c.id}>
                    <h3>
                      Project {c.projectId} <span className="badge">{c.paused ? "paused" : "active"}</span>
                    </h3>
                    <p className="muted small">
                      {c.region} · {c.forwardContacts ? "contacts and " : ""}
                      {c.eventTypes.length > 0 ? c.eventTypes.join(", ") : "no event type"}
                      {c.backfillDone ? "" : " · sending the last 90 days"}
                    </p>
                    <dl className="facts">
                      <dt>Last success</dt>
                      <dd>{when(c.lastSuccessAt, zone)}</dd>
                      <dt>Backlog</dt>
                      <dd>{c.backlog === null || c.backlog === undefined ? "–" : formatNumber(c.backlog)}</dd>
                      <dt>Forwarded</dt>
                      <dd>
                        {formatNumber(c.forwarded)} events, {formatNumber(c.profiles)} profiles
                      </dd>
                      <dt>Refused</dt>
                      <dd>{formatNumber(c.failed)}</dd>
                    </dl>
                    {c.lastError ? (
                      <p className="field-error">
                        Retrying since {when(c.lastErrorAt, zone)}: {c.lastError}
                      </p>
                    ) : null}
                    {c.failures.length > 0 ? (
                      <div className="table-scroll" tabIndex={0} role="region" aria-label={`Refused events of project ${c.projectId}`}>
                        <table className="data-table">
                          <caption className="muted small">Refused events (not retried), newest first</caption>
                          <thead>
                            <tr>
                              <th scope="col">Event</th>
                              <th scope="col">Occurred</th>
                              <th scope="col">Reason</th>
                            </tr>
                          </thead>
                          <tbody>
                            {c.failures.map((f) => (
                              <tr key={f.eventId}>
                                <td>{f.eventType}</td>
                                <td>{formatDateTime(f.occurredAt, zone)}</td>
                                <td>{f.field ? `${f.field}: ${f.reason}` : f.reason}</td>
                              </tr>
                            ))}
                          </tbody>
                        </table>
                      </div>
                    ) : null}
                    <div className="actions">
                      <button
                        type="button"
                        className="button small"
                        onClick={() => void act(c.paused ? resumeMp({ id: c.id }) : pauseMp({ id: c.id }), c.paused ? "resumed" : "paused")}
                      >
                        {c.paused ? "Resume" : "Pause"} <span className="visually-hidden">project {c.projectId}</span>
                      </button>
                      <button
                        type="button"
                        className="button small"
                        onClick={() => {
                          if (window.confirm(`Delete the connection to project ${c.projectId}? What was forwarded stays in Mixpanel.`))
                            void act(deleteMp({ id: c.id }), "deleted");
                        }}
                      >
                        Delete <span className="visually-hidden">project {c.projectId}</span>
                      </button>
                    </div>
                    <ConnectionCohorts connectionId={c.id} projectId={c.projectId} paused={c.paused} zone={zone} />
                  </li>
                ))}
              </ul>
            )}
          </section>
          <section aria-labelledby="mongo-title">
            <div className="page-head">
              <h2 id="mongo-title">MongoDB</h2>
              {adding === null ? (
                <button type="button" className="button primary" onClick={() => setAdding("mongo")}>
                  Connect MongoDB
                </button>
              ) : null}
            </div>
            {adding === "mongo" ? <MongoForm onDone={done} /> : null}
            {data.mongoConnections.length === 0 ? (
              <Empty>
                <p>No MongoDB is connected.</p>
                <p className="muted">Connect one to keep the documented collections there, current.</p>
              </Empty>
            ) : (
              <ul className="integration-list">
                {data.mongoConnections.map((c: Mongo) => (
                  <li key={c.id} className="tile" data-connection={c.id}>
                    <h3>
                      {c.host} / {c.database} <span className="badge">{c.status === "PAUSED" ? "paused" : c.failing ? "failing" : "active"}</span>
                    </h3>
                    <p className="muted small">
                      <code>{c.uri}</code> · {c.collections.join(", ")}
                    </p>
                    <dl className="facts">
                      <dt>Last success</dt>
                      <dd>{when(c.lastSuccessAt, zone)}</dd>
                      <dt>Backlog</dt>
                      <dd>{c.backlog === null || c.backlog === undefined ? "not counted" : formatNumber(c.backlog)}</dd>
                      {c.failing ? (
                        <>
                          <dt>Failing since</dt>
                          <dd>{when(c.failingSince, zone)}</dd>
                        </>
                      ) : null}
                    </dl>
                    {c.failures.length > 0 ? (
                      <ul className="small" aria-label={`Failures of ${c.database}`}>
                        {c.failures.map((f, i) => (
                          <li key={i}>
                            {formatDateTime(f.at, zone)} · {f.collection ?? "connection"}: {f.reason}
                          </li>
                        ))}
                      </ul>
                    ) : null}
                    <div className="actions">
                      <button
                        type="button"
                        className="button small"
                        onClick={() =>
                          void act(c.status === "PAUSED" ? resumeMg({ id: c.id }) : pauseMg({ id: c.id }), c.status === "PAUSED" ? "resumed" : "paused")
                        }
                      >
                        {c.status === "PAUSED" ? "Resume" : "Pause"} <span className="visually-hidden">{c.database}</span>
                      </button>
                      <button
                        type="button"
                        className="button small"
                        onClick={() => {
                          if (window.confirm(`Delete the connection to ${c.database}? What was forwarded stays there.`)) void act(deleteMg({ id: c.id }), "deleted");
                        }}
                      >
                        Delete <span className="visually-hidden">{c.database}</span>
                      </button>
                    </div>
                  </li>
                ))}
              </ul>
            )}
          </section>
          <p className="muted small">{zoneNote(zone)}</p>
        </>
      ) : null}
    </section>
  );
}
