// Reports › Run history: the report runs, newest first (a member's own, an admin's every run), 20 a page with the
// cursor in the URL; each with its report, format, status, rows, size and times in the organisation's zone. A
// finished run downloads its stored file (a fresh signed link is asked for at each click: links last 15 minutes);
// a failed one says why. Runs still queued or running are refreshed every few seconds until they finish.
import "./reports.css";
import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useClient, useQuery } from "urql";
import { graphql } from "../../gql";
import { download } from "../exporting";
import { formatDateTime, formatNumber, zoneNote } from "../format";
import { formatBytes, reportLink } from "../reports";
import { ReportsNav } from "../reportsNav";
import { useSession } from "../session";
import { Empty, ErrorState, Loading } from "../states";

const Runs = graphql(`
  query ReportRunsPage($first: Int!, $after: String) {
    reportRuns(first: $first, after: $after) {
      edges {
        cursor
        node {
          id
          requesterEmail
          input
          format
          status
          attempts
          rowCount
          fileSize
          durationMs
          error
          createdAt
          finishedAt
          notifiedAt
        }
      }
      hasNextPage
      endCursor
    }
    reports {
      key
      name
    }
  }
`);

const RunLink = graphql(`
  query ReportRunDownload($id: ID!) {
    reportRun(id: $id) {
      id
      status
      downloadUrl
    }
  }
`);

const PAGE = 20;
const STATUS_TEXT: Record<string, string> = { QUEUED: "Queued", RUNNING: "Running", SUCCEEDED: "Finished", FAILED: "Failed" };

export default function ReportRuns() {
  const { organisation } = useSession();
  const client = useClient();
  const [params, setParams] = useSearchParams();
  const after = params.get("after");
  const [{ data, error, fetching }, refetch] = useQuery({ query: Runs, variables: { first: PAGE, after } });
  const [note, setNote] = useState<string | null>(null);
  const reload = () => refetch({ requestPolicy: "network-only" });
  const runs = data?.reportRuns.edges.map((e) => e.node) ?? [];
  const pending = runs.some((r) => r.status === "QUEUED" || r.status === "RUNNING");
  useEffect(() => {
    if (!pending) return;
    const timer = window.setTimeout(() => refetch({ requestPolicy: "network-only" }), 3000);
    return () => window.clearTimeout(timer);
  }, [pending, data, refetch]);

  const fetchFile = async (id: string) => {
    setNote(null);
    const result = await client.query(RunLink, { id }, { requestPolicy: "network-only" }).toPromise();
    const url = result.data?.reportRun?.downloadUrl;
    if (url) download(url);
    else setNote(result.error ? "The download link could not be made; try again in a moment." : "This run has no file to download.");
  };
  const reportName = (input: unknown) => {
    const key = (input as { report?: string } | null)?.report ?? "";
    return { key, name: data?.reports.find((r) => r.key === key)?.name ?? key };
  };
  return (
    <section aria-labelledby="runs-title">
      <div className="page-head">
        <h1 id="runs-title">Report runs</h1>
        <button type="button" className="button" onClick={reload} disabled={fetching}>
          Refresh
        </button>
      </div>
      <ReportsNav />
      <p className="muted">
        Each run of a report (by Email on a report's page, or by a schedule) is mailed to whoever asked; a finished run's file can be downloaded here too.
      </p>
      {note ? (
        <p role="alert" className="field-error">
          {note}
        </p>
      ) : null}
      {error && !data ? <ErrorState error={error} what="report runs" retry={reload} /> : null}
      {!data && !error ? <Loading what="the report runs" /> : null}
      {data && runs.length === 0 ? (
        <Empty>
          <p>{after ? "No more runs." : "No report has been run yet."}</p>
          {after ? (
            <Link to="/reports/runs">Back to the newest runs</Link>
          ) : (
            <p>
              Open a report in the <Link to="/reports">catalogue</Link> and choose Email CSV or Email PDF.
            </p>
          )}
        </Empty>
      ) : null}
      {runs.length > 0 ? (
        <>
          <p className="muted small">{zoneNote(organisation.timeZone)}</p>
          <div className="table-scroll" tabIndex={0} role="region" aria-label="Report runs (scrolls sideways on narrow screens)" aria-busy={fetching}>
            <table className="runs-table">
              <thead>
                <tr>
                  <th scope="col">Requested</th>
                  <th scope="col">Report</th>
                  <th scope="col">Format</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="num">
                    Rows
                  </th>
                  <th scope="col" className="num">
                    Size
                  </th>
                  <th scope="col">Requested by</th>
                  <th scope="col">Finished</th>
                  <th scope="col">File</th>
                </tr>
              </thead>
              <tbody>
                {runs.map((r) => {
                  const report = reportName(r.input);
                  return (
                    <tr key={r.id} data-run={r.id} data-status={r.status}>
                      <td>{formatDateTime(r.createdAt, organisation.timeZone)}</td>
                      <td>{report.key ? <Link to={reportLink(r.input)}>{report.name}</Link> : "–"}</td>
                      <td>{r.format}</td>
                      <td className={`run-status-${r.status.toLowerCase()}`}>
                        {STATUS_TEXT[r.status] ?? r.status}
                        {r.status === "FAILED" && r.error ? <span className="muted small"> — {r.error}</span> : null}
                        {r.attempts > 1 ? <span className="muted small"> ({r.attempts} attempts)</span> : null}
                      </td>
                      <td className="num">{r.rowCount === null || r.rowCount === undefined ? "–" : formatNumber(r.rowCount)}</td>
                      <td className="num">{formatBytes(r.fileSize)}</td>
                      <td>{r.requesterEmail}</td>
                      <td>{r.finishedAt ? formatDateTime(r.finishedAt, organisation.timeZone) : "–"}</td>
                      <td>
                        {r.status === "SUCCEEDED" ? (
                          <button type="button" className="button small" onClick={() => void fetchFile(r.id)}>
                            Download {r.format} <span className="visually-hidden">of {report.name}, {formatDateTime(r.createdAt, organisation.timeZone)}</span>
                          </button>
                        ) : r.status === "FAILED" ? (
                          <span className="muted small">No file: run it again from the report</span>
                        ) : (
                          <span className="muted small">Not ready yet</span>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <p className="pager">
            {after ? <Link to="/reports/runs">Newest runs</Link> : null}{" "}
            {data?.reportRuns.hasNextPage && data.reportRuns.endCursor ? (
              <button
                type="button"
                className="button"
                onClick={() => {
                  const q = new URLSearchParams(params);
                  q.set("after", data.reportRuns.endCursor ?? "");
                  setParams(q);
                }}
              >
                Older runs
              </button>
            ) : null}
          </p>
        </>
      ) : null}
    </section>
  );
}
