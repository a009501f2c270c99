// Insights (seed 002): the builder (an event type and a measure, filters, up to 3 breakdowns, a range tab or a
// custom range, an interval, a chart type), its answer drawn with ECharts or listed, saving it, and the saved
// list. The whole question lives in the URL (insights.ts), so a reload or a shared link asks the same one.
import { useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useMutation, useQuery } from "urql";
import { graphql } from "../../gql";
import type { ExportFormat, InsightOperator } from "../../gql/graphql";
import { errorCode } from "../api";
import { download } from "../exporting";
import { fieldLabel, formatDateTime, formatNumber, zoneNote } from "../format";
import { DRAWN, formatTotal, InsightChart, InsightTable } from "../insightView";
import {
  builderOfSaved,
  breakdownChoices,
  builderParams,
  CHARTS,
  filterChoices,
  INTERVALS,
  insightInput,
  MAX_BREAKDOWNS,
  MEASURES,
  OPERATORS,
  parseBuilder,
  RANGE_TABS,
  type Builder,
} from "../insights";
import { useSession } from "../session";
import { Empty, ErrorState, Loading } from "../states";
import "./insights.css";

const InsightsPage = graphql(`
  query InsightsPage {
    eventTypes {
      name
      description
      carriesAmount
      dimensions
      business {
        lineItems
        fields {
          name
          filterable
          breakdown
        }
      }
    }
    savedInsights {
      id
      name
      description
      input
      mine
      canEdit
      updatedAt
    }
  }
`);

const InsightsAnswer = graphql(`
  query InsightsAnswer($input: InsightInput!) {
    insight(input: $input) {
      ...InsightAnswerFields
    }
  }
`);

const ExportInsight = graphql(`
  mutation ExportInsight($kind: ExportKind!, $format: ExportFormat!, $input: InsightInput!) {
    requestExport(kind: $kind, format: $format, insightInput: $input) {
      url
      errors {
        field
        message
      }
    }
  }
`);

const SaveInsight = graphql(`
  mutation SaveInsight($input: SaveInsightInput!) {
    saveInsight(input: $input) {
      savedInsight {
        id
      }
      errors {
        field
        message
      }
    }
  }
`);

const DeleteSavedInsight = graphql(`
  mutation DeleteSavedInsight($id: ID!) {
    deleteSavedInsight(id: $id) {
      errors {
        message
      }
    }
  }
`);

function SaveForm({ builder, onSaved }: { builder: Builder; onSaved: (id: string) => void }) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [, save] = useMutation(SaveInsight);
  return (
    <form
      className="filters"
      aria-label="Save this insight"
      onSubmit={(e) => {
        e.preventDefault();
        void save({ input: { name: name.trim(), description, insight: insightInput(builder) } }).then((r) => {
          const payload = r.data?.saveInsight;
          if (!payload) return setErrors({ form: "The insight could not be saved; try again." });
          if (payload.errors.length > 0)
            return setErrors(Object.fromEntries(payload.errors.map((x) => [x.field === "input.name" ? "name" : "form", x.field && x.field !== "input.name" ? `${fieldLabel(x.field)}: ${x.message}` : x.message])));
          setErrors({});
          setName("");
          setDescription("");
          if (payload.savedInsight) onSaved(payload.savedInsight.id);
        });
      }}
    >
      <span className="filter">
        <label htmlFor="insight-name">Name</label>{" "}
        <input id="insight-name" required value={name} aria-invalid={Boolean(errors.name)} onChange={(e) => setName(e.target.value)} />
      </span>
      <span className="filter">
        <label htmlFor="insight-description">Description</label>{" "}
        <input id="insight-description" value={description} onChange={(e) => setDescription(e.target.value)} />
      </span>
      <button type="submit" className="button primary">
        Save insight
      </button>
      {Object.entries(errors).map(([k, m]) => (
        <span key={k} className="field-error" role="alert">
          {m}
        </span>
      ))}
    </form>
  );
}

const EXPORTS: { kind: "INSIGHT_EVENTS" | "INSIGHT_RESULTS"; label: string; what: string }[] = [
  { kind: "INSIGHT_EVENTS", label: "Export events (UGD)", what: "every counted event, once per breakdown value" },
  { kind: "INSIGHT_RESULTS", label: "Export results", what: "the chart's figures as a table" },
];

/** Seed 002's two exports of the question as it stands: UGD (the underlying events) and the results. */
function InsightExports({ builder }: { builder: Builder }) {
  const [format, setFormat] = useState<ExportFormat>("CSV");
  const [state, run] = useMutation(ExportInsight);
  const [problem, setProblem] = useState<string | null>(null);
  const exportAs = async (kind: (typeof EXPORTS)[number]["kind"]) => {
    setProblem(null);
    const result = await run({ kind, format, input: insightInput(builder) });
    const answer = result.data?.requestExport;
    if (answer?.url) return download(answer.url);
    const first = answer?.errors[0];
    if (first) return setProblem(`${first.field ? `${first.field.replace(/^insightInput\./, "")}: ` : ""}${first.message}`);
    setProblem(result.error ? `The export could not be made (${errorCode(result.error) ?? "error"}); try again.` : "The export could not be made; try again.");
  };
  return (
    <div className="filters insight-exports" role="group" aria-label="Export this insight">
      <span className="filter">
        <label htmlFor="insight-export-format">Export format</label>{" "}
        <select id="insight-export-format" value={format} onChange={(e) => setFormat(e.target.value as ExportFormat)}>
          <option value="CSV">CSV</option>
          <option value="XLSX">XLSX</option>
        </select>
      </span>
      {EXPORTS.map((x) => (
        <button key={x.kind} type="button" className="button" title={x.what} disabled={state.fetching} onClick={() => void exportAs(x.kind)}>
          {x.label}
        </button>
      ))}
      {state.fetching ? (
        <span className="muted small" role="status">
          Preparing the file…
        </span>
      ) : null}
      {problem ? (
        <span className="field-error" role="alert">
          {problem}
        </span>
      ) : null}
    </div>
  );
}

export default function Insights() {
  const { organisation } = useSession();
  const [params, setParams] = useSearchParams();
  const [{ data: page, error: pageError }, refetchPage] = useQuery({ query: InsightsPage });
  const firstType = page?.eventTypes[0]?.name ?? "";
  const builder = useMemo(() => parseBuilder(params, firstType), [params, firstType]);
  const saved = params.get("saved");
  const input = useMemo(() => insightInput(builder), [builder]);
  const [{ data, error, fetching }, refetch] = useQuery({ query: InsightsAnswer, variables: { input }, pause: !builder.eventType });
  const [, remove] = useMutation(DeleteSavedInsight);
  const [customFrom, setCustomFrom] = useState("preset" in builder.range ? "" : builder.range.from);
  const [customTo, setCustomTo] = useState("preset" in builder.range ? "" : builder.range.to);
  const [rangeProblem, setRangeProblem] = useState<string | null>(null);
  const [filterDraft, setFilterDraft] = useState<{ field: string; operator: InsightOperator; values: string }>({ field: "", operator: "EQUALS", values: "" });
  const zone = organisation.timeZone;
  const set = (change: Partial<Builder>, keepSaved = false) => setParams(builderParams({ ...builder, ...change }, keepSaved ? saved : null));
  const type = page?.eventTypes.find((t) => t.name === builder.eventType);
  const dimensions = breakdownChoices(type, builder.breakdowns);
  const filterFields = filterChoices(type);
  const measure = MEASURES.find((m) => m.value === builder.measure) ?? MEASURES[0];
  const label = measure?.label ?? "Count";
  const answer = data?.insight;

  if (pageError && !page) return <ErrorState error={pageError} what="insights" retry={() => refetchPage({ requestPolicy: "network-only" })} />;
  if (!page) return <Loading what="the insights builder" />;
  return (
    <section aria-labelledby="insights-title" className="insight-page">
      <div className="page-head">
        <h1 id="insights-title">Insights</h1>
        <div className="actions">
          <Link className="button" to="/insights/dashboards">
            Dashboards
          </Link>
        </div>
      </div>
      <form className="filters" aria-label="The question" onSubmit={(e) => e.preventDefault()}>
        <span className="filter">
          <label htmlFor="insight-type">Event type</label>{" "}
          <select id="insight-type" value={builder.eventType} onChange={(e) => {
              // Another type: its own fields, and an amount measure only if it carries one.
              const next = page.eventTypes.find((t) => t.name === e.target.value);
              const amount = MEASURES.find((m) => m.value === builder.measure)?.amount ?? false;
              set({ eventType: e.target.value, breakdowns: [], filters: [], ...(amount && !next?.carriesAmount ? { measure: "COUNT" } : {}) });
            }}>
            {page.eventTypes.map((t) => (
              <option key={t.name} value={t.name}>
                {t.name}
              </option>
            ))}
          </select>
        </span>
        <span className="filter">
          <label htmlFor="insight-measure">Measure</label>{" "}
          <select id="insight-measure" value={builder.measure} onChange={(e) => set({ measure: e.target.value as Builder["measure"] })}>
            {MEASURES.filter((m) => !m.amount || type?.carriesAmount).map((m) => (
              <option key={m.value} value={m.value}>
                {m.label}
              </option>
            ))}
          </select>
        </span>
        <span className="filter">
          <label htmlFor="insight-interval">Interval</label>{" "}
          <select id="insight-interval" value={builder.interval} onChange={(e) => set({ interval: e.target.value as Builder["interval"] })}>
            {INTERVALS.map((i) => (
              <option key={i.value} value={i.value}>
                {i.label}
              </option>
            ))}
          </select>
        </span>
        {builder.breakdowns.map((by, i) => (
          <span className="filter" key={`${by}-${i}`}>
            <label htmlFor={`insight-by-${i}`}>Breakdown {i + 1}</label>{" "}
            <select
              id={`insight-by-${i}`}
              value={by}
              onChange={(e) => set({ breakdowns: builder.breakdowns.map((b, j) => (j === i ? e.target.value : b)) })}
            >
              {dimensions.map((d) => (
                <option key={d} value={d}>
                  {d}
                </option>
              ))}
            </select>{" "}
            <button type="button" className="button small" onClick={() => set({ breakdowns: builder.breakdowns.filter((_, j) => j !== i) })}>
              Remove <span className="visually-hidden">breakdown {i + 1}</span>
            </button>
          </span>
        ))}
        {builder.breakdowns.length < MAX_BREAKDOWNS && dimensions.length > 0 ? (
          <button
            type="button"
            className="button"
            onClick={() => set({ breakdowns: [...builder.breakdowns, dimensions.find((d) => !builder.breakdowns.includes(d)) ?? dimensions[0] ?? ""] })}
          >
            Add breakdown
          </button>
        ) : null}
      </form>
      <div className="filters" role="group" aria-label="Filters of the question">
        {builder.filters.map((f, i) => (
          <span className="badge" key={i}>
            {f.field} {OPERATORS.find((o) => o.value === f.operator)?.label} {f.values.join(", ")}{" "}
            <button type="button" className="link-button" onClick={() => set({ filters: builder.filters.filter((_, j) => j !== i) })}>
              Remove <span className="visually-hidden">filter on {f.field}</span>
            </button>
          </span>
        ))}
        <form
          className="filters"
          aria-label="Add a filter"
          onSubmit={(e) => {
            e.preventDefault();
            const field = filterDraft.field || filterFields[0];
            if (!field) return;
            const values = filterDraft.values.split(",").map((v) => v.trim()).filter(Boolean);
            set({ filters: [...builder.filters, { field, operator: filterDraft.operator, values }] });
            setFilterDraft({ ...filterDraft, values: "" });
          }}
        >
          <span className="filter">
            <label htmlFor="insight-filter-field">Filter field</label>{" "}
            <input
              id="insight-filter-field"
              list="insight-dimensions"
              value={filterDraft.field}
              placeholder={filterFields[0] ?? ""}
              onChange={(e) => setFilterDraft({ ...filterDraft, field: e.target.value })}
            />
            <datalist id="insight-dimensions">
              {filterFields.map((d) => (
                <option key={d} value={d} />
              ))}
            </datalist>
          </span>
          <span className="filter">
            <label htmlFor="insight-filter-op">Operator</label>{" "}
            <select id="insight-filter-op" value={filterDraft.operator} onChange={(e) => setFilterDraft({ ...filterDraft, operator: e.target.value as InsightOperator })}>
              {OPERATORS.map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </select>
          </span>
          <span className="filter">
            <label htmlFor="insight-filter-values">Values (comma-separated)</label>{" "}
            <input id="insight-filter-values" value={filterDraft.values} onChange={(e) => setFilterDraft({ ...filterDraft, values: e.target.value })} />
          </span>
          <button type="submit" className="button">
            Add filter
          </button>
        </form>
      </div>
      <div className="range-picker">
        <div role="group" aria-label="Time range" className="tabs">
          {RANGE_TABS.map((t) => {
            const active = "preset" in builder.range && builder.range.preset === t.value;
            return (
              <button key={t.value} type="button" className={active ? "tab active" : "tab"} aria-pressed={active} onClick={() => set({ range: { preset: t.value } })}>
                {t.label}
              </button>
            );
          })}
        </div>
        <form
          className="custom-range"
          aria-label="Custom time range"
          onSubmit={(e) => {
            e.preventDefault();
            if (!customFrom || !customTo) return setRangeProblem("Choose both the first and the last day.");
            if (customFrom > customTo) return setRangeProblem("The first day must not be after the last day.");
            setRangeProblem(null);
            set({ range: { from: customFrom, to: customTo } });
          }}
        >
          <label>
            From <input type="date" value={customFrom} onChange={(e) => setCustomFrom(e.target.value)} />
          </label>
          <label>
            To <input type="date" value={customTo} onChange={(e) => setCustomTo(e.target.value)} />
          </label>
          <button type="submit" className="button">
            Apply
          </button>
          {rangeProblem ? (
            <span role="alert" className="field-error">
              {rangeProblem}
            </span>
          ) : null}
        </form>
      </div>
      <div role="group" aria-label="Chart type" className="tabs">
        {CHARTS.map((c) => (
          <button
            key={c.value}
            type="button"
            className={builder.chartType === c.value ? "tab active" : "tab"}
            aria-pressed={builder.chartType === c.value}
            onClick={() => set({ chartType: c.value }, true)}
          >
            {c.label}
          </button>
        ))}
      </div>
      {!builder.eventType ? (
        <Empty>
          <p>No event type is in the catalogue yet.</p>
        </Empty>
      ) : null}
      {error && errorCode(error) === "INVALID_INPUT" ? (
        // The question itself is refused (a filter's field or value, a range): say which part and why; the
        // builder above keeps it, to be corrected.
        <div className="state state-error" role="alert">
          <p>
            <strong>This question cannot be answered.</strong>{" "}
            {error.graphQLErrors.map((g) => {
              const field = g.extensions?.field;
              return `${typeof field === "string" ? `${fieldLabel(field)}: ` : ""}${g.message}`;
            }).join(" ")}
          </p>
        </div>
      ) : error && !answer ? (
        <ErrorState error={error} what="insight" retry={() => refetch({ requestPolicy: "network-only" })} />
      ) : null}
      {builder.eventType && !answer && !error ? <Loading what="the insight" /> : null}
      {answer ? (
        <div aria-busy={fetching}>
          {answer.series.length === 0 ? (
            <Empty>
              <p>No {builder.eventType} events in this range.</p>
              <p className="muted">Widen the range or remove a filter.</p>
            </Empty>
          ) : (
            <>
              <p className="muted small">
                Total:{" "}
                <span data-testid="insight-total">
                  {formatTotal(answer)}
                </span>
                {answer.others.series > 0 ? ` · ${formatNumber(answer.others.series)} more series not shown` : ""}
                {answer.buckets.some((b) => b.partial) ? " · * part of the period is older than the 90 days of raw events kept" : ""}
              </p>
              <InsightExports builder={builder} />
              {DRAWN.includes(builder.chartType) ? <InsightChart answer={answer} builder={builder} label={label} saved={saved} /> : null}
              <InsightTable answer={answer} builder={builder} label={label} saved={saved} full={builder.chartType !== "LIST" && builder.chartType !== "PIE"} />
            </>
          )}
          <SaveForm
            builder={builder}
            onSaved={(id) => {
              setParams(builderParams(builder, id));
              refetchPage({ requestPolicy: "network-only" });
            }}
          />
        </div>
      ) : null}
      <section aria-labelledby="saved-title">
        <h2 id="saved-title">Saved insights</h2>
        {page.savedInsights.length === 0 ? (
          <Empty>
            <p>No saved insight yet.</p>
            <p className="muted">Build one above, then save it.</p>
          </Empty>
        ) : (
          <>
            <p className="muted small saved-zone">Each shows when it was last saved. {zoneNote(zone)}.</p>
            <ul className="report-list saved">
              {page.savedInsights.map((s) => (
                <li key={s.id} aria-current={saved === s.id ? "true" : undefined}>
                  <button type="button" className="link-button" onClick={() => setParams(builderParams(builderOfSaved(s.input), s.id))}>
                    {s.name}
                  </button>{" "}
                  <span className="muted small">
                    {s.description ? `${s.description} · ` : ""}
                    {s.mine ? "yours" : "shared"} · {formatDateTime(s.updatedAt, zone)}
                  </span>{" "}
                  {s.canEdit ? (
                    <button
                      type="button"
                      className="button small"
                      onClick={() => {
                        if (!window.confirm(`Delete the saved insight ${s.name}?`)) return;
                        void remove({ id: s.id }).then(() => refetchPage({ requestPolicy: "network-only" }));
                      }}
                    >
                      Delete <span className="visually-hidden">{s.name}</span>
                    </button>
                  ) : null}
                </li>
              ))}
            </ul>
          </>
        )}
      </section>
    </section>
  );
}
