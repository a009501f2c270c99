// Reports › Schedules (seed 002: "Schedule Report automates report generation and sends results to selected users
// or teams on a recurring basis"). The organisation's schedules with their timing in their own time zone, their
// recipients (members and teams), status, next and last runs; a new one starts from a report page's configuration
// (its Schedule action links here with it: ?new=1&report=…), else from a report chosen here with its defaults.
// Owners and admins edit, pause, resume and delete (canChange). The API's refusals show on their fields.
import "./reports.css";
import { useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useMutation, useQuery, type CombinedError } from "urql";
import { graphql } from "../../gql";
import type { ReportRunFormat, ReportScheduleCadence, ReportSchedulesPageQuery } from "../../gql/graphql";
import { formatDateTime, zoneNote } from "../format";
import {
  checkDraft,
  decodeConfig,
  describeTiming,
  draftOf,
  emptyDraft,
  errorsOnFields,
  reportLink,
  scheduleInput,
  WEEKDAYS,
  type FieldErrors,
  type ScheduleDraft,
} from "../reports";
import { ReportsNav } from "../reportsNav";
import { useSession } from "../session";
import { Empty, ErrorState, errorMessage, Loading } from "../states";

const Page = graphql(`
  query ReportSchedulesPage {
    reportSchedules {
      id
      name
      report
      format
      cadence
      timeZone
      time
      weekday
      dayOfMonth
      cron
      memberIds
      teamIds
      status
      pausedReason
      nextSlot
      lastSlot
      canChange
      ownerMember {
        email
        isMember
      }
      members {
        id
        email
        isMember
      }
      teams {
        id
        name
        exists
      }
      lastRuns(first: 1) {
        slot
        outcome
        error
      }
    }
    reports {
      key
      name
    }
  }
`);

const Choices = graphql(`
  query ReportScheduleChoices {
    timeZones
    members {
      id
      email
      role
      status
    }
    teams {
      id
      name
      members {
        id
      }
    }
  }
`);

const Create = graphql(`
  mutation ScheduleReport($input: ReportScheduleInput!) {
    scheduleReport(input: $input) {
      schedule {
        id
      }
      errors {
        field
        message
      }
    }
  }
`);

const Update = graphql(`
  mutation UpdateReportSchedule($id: ID!, $input: ReportScheduleInput!) {
    updateReportSchedule(id: $id, input: $input) {
      schedule {
        id
      }
      errors {
        field
        message
      }
    }
  }
`);

const Pause = graphql(`
  mutation PauseReportSchedule($id: ID!) {
    pauseReportSchedule(id: $id) {
      schedule {
        id
        status
      }
      errors {
        field
        message
      }
    }
  }
`);

const Resume = graphql(`
  mutation ResumeReportSchedule($id: ID!) {
    resumeReportSchedule(id: $id) {
      schedule {
        id
        status
      }
      errors {
        field
        message
      }
    }
  }
`);

const Delete = graphql(`
  mutation DeleteReportSchedule($id: ID!) {
    deleteReportSchedule(id: $id) {
      deleted
      errors {
        field
        message
      }
    }
  }
`);

type Schedule = ReportSchedulesPageQuery["reportSchedules"][number];
type Lists = { timeZones: string[]; members: { id: string; email: string; status: string }[]; teams: { id: string; name: string; members: unknown[] }[] };
const FORMATS: ReportRunFormat[] = ["CSV", "XLSX", "PDF"];
const CADENCES: { value: ReportScheduleCadence; label: string }[] = [
  { value: "DAILY", label: "Daily" },
  { value: "WEEKLY", label: "Weekly" },
  { value: "MONTHLY", label: "Monthly" },
  { value: "CRON", label: "Cron expression" },
];

function rangeText(filters: Record<string, unknown> | null | undefined): string {
  const range = filters?.range as { preset?: string; from?: string; to?: string } | undefined;
  if (!range) return "the report's default range";
  if (range.preset) return range.preset.toLowerCase().replace(/_/g, " ");
  return `${range.from ?? "?"} to ${range.to ?? "?"}`;
}

export function ScheduleForm({
  initial,
  lists,
  reports,
  editing,
  onSubmit,
  onCancel,
}: {
  initial: ScheduleDraft;
  lists: Lists;
  reports: { key: string; name: string }[];
  editing: boolean;
  onSubmit: (draft: ScheduleDraft) => Promise<FieldErrors>;
  onCancel: () => void;
}) {
  const [d, setD] = useState(initial);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const local = checkDraft(d);
    if (Object.keys(local).length > 0) return setErrors(local);
    setBusy(true);
    const refused = await onSubmit(d);
    setBusy(false);
    setErrors(refused);
  };
  const props = (name: string) => ({
    id: `schedule-${name}`,
    "aria-invalid": Boolean(errors[name]),
    "aria-describedby": errors[name] ? `schedule-${name}-error` : undefined,
  });
  const problem = (name: string) =>
    errors[name] ? (
      <span className="field-error" id={`schedule-${name}-error`} role="alert">
        {errors[name]}
      </span>
    ) : null;
  const toggle = (list: "memberIds" | "teamIds", id: string, on: boolean) =>
    setD({ ...d, [list]: on ? [...d[list], id] : d[list].filter((x) => x !== id) });
  const reportName = reports.find((r) => r.key === d.report.report)?.name ?? d.report.report;
  const zones = lists.timeZones.includes(d.timeZone) ? lists.timeZones : [d.timeZone, ...lists.timeZones];
  const title = editing ? `Edit ${initial.name}` : "New schedule";
  return (
    <form className="schedule-form" aria-label={title} onSubmit={(e) => void submit(e)} noValidate>
      <h2>{title}</h2>
      <div className="field">
        <label htmlFor="schedule-report">Report</label>
        <select
          {...props("report")}
          value={d.report.report}
          onChange={(e) => setD({ ...d, report: e.target.value === initial.report.report ? initial.report : { report: e.target.value } })}
        >
          {!d.report.report ? <option value="">Choose a report…</option> : null}
          {reports.map((r) => (
            <option key={r.key} value={r.key}>
              {r.name}
            </option>
          ))}
        </select>
        {problem("report")}
        {d.report.report ? (
          <ul className="config-summary muted small" aria-label="What it sends">
            <li>{d.report.columns ? `${d.report.columns.length} columns, as chosen on the report's page` : `${reportName}'s default columns`}</li>
            {d.report.grouping && d.report.grouping.length > 0 ? <li>Grouped by {d.report.grouping.join(", then ")}</li> : null}
            <li>Rows of {rangeText(d.report.filters)} at each run</li>
          </ul>
        ) : null}
      </div>
      <div className="field">
        <label htmlFor="schedule-name">Name</label>
        <input {...props("name")} value={d.name} maxLength={200} onChange={(e) => setD({ ...d, name: e.target.value })} />
        {problem("name")}
      </div>
      <div className="field">
        <label htmlFor="schedule-format">Format</label>
        <select {...props("format")} value={d.format} onChange={(e) => setD({ ...d, format: e.target.value as ReportRunFormat })}>
          {FORMATS.map((f) => (
            <option key={f} value={f}>
              {f}
            </option>
          ))}
        </select>
        {problem("format")}
      </div>
      <div className="timing">
        <div className="field">
          <label htmlFor="schedule-cadence">Frequency</label>
          <select {...props("cadence")} value={d.cadence} onChange={(e) => setD({ ...d, cadence: e.target.value as ReportScheduleCadence })}>
            {CADENCES.map((c) => (
              <option key={c.value} value={c.value}>
                {c.label}
              </option>
            ))}
          </select>
          {problem("cadence")}
        </div>
        {d.cadence === "WEEKLY" ? (
          <div className="field">
            <label htmlFor="schedule-weekday">Day</label>
            <select {...props("weekday")} value={d.weekday} onChange={(e) => setD({ ...d, weekday: e.target.value })}>
              {WEEKDAYS.map((w, i) => (
                <option key={w} value={String(i + 1)}>
                  {w}
                </option>
              ))}
            </select>
            {problem("weekday")}
          </div>
        ) : null}
        {d.cadence === "MONTHLY" ? (
          <div className="field">
            <label htmlFor="schedule-dayOfMonth">Day of the month</label>
            <input {...props("dayOfMonth")} type="number" min={1} max={31} value={d.dayOfMonth} onChange={(e) => setD({ ...d, dayOfMonth: e.target.value })} />
            {problem("dayOfMonth")}
          </div>
        ) : null}
        {d.cadence === "CRON" ? (
          <div className="field">
            <label htmlFor="schedule-cron">Cron (minute hour day month weekday)</label>
            <input {...props("cron")} value={d.cron} placeholder="0 8 * * 1-5" onChange={(e) => setD({ ...d, cron: e.target.value })} />
            {problem("cron")}
          </div>
        ) : (
          <div className="field">
            <label htmlFor="schedule-time">Time (HH:MM)</label>
            <input {...props("time")} type="time" value={d.time} onChange={(e) => setD({ ...d, time: e.target.value })} />
            {problem("time")}
          </div>
        )}
        <div className="field">
          <label htmlFor="schedule-timeZone">Time zone</label>
          <select {...props("timeZone")} value={d.timeZone} onChange={(e) => setD({ ...d, timeZone: e.target.value })}>
            {zones.map((z) => (
              <option key={z} value={z}>
                {z}
              </option>
            ))}
          </select>
          {problem("timeZone")}
        </div>
      </div>
      <fieldset className="field" aria-describedby={errors.memberIds ? "schedule-memberIds-error" : undefined}>
        <legend>Members to mail</legend>
        {lists.members.length === 0 ? <p className="muted small">No members yet.</p> : null}
        <ul className="recipient-list">
          {lists.members.map((m) => (
            <li key={m.id}>
              <label>
                <input type="checkbox" checked={d.memberIds.includes(m.id)} onChange={(e) => toggle("memberIds", m.id, e.target.checked)} />
                {m.email}
                {m.status === "INVITED" ? <span className="muted small"> (invited)</span> : null}
              </label>
            </li>
          ))}
        </ul>
        {problem("memberIds")}
      </fieldset>
      <fieldset className="field" aria-describedby={errors.teamIds ? "schedule-teamIds-error" : undefined}>
        <legend>Teams to mail (whoever is in the team at each run)</legend>
        {lists.teams.length === 0 ? (
          <p className="muted small">
            No teams yet: <Link to="/settings">Settings › Team</Link> makes them.
          </p>
        ) : null}
        <ul className="recipient-list">
          {lists.teams.map((t) => (
            <li key={t.id}>
              <label>
                <input type="checkbox" checked={d.teamIds.includes(t.id)} onChange={(e) => toggle("teamIds", t.id, e.target.checked)} />
                {t.name} <span className="muted small">({t.members.length} members)</span>
              </label>
            </li>
          ))}
        </ul>
        {problem("teamIds")}
      </fieldset>
      <p className="muted small">With no members and no teams chosen, the schedule mails you.</p>
      {errors.form ? (
        <p className="field-error" role="alert">
          {errors.form}
        </p>
      ) : null}
      <div className="actions">
        <button type="submit" className="button primary" disabled={busy}>
          {editing ? "Save schedule" : "Create schedule"}
        </button>
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function recipientsText(s: Schedule): string {
  const people = s.members.map((m) => (m.isMember ? (m.email ?? "?") : `${m.email ?? "a member"} (left)`));
  const teams = s.teams.map((t) => (t.exists ? `team ${t.name ?? "?"}` : "a deleted team"));
  const all = [...people, ...teams];
  return all.length > 0 ? all.join(", ") : `${s.ownerMember.email ?? "the owner"} (owner)`;
}

export default function ReportSchedules() {
  const { organisation } = useSession();
  const [params, setParams] = useSearchParams();
  const [{ data, error }, refetch] = useQuery({ query: Page });
  const [{ data: lists, error: listsError }] = useQuery({ query: Choices });
  const [, create] = useMutation(Create);
  const [, update] = useMutation(Update);
  const [, pause] = useMutation(Pause);
  const [, resume] = useMutation(Resume);
  const [, remove] = useMutation(Delete);
  const [note, setNote] = useState<{ text: string; error: boolean } | null>(null);
  const reload = () => refetch({ requestPolicy: "network-only" });

  const editing = params.get("edit");
  const creating = params.get("new") === "1";
  const carried = useMemo(() => decodeConfig(params.get("report")), [params]);
  const close = () => {
    const q = new URLSearchParams(params);
    for (const k of ["new", "edit", "report"]) q.delete(k);
    setParams(q);
  };
  const save = async (id: string | null, draft: ScheduleDraft): Promise<FieldErrors> => {
    const input = scheduleInput(draft);
    const result = id ? await update({ id, input }) : await create({ input });
    const payload = result.data ? ("updateReportSchedule" in result.data ? result.data.updateReportSchedule : result.data.scheduleReport) : null;
    if (!payload) return { form: errorMessage(result.error, "The schedule could not be saved; try again.") };
    if (payload.errors.length > 0) return errorsOnFields(payload.errors);
    setNote({ text: id ? `Saved ${draft.name.trim()}.` : `Scheduled ${draft.name.trim()}: ${describeTiming(input)}.`, error: false });
    close();
    reload();
    return {};
  };
  const act = async (what: string, run: () => Promise<{ data?: unknown; error?: CombinedError }>, errorsOf: (d: unknown) => { message: string }[] | undefined) => {
    const result = await run();
    const errs = result.data ? errorsOf(result.data) : undefined;
    setNote(!result.data || (errs && errs.length > 0) ? { text: errs?.[0]?.message ?? errorMessage(result.error, `The schedule could not be ${what}; try again.`), error: true } : { text: `Schedule ${what}.`, error: false });
    reload();
  };

  const reportName = (key: string) => data?.reports.find((r) => r.key === key)?.name ?? key;
  const schedules = data?.reportSchedules ?? [];
  const edited = editing ? schedules.find((s) => s.id === editing) : undefined;
  const formLists: Lists | null = lists ? { timeZones: lists.timeZones, members: lists.members.filter((m) => m.email), teams: lists.teams } : null;
  return (
    <section aria-labelledby="schedules-title">
      <div className="page-head">
        <h1 id="schedules-title">Report schedules</h1>
        {!creating && !editing ? (
          <Link className="button primary" to="/reports/schedules?new=1">
            New schedule
          </Link>
        ) : null}
      </div>
      <ReportsNav />
      <p className="muted">
        A schedule runs a report on its cadence and mails it to its members and teams. To schedule a report as you have set it up (columns, grouping,
        filters), open it in the <Link to="/reports">catalogue</Link> and choose Schedule.
      </p>
      {note ? (
        <p role={note.error ? "alert" : "status"} className={note.error ? "field-error" : "saved"}>
          {note.text}
        </p>
      ) : null}
      {listsError && !lists && (creating || editing) ? <ErrorState error={listsError} what="members and teams" /> : null}
      {creating && formLists && data ? (
        <ScheduleForm
          key={`new-${params.get("report") ?? ""}`}
          initial={{ ...emptyDraft(carried ?? { report: "" }, organisation.timeZone), name: carried ? reportName(carried.report) : "" }}
          lists={formLists}
          reports={data.reports}
          editing={false}
          onSubmit={(d) => save(null, d)}
          onCancel={close}
        />
      ) : null}
      {edited && formLists && data ? (
        <ScheduleForm key={`edit-${edited.id}`} initial={draftOf(edited)} lists={formLists} reports={data.reports} editing onSubmit={(d) => save(edited.id, d)} onCancel={close} />
      ) : null}
      {editing && data && !edited ? (
        <Empty>
          <p>That schedule is not there any more.</p>
          <button type="button" className="button" onClick={close}>
            Back to the schedules
          </button>
        </Empty>
      ) : null}
      {error && !data ? <ErrorState error={error} what="schedules" retry={reload} /> : null}
      {!data && !error ? <Loading what="the schedules" /> : null}
      {data && schedules.length === 0 ? (
        <Empty>
          <p>No report is scheduled yet.</p>
          <p>
            Open a report in the <Link to="/reports">catalogue</Link> and choose Schedule, or choose New schedule.
          </p>
        </Empty>
      ) : null}
      {schedules.length > 0 ? (
        <>
        <p className="muted small">Next and last runs: {zoneNote(organisation.timeZone)}; each schedule runs in the zone it names.</p>
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Schedules (scrolls sideways on narrow screens)">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Report</th>
                <th scope="col">When</th>
                <th scope="col">Format</th>
                <th scope="col">Recipients</th>
                <th scope="col">Status</th>
                <th scope="col">Next run</th>
                <th scope="col">Last run</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {schedules.map((s) => {
                const report = (s.report as { report?: string } | null)?.report ?? "";
                const last = s.lastRuns[0];
                return (
                  <tr key={s.id} data-schedule={s.id}>
                    <td>{s.name}</td>
                    <td>
                      <Link to={reportLink(s.report)}>{reportName(report)}</Link>
                    </td>
                    <td>{describeTiming(s)}</td>
                    <td>{s.format}</td>
                    <td>{recipientsText(s)}</td>
                    <td className={`status-${s.status.toLowerCase()}`}>
                      {s.status === "ACTIVE" ? "Active" : s.pausedReason === "OWNER_LEFT" ? "Paused (its owner left; an admin can resume it)" : "Paused"}
                    </td>
                    <td>{s.nextSlot ? formatDateTime(s.nextSlot, organisation.timeZone) : "–"}</td>
                    <td>
                      {s.lastSlot ? formatDateTime(s.lastSlot, organisation.timeZone) : "Not yet"}
                      {last && last.outcome !== "RUN" ? <span className="muted small"> ({last.outcome.toLowerCase().replace(/_/g, " ")})</span> : null}
                    </td>
                    <td>
                      {s.canChange ? (
                        <span className="cell-actions">
                          <Link className="button small" to={`/reports/schedules?edit=${s.id}`}>
                            Edit <span className="visually-hidden">{s.name}</span>
                          </Link>
                          {s.status === "ACTIVE" ? (
                            <button
                              type="button"
                              className="button small"
                              onClick={() => void act("paused", () => pause({ id: s.id }), (x) => (x as { pauseReportSchedule: { errors: { message: string }[] } }).pauseReportSchedule.errors)}
                            >
                              Pause <span className="visually-hidden">{s.name}</span>
                            </button>
                          ) : (
                            <button
                              type="button"
                              className="button small"
                              onClick={() => void act("resumed", () => resume({ id: s.id }), (x) => (x as { resumeReportSchedule: { errors: { message: string }[] } }).resumeReportSchedule.errors)}
                            >
                              Resume <span className="visually-hidden">{s.name}</span>
                            </button>
                          )}
                          <button
                            type="button"
                            className="button small"
                            onClick={() => {
                              if (!window.confirm(`Delete the schedule ${s.name}? Its runs so far stay in the run history.`)) return;
                              void act("deleted", () => remove({ id: s.id }), (x) => (x as { deleteReportSchedule: { errors: { message: string }[] } }).deleteReportSchedule.errors);
                            }}
                          >
                            Delete <span className="visually-hidden">{s.name}</span>
                          </button>
                        </span>
                      ) : (
                        <span className="muted small">Its owner or an admin changes it</span>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        </>
      ) : null}
    </section>
  );
}
