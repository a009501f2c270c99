// Reports (seed 002): the catalogue by area; a report opens with its default columns and a 10-row preview with the
// exact row count; columns are added (the report's own and, in itemised reports, custom fields), removed and
// reordered — dragged, or moved with the Up/Down buttons from the keyboard, each move announced — and the rows
// grouped (two levels, with subtotals); the range, status, type, interval and segment filtered. All of it is kept
// in the URL. Then the report is downloaded (CSV/XLSX), run and mailed (CSV/XLSX/PDF) or scheduled (its
// configuration carried to the Schedules page). Custom fields are defined here too (admins): /reports/custom-fields.
import "./reports.css";
import { useMemo, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { useMutation, useQuery } from "urql";
import { graphql } from "../../gql";
import type { ExportFormat, ReportInterval, ReportRunFormat } from "../../gql/graphql";
import { download } from "../exporting";
import { formatCell, formatDay, formatNumber, zoneNote } from "../format";
import { RangePicker } from "../RangePicker";
import { rangeInput, useRange } from "../range";
import {
  aggregatesParam,
  customColumns,
  encodeConfig,
  listParam,
  moveAnnouncement,
  moveItem,
  parseAggregates,
  rowKind,
  withAggregate,
} from "../reports";
import { ReportsNav } from "../reportsNav";
import { Empty, ErrorState, Loading } from "../states";
import { CustomFields } from "../reportsCustomFields";

const Catalogue = graphql(`
  query ReportCatalogue {
    reports {
      key
      area
      name
      description
      kind
      defaultColumns
      filters
      statuses
      types
      customFields
      contactCustomFields
      columns {
        key
        label
        type
        groupable
        aggregates
      }
    }
  }
`);

const ReportFields = graphql(`
  query ReportCustomFieldColumns {
    customFields {
      id
      entity
      key
      name
    }
  }
`);

const ReportSegments = graphql(`
  query ReportSegmentChoices {
    segments {
      id
      name
    }
  }
`);

const Preview = graphql(`
  query ReportPreviewPage($input: ReportInput!) {
    reportPreview(input: $input) {
      preview {
        columns {
          key
          label
          type
        }
        rows
        totalRows
        firstDay
        lastDay
        timeZone
      }
      errors {
        field
        message
      }
    }
  }
`);

const ExportReport = graphql(`
  mutation ExportReport($input: ReportInput!, $format: ExportFormat!) {
    requestExport(kind: REPORT, format: $format, reportInput: $input) {
      url
      errors {
        field
        message
      }
    }
  }
`);

const RunReport = graphql(`
  mutation RunReport($input: ReportInput!, $format: ReportRunFormat!) {
    runReport(input: $input, format: $format) {
      run {
        id
      }
      errors {
        field
        message
      }
    }
  }
`);

export function CatalogueList() {
  const [{ data, error }, refetch] = useQuery({ query: Catalogue });
  return (
    <section aria-labelledby="reports-title">
      <h1 id="reports-title">Reports</h1>
      <ReportsNav />
      {error && !data ? <ErrorState error={error} what="reports" retry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && !error ? <Loading what="the reports" /> : null}
      {data
        ? [...new Set(data.reports.map((r) => r.area))].map((area) => (
            <section key={area} aria-labelledby={`area-${area.replace(/\W+/g, "-")}`}>
              <h2 id={`area-${area.replace(/\W+/g, "-")}`}>{area}</h2>
              <ul className="report-list">
                {data.reports
                  .filter((r) => r.area === area)
                  .map((r) => (
                    <li key={r.key}>
                      <Link to={`/reports/${r.key}`}>{r.name}</Link> <span className="muted small">({r.kind.toLowerCase()})</span>
                      <p className="muted small">{r.description}</p>
                    </li>
                  ))}
              </ul>
            </section>
          ))
        : null}
    </section>
  );
}

type ColumnEditorProps = {
  columns: string[];
  label: (key: string) => string;
  onChange: (next: string[]) => void;
  addable: { key: string; label: string }[];
};

/** The chosen columns in order: drag one onto another's place, or use Up/Down (the keyboard's way); each move is
 * announced in a live region. */
export function ColumnEditor({ columns, label, onChange, addable }: ColumnEditorProps) {
  const [dragging, setDragging] = useState<number | null>(null);
  const [over, setOver] = useState<number | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const move = (from: number, to: number) => {
    const next = moveItem(columns, from, to);
    const moved = columns[from];
    if (moved === undefined || next.join(",") === columns.join(",")) return;
    onChange(next);
    setAnnouncement(moveAnnouncement(label(moved), next.indexOf(moved), next.length));
  };
  return (
    <div className="column-editor" role="group" aria-label="Columns and their order">
      <p className="muted small" id="columns-help">
        Drag a column by its handle to a new place, or move it with its Up and Down buttons.
      </p>
      <ol className="column-list" aria-describedby="columns-help">
        {columns.map((c, i) => (
          <li
            key={c}
            className={`column-item${dragging === i ? " dragging" : ""}${over === i && dragging !== i ? " drop-target" : ""}`}
            draggable
            data-column={c}
            onDragStart={(e) => {
              e.dataTransfer.effectAllowed = "move";
              e.dataTransfer.setData("text/plain", String(i));
              setDragging(i);
            }}
            onDragOver={(e) => {
              e.preventDefault();
              e.dataTransfer.dropEffect = "move";
              if (over !== i) setOver(i);
            }}
            onDragLeave={() => setOver((o) => (o === i ? null : o))}
            onDrop={(e) => {
              e.preventDefault();
              const from = dragging ?? Number(e.dataTransfer.getData("text/plain"));
              setDragging(null);
              setOver(null);
              if (Number.isInteger(from)) move(from, i);
            }}
            onDragEnd={() => {
              setDragging(null);
              setOver(null);
            }}
          >
            <span className="drag-handle" aria-hidden="true">
              ⠿
            </span>
            <span className="column-label">{label(c)}</span>
            <button type="button" className="button small" disabled={i === 0} onClick={() => move(i, i - 1)}>
              Up <span className="visually-hidden">{label(c)}</span>
            </button>
            <button type="button" className="button small" disabled={i === columns.length - 1} onClick={() => move(i, i + 1)}>
              Down <span className="visually-hidden">{label(c)}</span>
            </button>
            <button
              type="button"
              className="button small"
              disabled={columns.length === 1}
              onClick={() => {
                onChange(columns.filter((x) => x !== c));
                setAnnouncement(`${label(c)} removed.`);
              }}
            >
              Remove <span className="visually-hidden">{label(c)}</span>
            </button>
          </li>
        ))}
      </ol>
      <p className="visually-hidden" aria-live="polite" data-testid="column-announcement">
        {announcement}
      </p>
      <p className="filter">
        <label htmlFor="report-add">Add a column</label>{" "}
        <select
          id="report-add"
          value=""
          onChange={(e) => {
            const key = e.target.value;
            if (!key) return;
            onChange([...columns, key]);
            setAnnouncement(`${label(key)} added at position ${columns.length + 1}.`);
          }}
        >
          <option value="">Choose…</option>
          {addable.map((c) => (
            <option key={c.key} value={c.key}>
              {c.label}
            </option>
          ))}
        </select>
      </p>
    </div>
  );
}

export function ReportView() {
  const { key = "" } = useParams();
  const [{ data: catalogue, error: catalogueError }, refetchCatalogue] = useQuery({ query: Catalogue });
  const [{ data: fieldData }] = useQuery({ query: ReportFields });
  const [{ data: segmentData }] = useQuery({ query: ReportSegments, pause: !catalogue?.reports.find((r) => r.key === key)?.filters.includes("segmentId") });
  const report = catalogue?.reports.find((r) => r.key === key);
  const [range, setRange] = useRange();
  const [params, setParams] = useSearchParams();
  const chosen = params.get("columns");
  const columns = useMemo(() => listParam(chosen) ?? [...(report?.defaultColumns ?? [])], [chosen, report]);
  const group = params.get("group");
  const grouping = useMemo(() => listParam(group) ?? [], [group]);
  const agg = params.get("agg");
  // Summaries apply to a grouped report's chosen, ungrouped columns only: others in the URL are left out.
  const aggregates = useMemo(
    () => parseAggregates(agg).filter((a) => grouping.length > 0 && columns.includes(a.column) && !grouping.includes(a.column)),
    [agg, grouping, columns],
  );
  const status = params.get("status");
  const type = params.get("type");
  const interval = params.get("interval") as ReportInterval | null;
  const segment = params.get("segment");
  const input = useMemo(
    () => ({
      report: key,
      columns,
      ...(grouping.length > 0 ? { grouping } : {}),
      ...(aggregates.length > 0 ? { aggregates } : {}),
      filters: {
        range: rangeInput(range),
        ...(status ? { statuses: [status] } : {}),
        ...(type ? { types: [type] } : {}),
        ...(interval ? { interval } : {}),
        ...(segment ? { segmentId: segment } : {}),
      },
    }),
    [key, columns, grouping, aggregates, range, status, type, interval, segment],
  );
  const [{ data, error, fetching }, refetch] = useQuery({ query: Preview, variables: { input }, pause: !report });
  const [exporting, runExport] = useMutation(ExportReport);
  const [running, run] = useMutation(RunReport);
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);

  const custom = useMemo(() => (report ? customColumns(report, fieldData?.customFields ?? []) : []), [report, fieldData]);
  const setParam = (name: string, value: string[] | string | null) => {
    const q = new URLSearchParams(params);
    const v = Array.isArray(value) ? value.join(",") : value;
    if (v) q.set(name, v);
    else q.delete(name);
    setParams(q);
  };
  const exportAs = async (format: ExportFormat) => {
    setMessage(null);
    const result = await runExport({ input, format });
    const answer = result.data?.requestExport;
    if (answer?.url) download(answer.url);
    else setMessage({ text: answer?.errors[0]?.message ?? "The export could not be made; try again.", error: true });
  };
  const runAs = async (format: ReportRunFormat) => {
    setMessage(null);
    const result = await run({ input, format });
    const err = result.data?.runReport.errors[0];
    setMessage(
      err || !result.data
        ? { text: err?.message ?? "The run could not be queued; try again.", error: true }
        : { text: `The ${format} run is queued: it will be emailed to you. Run history shows it.`, error: false },
    );
  };

  if (catalogueError && !catalogue) return <ErrorState error={catalogueError} what="reports" retry={() => refetchCatalogue({ requestPolicy: "network-only" })} />;
  if (!catalogue) return <Loading what="the report" />;
  if (!report) {
    return (
      <Empty>
        <p>There is no report {key}.</p>
        <Link to="/reports">All reports</Link>
      </Empty>
    );
  }
  const payload = data?.reportPreview;
  const preview = payload?.preview;
  const label = (k: string) => report.columns.find((c) => c.key === k)?.label ?? custom.find((c) => c.key === k)?.label ?? k;
  const addable = [...report.columns.map((c) => ({ key: c.key, label: c.label })), ...custom].filter((c) => !columns.includes(c.key));
  const groupable = [
    ...report.columns.filter((c) => c.groupable).map((c) => ({ key: c.key, label: c.label })),
    ...custom.filter((c) => columns.includes(c.key)),
  ];
  const summarised = report.columns.filter((c) => columns.includes(c.key) && !grouping.includes(c.key) && c.key !== "currency" && c.aggregates.length > 1);
  const rowColumn = preview ? preview.columns.findIndex((c) => c.key === "_row") : -1;
  const scheduleLink = `/reports/schedules?new=1&report=${encodeURIComponent(encodeConfig({ report: key, columns, grouping, aggregates, filters: input.filters }))}`;
  return (
    <section aria-labelledby="report-title">
      <ReportsNav />
      <p>
        <Link to="/reports">← All reports</Link>
      </p>
      <div className="page-head">
        <h1 id="report-title">{report.name}</h1>
        <div className="actions">
          <button type="button" className="button primary" disabled={exporting.fetching} onClick={() => void exportAs("CSV")}>
            Download CSV
          </button>
          <button type="button" className="button" disabled={exporting.fetching} onClick={() => void exportAs("XLSX")}>
            Download XLSX
          </button>
          <button type="button" className="button" disabled={running.fetching} onClick={() => void runAs("CSV")}>
            Email CSV
          </button>
          <button type="button" className="button" disabled={running.fetching} onClick={() => void runAs("XLSX")}>
            Email XLSX
          </button>
          <button type="button" className="button" disabled={running.fetching} onClick={() => void runAs("PDF")}>
            Email PDF
          </button>
          <Link className="button" to={scheduleLink}>
            Schedule
          </Link>
        </div>
      </div>
      <p className="muted">{report.description}</p>
      {message ? (
        <p role={message.error ? "alert" : "status"} className={message.error ? "field-error" : "saved"}>
          {message.text} {message.error ? null : <Link to="/reports/runs">Open run history</Link>}
        </p>
      ) : null}
      {report.filters.includes("range") ? <RangePicker value={range} onChange={setRange} /> : null}
      <p className="filters">
        {report.statuses.length > 0 ? (
          <span className="filter">
            <label htmlFor="report-status">Status</label>{" "}
            <select id="report-status" value={status ?? ""} onChange={(e) => setParam("status", e.target.value || null)}>
              <option value="">All</option>
              {report.statuses.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </span>
        ) : null}
        {report.types.length > 0 ? (
          <span className="filter">
            <label htmlFor="report-type">Type</label>{" "}
            <select id="report-type" value={type ?? ""} onChange={(e) => setParam("type", e.target.value || null)}>
              <option value="">All</option>
              {report.types.map((t) => (
                <option key={t} value={t}>
                  {t.replace(/_/g, " ")}
                </option>
              ))}
            </select>
          </span>
        ) : null}
        {report.filters.includes("interval") ? (
          <span className="filter">
            <label htmlFor="report-interval">Per</label>{" "}
            <select id="report-interval" value={interval ?? ""} onChange={(e) => setParam("interval", e.target.value || null)}>
              <option value="">The report's default</option>
              <option value="DAY">Day</option>
              <option value="WEEK">Week</option>
              <option value="MONTH">Month</option>
            </select>
          </span>
        ) : null}
        {report.filters.includes("segmentId") && (segmentData?.segments.length ?? 0) > 0 ? (
          <span className="filter">
            <label htmlFor="report-segment">Segment</label>{" "}
            <select id="report-segment" value={segment ?? ""} onChange={(e) => setParam("segment", e.target.value || null)}>
              <option value="">Every contact</option>
              {segmentData?.segments.map((s) => (
                <option key={s.id} value={s.id}>
                  {s.name}
                </option>
              ))}
            </select>
          </span>
        ) : null}
      </p>
      <details className="data-table column-details">
        <summary>
          Columns ({columns.length}): add, remove, reorder{custom.length > 0 ? ", custom fields" : ""}
        </summary>
        <ColumnEditor columns={columns} label={label} onChange={(next) => setParam("columns", next)} addable={addable} />
      </details>
      {report.kind === "ITEMISED" && custom.length === 0 ? (
        <p className="muted small">
          No custom fields are defined for these rows yet: <Link to="/reports/custom-fields">define one</Link> to add it as a column.
        </p>
      ) : null}
      <fieldset className="grouping">
        <legend>Group rows (subtotals per group, a total at the end)</legend>
        {[0, 1].map((level) => (
          <span className="filter" key={level}>
            <label htmlFor={`report-group-${level}`}>{level === 0 ? "Group by" : "then by"}</label>
            <select
              id={`report-group-${level}`}
              value={grouping[level] ?? ""}
              disabled={level === 1 && !grouping[0]}
              onChange={(e) => {
                const next = [...grouping];
                if (e.target.value) next[level] = e.target.value;
                else next.splice(level);
                setParam("group", next.filter((g, i) => g && next.indexOf(g) === i));
              }}
            >
              <option value="">{level === 0 ? "No grouping" : "No second level"}</option>
              {groupable
                .filter((c) => level === 0 || c.key !== grouping[0])
                .map((c) => (
                  <option key={c.key} value={c.key}>
                    {c.label}
                  </option>
                ))}
            </select>
          </span>
        ))}
        {grouping.length > 0
          ? summarised.map((c) => (
              <span className="filter" key={c.key}>
                <label htmlFor={`report-agg-${c.key}`}>Summary of {c.label}</label>
                <select
                  id={`report-agg-${c.key}`}
                  value={aggregates.find((a) => a.column === c.key)?.function ?? ""}
                  onChange={(e) => setParam("agg", aggregatesParam(withAggregate(aggregates, c.key, e.target.value)) || null)}
                >
                  <option value="">{c.aggregates.includes("SUM") ? "Sum (default)" : "Count (default)"}</option>
                  {c.aggregates.map((fn) => (
                    <option key={fn} value={fn}>
                      {fn.charAt(0) + fn.slice(1).toLowerCase()}
                    </option>
                  ))}
                </select>
              </span>
            ))
          : null}
      </fieldset>
      {error && !data ? <ErrorState error={error} what="preview" retry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && !error ? <Loading what="the preview" /> : null}
      {payload && payload.errors.length > 0 ? (
        <div className="state state-error" role="alert">
          {payload.errors.map((e) => (
            <p key={`${e.field}-${e.message}`}>
              {e.field ? <code>{e.field}</code> : null} {e.message}
            </p>
          ))}
          <p>Change the columns, grouping or filters above to fix it.</p>
        </div>
      ) : null}
      {preview ? (
        <>
          <p className="count" aria-busy={fetching} data-total={preview.totalRows}>
            {formatNumber(preview.totalRows)} {grouping.length > 0 ? "rows (groups, subtotals and the total)" : "rows"} in all · the first{" "}
            {Math.min(10, preview.rows.length)} below · {formatDay(preview.firstDay)} – {formatDay(preview.lastDay)} · {zoneNote(preview.timeZone)}
          </p>
          {preview.rows.length === 0 ? (
            <Empty>
              <p>No rows for these filters. Choose a wider range or another status.</p>
            </Empty>
          ) : (
            <div className="table-scroll" tabIndex={0} role="region" aria-label="Preview (scrolls sideways on narrow screens)">
              <table className="report-preview">
                <thead>
                  <tr>
                    {preview.columns.map((c) => (
                      <th scope="col" key={c.key} data-key={c.key} className={c.type === "money" || c.type === "number" ? "num" : undefined}>
                        {c.key === "_row" ? "Row" : label(c.key) === c.key ? c.label : label(c.key)}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {preview.rows.map((row, i) => {
                    const kind = rowColumn >= 0 ? rowKind(row[rowColumn]) : "row";
                    return (
                      <tr key={i} className={`row-${kind}`}>
                        {row.map((cell, j) => {
                          const type = preview.columns[j]?.type ?? "text";
                          if (j === rowColumn) return <td key={j}>{kind === "subtotal" ? "Subtotal" : kind === "total" ? "Total" : ""}</td>;
                          return (
                            <td key={j} className={type === "money" || type === "number" ? "num" : undefined}>
                              {formatCell(cell, type, preview.timeZone)}
                            </td>
                          );
                        })}
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
        </>
      ) : null}
    </section>
  );
}

export default function Reports() {
  const { key } = useParams();
  if (key === "custom-fields") return <CustomFields />;
  return key ? <ReportView /> : <CatalogueList />;
}
