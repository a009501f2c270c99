// Reports (seed 002): the catalogue by area; a report opens with its default columns and a 10-row preview with the
// exact row count; columns are added, removed and moved (buttons, so the keyboard does it too), the range and
// statuses/types filtered (kept in the URL), then downloaded (CSV/XLSX) or run and mailed (CSV/XLSX/PDF).
import { useMemo, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { useMutation, useQuery } from "urql";
import { graphql } from "../../gql";
import type { ExportFormat, ReportRunFormat } from "../../gql/graphql";
import { download } from "../exporting";
import { formatCell, formatDay, formatNumber, zoneNote } from "../format";
import { RangePicker } from "../RangePicker";
import { rangeInput, useRange } from "../range";
import { Empty, ErrorState, Loading } from "../states";

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
      columns {
        key
        label
        type
      }
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
      errors {
        field
        message
      }
    }
  }
`);

export function CatalogueList() {
  const [{ data, error }, refetch] = useQuery({ query: Catalogue });
  if (error && !data) return <ErrorState error={error} what="reports" retry={() => refetch({ requestPolicy: "network-only" })} />;
  if (!data) return <Loading what="the reports" />;
  const areas = [...new Set(data.reports.map((r) => r.area))];
  return (
    <section aria-labelledby="reports-title">
      <h1 id="reports-title">Reports</h1>
      {areas.map((area) => (
        <section key={area} aria-labelledby={`area-${area}`}>
          <h2 id={`area-${area}`}>{area}</h2>
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
      ))}
    </section>
  );
}

export function ReportView() {
  const { key = "" } = useParams();
  const [{ data: catalogue, error: catalogueError }] = useQuery({ query: Catalogue });
  const report = catalogue?.reports.find((r) => r.key === key);
  const [range, setRange] = useRange();
  const [params, setParams] = useSearchParams();
  const chosen = params.get("columns");
  const columns = useMemo(() => (chosen ? chosen.split(",").filter(Boolean) : (report?.defaultColumns ?? [])), [chosen, report]);
  const status = params.get("status");
  const input = useMemo(
    () => ({
      report: key,
      columns,
      filters: { range: rangeInput(range), ...(status ? { statuses: [status] } : {}) },
    }),
    [key, columns, range, status],
  );
  const [{ data, error, fetching }, refetch] = useQuery({ query: Preview, variables: { input }, pause: !report });
  const [exporting, runExport] = useMutation(ExportReport);
  const [, run] = useMutation(RunReport);
  const [message, setMessage] = useState<{ text: string; error: boolean } | null>(null);

  const setColumns = (next: string[]) => {
    const q = new URLSearchParams(params);
    q.set("columns", next.join(","));
    setParams(q);
  };
  const move = (i: number, by: number) => {
    const next = [...columns];
    const [c] = next.splice(i, 1);
    if (c === undefined) return;
    next.splice(i + by, 0, c);
    setColumns(next);
  };
  const exportAs = async (format: ExportFormat) => {
    const result = await runExport({ input, format });
    const answer = result.data?.requestExport;
    if (answer?.url) download(answer.url);
    else setMessage({ text: answer?.errors[0]?.message ?? "The export could not be made; try again.", error: true });
  };
  const runAs = async (format: ReportRunFormat) => {
    const result = await run({ input, format });
    const err = result.data?.runReport.errors[0];
    setMessage(
      err || !result.data
        ? { text: err?.message ?? "The run could not be queued; try again.", error: true }
        : { text: `The ${format} run is queued: it will be emailed to you.`, error: false },
    );
  };

  if (catalogueError && !catalogue) return <ErrorState error={catalogueError} what="reports" />;
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
  const label = (k: string) => report.columns.find((c) => c.key === k)?.label ?? k;
  return (
    <section aria-labelledby="report-title">
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
          <button type="button" className="button" onClick={() => void runAs("PDF")}>
            Email PDF
          </button>
        </div>
      </div>
      <p className="muted">{report.description}</p>
      {message ? (
        <p role={message.error ? "alert" : "status"} className={message.error ? "field-error" : "saved"}>
          {message.text}
        </p>
      ) : null}
      {report.filters.includes("range") ? <RangePicker value={range} onChange={setRange} /> : null}
      {report.statuses.length > 0 ? (
        <p className="filters">
          <span className="filter">
            <label htmlFor="report-status">Status</label>{" "}
            <select
              id="report-status"
              value={status ?? ""}
              onChange={(e) => {
                const q = new URLSearchParams(params);
                if (e.target.value) q.set("status", e.target.value);
                else q.delete("status");
                setParams(q);
              }}
            >
              <option value="">All</option>
              {report.statuses.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </span>
        </p>
      ) : null}
      <details className="data-table">
        <summary>Columns ({columns.length})</summary>
        <ol className="column-list">
          {columns.map((c, i) => (
            <li key={c}>
              <span>{label(c)}</span>
              <button type="button" className="button small" disabled={i === 0} onClick={() => move(i, -1)}>
                Up <span className="visually-hidden">{label(c)}</span>
              </button>
              <button type="button" className="button small" disabled={i === columns.length - 1} onClick={() => move(i, 1)}>
                Down <span className="visually-hidden">{label(c)}</span>
              </button>
              <button type="button" className="button small" disabled={columns.length === 1} onClick={() => setColumns(columns.filter((x) => x !== c))}>
                Remove <span className="visually-hidden">{label(c)}</span>
              </button>
            </li>
          ))}
        </ol>
        <p className="filter">
          <label htmlFor="report-add">Add a column</label>{" "}
          <select
            id="report-add"
            value=""
            onChange={(e) => {
              if (e.target.value) setColumns([...columns, e.target.value]);
            }}
          >
            <option value="">Choose…</option>
            {report.columns
              .filter((c) => !columns.includes(c.key))
              .map((c) => (
                <option key={c.key} value={c.key}>
                  {c.label}
                </option>
              ))}
          </select>
        </p>
      </details>
      {error && !data ? <ErrorState error={error} what="preview" retry={() => refetch({ requestPolicy: "network-only" })} /> : null}
      {!data && !error ? <Loading what="the preview" /> : null}
      {payload && payload.errors.length > 0 ? (
        <div className="state state-error" role="alert">
          {payload.errors.map((e) => (
            <p key={`${e.field}-${e.message}`}>
              {e.field ? <code>{e.field}</code> : null} {e.message}
            </p>
          ))}
        </div>
      ) : null}
      {preview ? (
        <>
          <p className="count" aria-busy={fetching} data-total={preview.totalRows}>
            {formatNumber(preview.totalRows)} rows in all · the first {Math.min(10, preview.rows.length)} below · {formatDay(preview.firstDay)} –{" "}
            {formatDay(preview.lastDay)} · {zoneNote(preview.timeZone)}
          </p>
          {preview.rows.length === 0 ? (
            <Empty>
              <p>No rows for these filters.</p>
            </Empty>
          ) : (
            <div className="table-scroll" tabIndex={0} role="region" aria-label="Table (scrolls sideways on narrow screens)">
              <table className="report-preview">
                <thead>
                  <tr>
                    {preview.columns.map((c) => (
                      <th scope="col" key={c.key} className={c.type === "money" || c.type === "number" ? "num" : undefined}>
                        {c.label}
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {preview.rows.map((row, i) => (
                    <tr key={i}>
                      {row.map((cell, j) => {
                        const type = preview.columns[j]?.type ?? "text";
                        return (
                          <td key={j} className={type === "money" || type === "number" ? "num" : undefined}>
                            {formatCell(cell, type, preview.timeZone)}
                          </td>
                        );
                      })}
                    </tr>
                  ))}
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
  return key ? <ReportView /> : <CatalogueList />;
}
