// Segments › Connections › a Mixpanel project's cohort imports (issue 12): the import form (a cohort id, the
// segment's name on a first import, an optional re-import schedule) and every cohort imported from the project,
// with its latest import: the segment it fills (linked), matched and unmatched, when, the schedule, and whether
// that schedule is keeping up. The API keeps no failure of a scheduled re-import, so a schedule that has not
// succeeded for two periods is called overdue, with the next step (import it by hand: the form names the reason).
import { useState } from "react";
import { Link } from "react-router";
import { useMutation, useQuery } from "urql";
import { graphql } from "../gql";
import type { ConnectionCohortImportsQuery } from "../gql/graphql";
import { formatDateTime, formatNumber } from "./format";
import { Empty, ErrorState, Loading } from "./states";

const CohortImports = graphql(`
  query ConnectionCohortImports($connectionId: ID!) {
    mixpanelCohortImports(connectionId: $connectionId) {
      cohortId
      segmentId
      everyMinutes
      importedAt
      members
      added
      removed
      unmatchedCount
      unmatched
    }
    segments {
      id
      name
    }
  }
`);

const ImportCohort = graphql(`
  mutation ImportCohort($connectionId: ID!, $cohortId: String!, $name: String, $everyMinutes: Int) {
    importMixpanelCohort(connectionId: $connectionId, cohortId: $cohortId, name: $name, everyMinutes: $everyMinutes) {
      cohortImport {
        cohortId
        segmentId
        members
        unmatchedCount
        unmatched
      }
      errors {
        field
        message
      }
    }
  }
`);

export type CohortImportRow = ConnectionCohortImportsQuery["mixpanelCohortImports"][number];
type Errors = Record<string, string>;

/** The API's errors by field (`cohortId`, `name`, `everyMinutes`); none: `form`. */
export function cohortErrors(errors: readonly { field?: string | null; message: string }[]): Errors {
  const out: Errors = {};
  for (const e of errors) {
    const key = e.field || "form";
    out[key] = out[key] ? `${out[key]} ${e.message}` : e.message;
  }
  return out;
}

/** "every 15 minutes", "every 2 hours", "every day"; on demand when there is no schedule. */
export function scheduleText(everyMinutes: number | null | undefined): string {
  if (!everyMinutes) return "on demand";
  if (everyMinutes % 1440 === 0) return everyMinutes === 1440 ? "every day" : `every ${everyMinutes / 1440} days`;
  if (everyMinutes % 60 === 0) return everyMinutes === 60 ? "every hour" : `every ${everyMinutes / 60} hours`;
  return `every ${everyMinutes} minutes`;
}

export type CohortState = { kind: "never" | "paused" | "overdue" | "current"; text: string };

/** Where an import stands: never imported, its schedule paused with the connection, overdue (a scheduled
 * re-import has not succeeded for two periods and a quarter of an hour: the ticker's slack), or current. */
export function cohortState(row: Pick<CohortImportRow, "importedAt" | "everyMinutes">, paused: boolean, now: number = Date.now()): CohortState {
  if (!row.importedAt) return { kind: "never", text: "Not imported yet." };
  if (row.everyMinutes && paused) return { kind: "paused", text: "Schedule paused with the connection: resume it to re-import." };
  if (row.everyMinutes && now - Date.parse(row.importedAt) > (2 * row.everyMinutes + 15) * 60_000) {
    return {
      kind: "overdue",
      text: "Overdue: the scheduled re-import has not succeeded since. Import it again above to see why (Mixpanel unreachable, or the cohort gone).",
    };
  }
  return { kind: "current", text: row.everyMinutes ? "Up to date." : "Imported." };
}

function ImportForm({ connectionId, projectId, imported }: { connectionId: string; projectId: string; imported: () => void }) {
  const [cohortId, setCohortId] = useState("");
  const [name, setName] = useState("");
  const [every, setEvery] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const [result, setResult] = useState<{ segmentId: string; members: number; unmatchedCount: number; unmatched: readonly string[] } | null>(null);
  const [{ fetching }, run] = useMutation(ImportCohort);
  const id = `cohort-${connectionId}`;
  const fieldError = (field: string) =>
    errors[field] ? (
      <span id={`${id}-${field}-error`} className="field-error" role="alert">
        {errors[field]}
      </span>
    ) : null;
  const invalid = (field: string, hint?: string) => ({
    "aria-invalid": Boolean(errors[field]),
    "aria-describedby": errors[field] ? `${id}-${field}-error` : hint,
  });
  return (
    <form
      className="cohort-form"
      aria-label={`Import a cohort of project ${projectId}`}
      onSubmit={(e) => {
        e.preventDefault();
        setResult(null);
        const minutes = every.trim();
        if (minutes && !/^\d+$/.test(minutes)) return setErrors({ everyMinutes: "a whole number of minutes (15 or more), or empty" });
        void run({ connectionId, cohortId: cohortId.trim(), name: name.trim() || null, everyMinutes: minutes ? Number(minutes) : null }).then((r) => {
          const payload = r.data?.importMixpanelCohort;
          if (!payload) return setErrors({ form: "The cohort could not be imported; try again." });
          setErrors(cohortErrors(payload.errors));
          if (payload.cohortImport) {
            setResult(payload.cohortImport);
            imported();
          }
        });
      }}
    >
      <span className="cohort-field">
        <label htmlFor={`${id}-id`}>Cohort id</label>
        <input id={`${id}-id`} required inputMode="numeric" value={cohortId} {...invalid("cohortId")} onChange={(e) => setCohortId(e.target.value)} />
        {fieldError("cohortId")}
      </span>
      <span className="cohort-field">
        <label htmlFor={`${id}-name`}>Segment name (first import)</label>
        <input id={`${id}-name`} value={name} {...invalid("name")} onChange={(e) => setName(e.target.value)} />
        {fieldError("name")}
      </span>
      <span className="cohort-field">
        <label htmlFor={`${id}-every`}>Re-import every (minutes)</label>
        <input id={`${id}-every`} inputMode="numeric" value={every} {...invalid("everyMinutes", `${id}-every-hint`)} onChange={(e) => setEvery(e.target.value)} />
        {fieldError("everyMinutes") ?? (
          <span id={`${id}-every-hint`} className="muted small">
            15 or more; empty keeps the schedule (a first import: on demand)
          </span>
        )}
      </span>
      <button type="submit" className="button cohort-submit" disabled={fetching}>
        Import cohort
      </button>
      {Object.entries(errors)
        .filter(([field]) => !["cohortId", "name", "everyMinutes"].includes(field))
        .map(([field, message]) => (
          <span key={field} className="field-error" role="alert">
            {field === "form" ? message : `${field}: ${message}`}
          </span>
        ))}
      {result ? (
        <p className="cohort-result" role="status">
          Imported: {formatNumber(result.members)} matched, {formatNumber(result.unmatchedCount)} unmatched
          {result.unmatched.length > 0 ? ` (${result.unmatched.slice(0, 5).join(", ")}${result.unmatchedCount > 5 ? ", …" : ""})` : ""}.{" "}
          <Link to={`/segments?segment=${result.segmentId}`}>Open the segment</Link>
        </p>
      ) : null}
    </form>
  );
}

function ImportList({
  rows,
  names,
  projectId,
  paused,
  zone,
}: {
  rows: readonly CohortImportRow[];
  names: ReadonlyMap<string, string>;
  projectId: string;
  paused: boolean;
  zone: string;
}) {
  if (rows.length === 0) {
    return (
      <Empty>
        <p>No cohort imported from project {projectId} yet.</p>
        <p className="muted">Import one with its Mixpanel cohort id: it becomes a static segment, re-imported on demand or on a schedule.</p>
      </Empty>
    );
  }
  return (
    <div className="table-scroll" tabIndex={0} role="region" aria-label={`Cohorts imported from project ${projectId}`}>
      <table className="data-table cohort-imports">
        <caption className="muted small">Cohorts imported, with their latest import</caption>
        <thead>
          <tr>
            <th scope="col">Cohort</th>
            <th scope="col">Segment</th>
            <th scope="col">Matched</th>
            <th scope="col">Unmatched</th>
            <th scope="col">Imported</th>
            <th scope="col">Schedule</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => {
            const state = cohortState(r, paused);
            const name = names.get(r.segmentId);
            return (
              <tr key={r.cohortId} data-cohort={r.cohortId} data-state={state.kind}>
                <td>{r.cohortId}</td>
                <td>
                  {name !== undefined ? (
                    <Link to={`/segments?segment=${r.segmentId}`}>{name}</Link>
                  ) : (
                    <span className="muted">Segment deleted</span>
                  )}
                </td>
                <td>
                  {formatNumber(r.members)}
                  {r.added || r.removed ? (
                    <span className="muted small">
                      {" "}
                      (+{formatNumber(r.added)} / −{formatNumber(r.removed)})
                    </span>
                  ) : null}
                </td>
                <td>
                  {formatNumber(r.unmatchedCount)}
                  {r.unmatched.length > 0 ? (
                    <span className="muted small">
                      {" "}
                      ({r.unmatched.slice(0, 3).join(", ")}
                      {r.unmatchedCount > 3 ? ", …" : ""})
                    </span>
                  ) : null}
                </td>
                <td>{r.importedAt ? formatDateTime(r.importedAt, zone) : "never"}</td>
                <td>{scheduleText(r.everyMinutes)}</td>
                <td className={state.kind === "overdue" ? "field-error" : undefined}>{state.text}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** A Mixpanel connection's cohorts: the import form, then what was imported (re-read after each import). */
export function ConnectionCohorts({ connectionId, projectId, paused, zone }: { connectionId: string; projectId: string; paused: boolean; zone: string }) {
  const [{ data, error }, refetch] = useQuery({ query: CohortImports, variables: { connectionId } });
  const reload = () => refetch({ requestPolicy: "network-only" });
  const names = new Map((data?.segments ?? []).map((s) => [s.id, s.name] as const));
  return (
    <section className="cohort-imports" aria-label={`Cohorts of project ${projectId}`}>
      <h4>Cohorts</h4>
      <ImportForm connectionId={connectionId} projectId={projectId} imported={reload} />
      {error && !data ? <ErrorState error={error} what="cohort imports" retry={reload} /> : null}
      {!data && !error ? <Loading what="cohort imports" /> : null}
      {data ? <ImportList rows={data.mixpanelCohortImports} names={names} projectId={projectId} paused={paused} zone={zone} /> : null}
    </section>
  );
}
