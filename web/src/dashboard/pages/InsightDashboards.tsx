// Insights > Dashboards (seed 002): the organisation's dashboards (the default one first), a new one, renaming
// and deleting, and a dashboard's tiles in grid order, each a saved insight drawn with its current answer.
// Tiles are added from the saved insights, moved earlier or later (buttons: keyboard first), resized (1 to 4
// columns) and removed. Live: `dashboardUpdated` pushes the tiles whose event types just received events, and
// each replaces its tile in place (insightDashboards.ts), without a reload.
import { useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { useMutation, useQuery, useSubscription } from "urql";
import { graphql } from "../../gql";
import type { DashboardTileFieldsFragment } from "../../gql/graphql";
import { formatDateTime, zoneNote } from "../format";
import { clampWidth, fieldErrors, keepPushed, mergeTiles, movedTo, notOnDashboard, WIDTHS } from "../insightDashboards";
import { builderOfSaved, builderParams, MEASURES } from "../insights";
import { DRAWN, formatTotal, InsightChart, InsightTable } from "../insightView";
import { useSession } from "../session";
import { Empty, ErrorState, Loading } from "../states";
import "./insights.css";

graphql(`
  fragment DashboardTileFields on DashboardTile {
    position
    width
    savedInsight {
      id
      name
      description
      input
      canEdit
      error {
        field
        message
      }
      answer {
        ...InsightAnswerFields
      }
    }
  }
`);

const DashboardsList = graphql(`
  query InsightDashboardsList {
    dashboards {
      id
      name
      isDefault
      byPlatform
      mine
      canEdit
      tileCount
      updatedAt
    }
    savedInsights {
      id
      name
    }
  }
`);

const DashboardView = graphql(`
  query InsightDashboard($id: ID!) {
    dashboard(id: $id) {
      id
      name
      isDefault
      canEdit
      tileCount
      updatedAt
      tiles {
        ...DashboardTileFields
      }
    }
  }
`);

const DashboardLive = graphql(`
  subscription InsightDashboardLive($id: ID!) {
    dashboardUpdated(id: $id) {
      at
      initial
      dashboard {
        id
        tiles {
          ...DashboardTileFields
        }
      }
    }
  }
`);

const CreateDashboard = graphql(`
  mutation CreateDashboard($name: String!) {
    createDashboard(name: $name) {
      dashboard {
        id
      }
      errors {
        field
        message
      }
    }
  }
`);

const RenameDashboard = graphql(`
  mutation RenameDashboard($id: ID!, $name: String!) {
    renameDashboard(id: $id, name: $name) {
      dashboard {
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

const DeleteDashboard = graphql(`
  mutation DeleteDashboard($id: ID!) {
    deleteDashboard(id: $id) {
      deleted
      errors {
        field
        message
      }
    }
  }
`);

const AddTile = graphql(`
  mutation AddDashboardTile($dashboardId: ID!, $savedInsightId: ID!) {
    addDashboardTile(dashboardId: $dashboardId, savedInsightId: $savedInsightId) {
      dashboard {
        id
        tileCount
      }
      errors {
        field
        message
      }
    }
  }
`);

const MoveTile = graphql(`
  mutation MoveDashboardTile($dashboardId: ID!, $savedInsightId: ID!, $position: Int, $width: Int) {
    moveDashboardTile(dashboardId: $dashboardId, savedInsightId: $savedInsightId, position: $position, width: $width) {
      dashboard {
        id
        tileCount
      }
      errors {
        field
        message
      }
    }
  }
`);

const RemoveTile = graphql(`
  mutation RemoveDashboardTile($dashboardId: ID!, $savedInsightId: ID!) {
    removeDashboardTile(dashboardId: $dashboardId, savedInsightId: $savedInsightId) {
      dashboard {
        id
        tileCount
      }
      errors {
        field
        message
      }
    }
  }
`);

type Tile = DashboardTileFieldsFragment;

/** The last data a query answered: a refetch that fails (busy, rate-limited) keeps the page on screen, the
 * failure shown beside it, rather than replacing the page with the error. */
function useLast<T>(value: T | undefined): T | undefined {
  const last = useRef(value);
  if (value !== undefined) last.current = value;
  return last.current;
}

function StaleNote({ error, retry }: { error: { message: string } | undefined; retry: () => void }) {
  if (!error) return null;
  return (
    <p className="field-error" role="alert">
      The latest figures could not be read ({error.message.replace(/^\[\w+\]\s*/, "")}); these may be out of date.{" "}
      <button type="button" className="link-button" onClick={retry}>
        Read them again
      </button>
    </p>
  );
}
type Payload = { errors: readonly { field?: string | null; message: string }[] } | null | undefined;

/** A mutation's outcome as a message ("" when it went through). */
function problemOf(result: { error?: { message: string } | undefined }, payload: Payload, what: string): string {
  if (payload && payload.errors.length === 0) return "";
  const first = payload?.errors[0];
  if (first) return `${first.field ? `${first.field}: ` : ""}${first.message}`;
  return `${what} did not go through${result.error ? ` (${result.error.message})` : ""}; try again.`;
}

export function NameForm({
  id,
  label,
  formLabel,
  submit,
  initial = "",
  busy,
  onSubmit,
}: {
  id: string;
  label: string;
  formLabel: string;
  submit: string;
  initial?: string;
  busy: boolean;
  onSubmit: (name: string) => Promise<Record<string, string>>;
}) {
  const [name, setName] = useState(initial);
  const [errors, setErrors] = useState<Record<string, string>>({});
  useEffect(() => setName(initial), [initial]);
  return (
    <form
      className="filters"
      aria-label={formLabel}
      onSubmit={(e) => {
        e.preventDefault();
        void onSubmit(name.trim()).then((errs) => {
          setErrors(errs);
          if (Object.keys(errs).length === 0 && !initial) setName("");
        });
      }}
    >
      <span className="filter">
        <label htmlFor={id}>{label}</label>{" "}
        <input
          id={id}
          required
          maxLength={200}
          value={name}
          aria-invalid={Boolean(errors.name)}
          aria-describedby={errors.name ? `${id}-error` : undefined}
          onChange={(e) => setName(e.target.value)}
        />
      </span>
      <button type="submit" className="button" disabled={busy}>
        {submit}
      </button>
      {errors.name ? (
        <span className="field-error" id={`${id}-error`} role="alert">
          {errors.name}
        </span>
      ) : null}
      {errors.form ? (
        <span className="field-error" role="alert">
          {errors.form}
        </span>
      ) : null}
    </form>
  );
}

function TileView({
  tile,
  index,
  count,
  dashboardId,
  editable,
  updatedAt,
  timeZone,
}: {
  tile: Tile;
  index: number;
  count: number;
  dashboardId: string;
  editable: boolean;
  updatedAt: string | null;
  timeZone: string;
}) {
  const s = tile.savedInsight;
  const builder = useMemo(() => builderOfSaved(s.input), [s.input]);
  const label = MEASURES.find((m) => m.value === builder.measure)?.label ?? "Count";
  const [moving, move] = useMutation(MoveTile);
  const [removing, remove] = useMutation(RemoveTile);
  const [problem, setProblem] = useState("");
  const busy = moving.fetching || removing.fetching;
  const headingId = `tile-${s.id}`;
  const change = async (position: number | null, width: number | null) => {
    const r = await move({ dashboardId, savedInsightId: s.id, position, width });
    setProblem(problemOf(r, r.data?.moveDashboardTile, "The change"));
  };
  const answer = s.answer;
  const builderLink = `/insights?${builderParams(builder, s.id).toString()}`;
  return (
    <li className={`dash-tile w-${clampWidth(tile.width)}`} data-insight={s.id} data-position={tile.position} aria-labelledby={headingId}>
      <div className="dash-tile-head">
        <h3 id={headingId} className="dash-tile-title">
          <Link to={builderLink}>{s.name}</Link>
        </h3>
        {updatedAt ? (
          <span className="muted small dash-tile-updated" data-updated={updatedAt}>
            updated {formatDateTime(updatedAt, timeZone)}
          </span>
        ) : null}
      </div>
      {s.description ? <p className="muted small dash-tile-description">{s.description}</p> : null}
      {s.error ? (
        <div className="state state-error" role="alert">
          <p>
            <strong>This insight no longer answers.</strong> {s.error.field ? `${s.error.field}: ` : ""}
            {s.error.message}
          </p>
          <p className="muted">
            <Link to={builderLink}>Open it in the builder</Link> to correct it, or remove the tile.
          </p>
        </div>
      ) : !answer ? (
        <Loading what={`the answer of ${s.name}`} />
      ) : answer.series.length === 0 ? (
        <Empty>
          <p>No events in this range.</p>
          <p className="muted">
            <Link to={builderLink}>Open it in the builder</Link> to widen its range.
          </p>
        </Empty>
      ) : (
        <>
          <p className="dash-tile-total">
            <span className="muted small">{label}:</span>{" "}
            <strong data-testid="tile-total">{formatTotal(answer)}</strong>
          </p>
          {DRAWN.includes(builder.chartType) ? (
            <>
              <InsightChart answer={answer} builder={builder} label={`${s.name}: ${label}`} saved={s.id} compact />
              <details className="dash-tile-figures">
                <summary>Figures of {s.name}</summary>
                <InsightTable answer={answer} builder={builder} label={s.name} saved={s.id} full={builder.chartType !== "PIE"} />
              </details>
            </>
          ) : (
            <InsightTable answer={answer} builder={builder} label={s.name} saved={s.id} full={builder.chartType === "TABLE"} caption={false} />
          )}
        </>
      )}
      {editable ? (
        <div className="dash-tile-controls" role="group" aria-label={`Arrange ${s.name}`}>
          <button
            type="button"
            className="button small"
            disabled={busy || movedTo(index, -1, count) === null}
            onClick={() => void change(movedTo(index, -1, count), null)}
          >
            Move earlier <span className="visually-hidden">{s.name}</span>
          </button>
          <button
            type="button"
            className="button small"
            disabled={busy || movedTo(index, 1, count) === null}
            onClick={() => void change(movedTo(index, 1, count), null)}
          >
            Move later <span className="visually-hidden">{s.name}</span>
          </button>
          <span className="filter">
            <label htmlFor={`tile-width-${s.id}`}>
              Width <span className="visually-hidden">of {s.name}</span>
            </label>
            <select
              id={`tile-width-${s.id}`}
              value={clampWidth(tile.width)}
              disabled={busy}
              onChange={(e) => void change(null, Number(e.target.value))}
            >
              {WIDTHS.map((w) => (
                <option key={w} value={w}>
                  {w} {w === 1 ? "column" : "columns"}
                </option>
              ))}
            </select>
          </span>
          <button
            type="button"
            className="button small"
            disabled={busy}
            onClick={() =>
              void remove({ dashboardId, savedInsightId: s.id }).then((r) => setProblem(problemOf(r, r.data?.removeDashboardTile, "Removing the tile")))
            }
          >
            Remove <span className="visually-hidden">{s.name} from the dashboard</span>
          </button>
        </div>
      ) : null}
      {problem ? (
        <p className="field-error" role="alert">
          {problem}
        </p>
      ) : null}
    </li>
  );
}

function AddTileForm({
  dashboardId,
  saved,
  tiles,
}: {
  dashboardId: string;
  saved: readonly { id: string; name: string }[];
  tiles: readonly Tile[];
}) {
  const offer = notOnDashboard(saved, tiles);
  const [choice, setChoice] = useState("");
  const [state, add] = useMutation(AddTile);
  const [problem, setProblem] = useState("");
  const chosen = offer.some((o) => o.id === choice) ? choice : (offer[0]?.id ?? "");
  if (offer.length === 0)
    return (
      <p className="muted small">
        Every saved insight is on this dashboard. <Link to="/insights">Build and save another one</Link> to add it.
      </p>
    );
  return (
    <form
      className="filters"
      aria-label="Add a tile"
      onSubmit={(e) => {
        e.preventDefault();
        // The answer is a Dashboard: urql's cache reads this dashboard and the list again by itself.
        void add({ dashboardId, savedInsightId: chosen }).then((r) => setProblem(problemOf(r, r.data?.addDashboardTile, "Adding the tile")));
      }}
    >
      <span className="filter">
        <label htmlFor="dash-add-insight">Saved insight</label>{" "}
        <select
          id="dash-add-insight"
          value={chosen}
          aria-invalid={Boolean(problem)}
          aria-describedby={problem ? "dash-add-error" : undefined}
          onChange={(e) => setChoice(e.target.value)}
        >
          {offer.map((o) => (
            <option key={o.id} value={o.id}>
              {o.name}
            </option>
          ))}
        </select>
      </span>
      <button type="submit" className="button primary" disabled={state.fetching}>
        Add to dashboard
      </button>
      {problem ? (
        <span className="field-error" id="dash-add-error" role="alert">
          {problem}
        </span>
      ) : null}
    </form>
  );
}

function DashboardPanel({
  id,
  saved,
  onListChanged,
}: {
  id: string;
  saved: readonly { id: string; name: string }[];
  onListChanged: () => void;
}) {
  const { organisation } = useSession();
  const navigate = useNavigate();
  const zone = organisation.timeZone;
  const [{ data: read, error }, refetch] = useQuery({ query: DashboardView, variables: { id } });
  const data = useLast(read);
  const [live] = useSubscription({ query: DashboardLive, variables: { id } });
  const [, rename] = useMutation(RenameDashboard);
  const [deleting, remove] = useMutation(DeleteDashboard);
  const [deleteProblem, setDeleteProblem] = useState("");
  // Pushed tiles, kept with the read they apply to: a new read (after a change) starts from its own answers.
  const base = data?.dashboard ?? null;
  const [pushed, setPushed] = useState<{ base: object | null; tiles: Tile[]; at: Record<string, string> }>({ base: null, tiles: [], at: {} });
  const update = live.data?.dashboardUpdated;
  const baseRef = useRef(base);
  baseRef.current = base;
  useEffect(() => {
    // Each push once, onto the read on screen when it arrived (a later read already holds its answers).
    const current = baseRef.current;
    if (!update || !current) return;
    const tiles = update.dashboard.tiles ?? [];
    setPushed((prev) => {
      const kept = prev.base === current ? prev : { base: current, tiles: [], at: {} };
      const at = { ...kept.at };
      if (!update.initial) for (const t of tiles) at[t.savedInsight.id] = update.at;
      return { base: current, tiles: keepPushed(kept.tiles, tiles), at };
    });
  }, [update]);

  if (error && !data) return <ErrorState error={error} what="dashboard" retry={() => refetch({ requestPolicy: "network-only" })} />;
  if (!data) return <Loading what="the dashboard" />;
  if (!base)
    return (
      <Empty>
        <p>This dashboard does not exist (it may have been deleted).</p>
        <p className="muted">
          <Link to="/insights/dashboards">Open the default dashboard</Link> or pick another one above.
        </p>
      </Empty>
    );
  const own = pushed.base === base ? pushed : { tiles: [], at: {} as Record<string, string> };
  const tiles = mergeTiles(base.tiles ?? [], own.tiles);
  const lastPush = update && !update.initial ? update.at : null;
  return (
    <section aria-labelledby="dash-title" className="dash-panel" data-dashboard={base.id}>
      <StaleNote error={error} retry={() => refetch({ requestPolicy: "network-only" })} />
      <div className="page-head">
        <h2 id="dash-title">
          {base.name}
          {base.isDefault ? <span className="badge dash-default"> default</span> : null}
        </h2>
        <p className="muted small">
          {zoneNote(zone)} ·{" "}
          <span className="live" data-live={live.data ? "on" : live.error ? "off" : "connecting"}>
            {live.data
              ? `Live${lastPush ? `, updated ${formatDateTime(lastPush, zone)}` : ""}`
              : live.error
                ? "Live updates paused: reload to resume"
                : "Connecting live updates…"}
          </span>
        </p>
      </div>
      {base.canEdit ? (
        <div className="filters dash-edit">
          <NameForm
            id="dash-rename"
            label="Dashboard name"
            formLabel="Rename the dashboard"
            submit="Rename"
            initial={base.name}
            busy={false}
            onSubmit={async (name) => {
              const r = await rename({ id: base.id, name });
              const payload = r.data?.renameDashboard;
              if (payload && payload.errors.length === 0) return {};
              return payload ? fieldErrors(payload.errors) : { form: problemOf(r, payload, "Renaming") };
            }}
          />
          {!base.isDefault ? (
            <button
              type="button"
              className="button"
              disabled={deleting.fetching}
              onClick={() => {
                if (!window.confirm(`Delete the dashboard ${base.name}? Its saved insights stay.`)) return;
                void remove({ id: base.id }).then((r) => {
                  const p = problemOf(r, r.data?.deleteDashboard, "Deleting the dashboard");
                  setDeleteProblem(p);
                  if (p) return;
                  onListChanged();
                  void navigate("/insights/dashboards");
                });
              }}
            >
              Delete dashboard
            </button>
          ) : null}
          {deleteProblem ? (
            <span className="field-error" role="alert">
              {deleteProblem}
            </span>
          ) : null}
        </div>
      ) : (
        <p className="muted small">Only its author or an admin can change this dashboard.</p>
      )}
      {base.canEdit ? <AddTileForm dashboardId={base.id} saved={saved} tiles={tiles} /> : null}
      {tiles.length === 0 ? (
        <Empty>
          <p>No tile on this dashboard yet.</p>
          <p className="muted">
            {base.canEdit ? "Add a saved insight above, or " : ""}
            <Link to="/insights">build an insight</Link> and save it.
          </p>
        </Empty>
      ) : (
        <ol className="dash-grid" aria-label={`Tiles of ${base.name}, in grid order`}>
          {tiles.map((t, i) => (
            <TileView
              key={t.savedInsight.id}
              tile={t}
              index={i}
              count={tiles.length}
              dashboardId={base.id}
              editable={base.canEdit}
              updatedAt={own.at[t.savedInsight.id] ?? null}
              timeZone={zone}
            />
          ))}
        </ol>
      )}
    </section>
  );
}

export default function InsightDashboards() {
  const { id } = useParams();
  const navigate = useNavigate();
  const [{ data: read, error }, refetch] = useQuery({ query: DashboardsList });
  const data = useLast(read);
  const [creating, create] = useMutation(CreateDashboard);
  const list = data?.dashboards ?? [];
  const selected = id ?? list[0]?.id ?? null;
  const relist = () => refetch({ requestPolicy: "network-only" });

  return (
    <section aria-labelledby="dashboards-title" className="insight-page">
      <div className="page-head">
        <h1 id="dashboards-title">Dashboards</h1>
        <div className="actions">
          <Link className="button" to="/insights">
            Insights builder
          </Link>
        </div>
      </div>
      {error && !data ? <ErrorState error={error} what="dashboards" retry={relist} /> : null}
      {error && data ? <StaleNote error={error} retry={relist} /> : null}
      {!data && !error ? <Loading what="the dashboards" /> : null}
      {data ? (
        <>
          <nav aria-label="The organisation's dashboards">
            <ul className="dash-list">
              {list.map((d) => (
                <li key={d.id}>
                  <Link to={`/insights/dashboards/${d.id}`} aria-current={d.id === selected ? "page" : undefined} className={d.id === selected ? "active" : undefined}>
                    {d.name}
                  </Link>{" "}
                  <span className="muted small">
                    {d.isDefault ? "default · " : ""}
                    {d.tileCount} {d.tileCount === 1 ? "tile" : "tiles"}
                  </span>
                </li>
              ))}
            </ul>
          </nav>
          <NameForm
            id="dash-new"
            label="New dashboard"
            formLabel="Create a dashboard"
            submit="Create dashboard"
            busy={creating.fetching}
            onSubmit={async (name) => {
              const r = await create({ name });
              const payload = r.data?.createDashboard;
              if (payload?.dashboard && payload.errors.length === 0) {
                void navigate(`/insights/dashboards/${payload.dashboard.id}`);
                return {};
              }
              return payload ? fieldErrors(payload.errors) : { form: problemOf(r, payload, "Creating the dashboard") };
            }}
          />
          {selected ? (
            <DashboardPanel key={selected} id={selected} saved={data.savedInsights} onListChanged={relist} />
          ) : (
            <Empty>
              <p>No dashboard yet.</p>
              <p className="muted">Name one above to create it.</p>
            </Empty>
          )}
        </>
      ) : null}
    </section>
  );
}
