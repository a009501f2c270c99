// Segments (issue 12): named sets of the organisation's customers, dynamic (a saved filter recomputed by the
// insights service) or static (a list of customer ids, or a Mixpanel cohort's import). Admins create, edit and
// delete them; everyone sees the list, a segment's members 50 at a time (?segment=<id>&after=<cursor>, kept in
// the URL) and links to Customers and Orders filtered by it (?segment=<id> there too).
import { useState } from "react";
import { Link, useSearchParams } from "react-router";
import { useClient, useMutation, useQuery } from "urql";
import { graphql } from "../../gql";
import type { SegmentMembersQuery, SegmentsPageQuery } from "../../gql/graphql";
import { formatDateTime, formatNumber, zoneNote } from "../format";
import { describeDefinition, draftOf, EMPTY_DRAFT, errorsByKey, parseCustomerIds, segmentInput, type SegmentDraft } from "../segments";
import { useSession } from "../session";
import { Empty, ErrorState, Loading } from "../states";

const SegmentsPage = graphql(`
  query SegmentsPage {
    integrations {
      id
      name
    }
    eventTypes {
      name
    }
    segments {
      id
      name
      kind
      definition
      source
      memberCount
      computedAt
      updatedAt
    }
  }
`);

const SegmentMembers = graphql(`
  query SegmentMembers($id: ID!, $first: Int!, $after: String) {
    segment(id: $id) {
      id
      name
      kind
      source
      memberCount
      members(first: $first, after: $after) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        nodes {
          customerId
          customer {
            id
            email
            displayName
            lastSeen
          }
        }
      }
    }
  }
`);

const CustomerPick = graphql(`
  query SegmentCustomerPick($search: String!) {
    customers(filter: { search: $search }, first: 10) {
      nodes {
        id
        email
        displayName
      }
    }
  }
`);

const CreateSegment = graphql(`
  mutation CreateSegment($input: CreateSegmentInput!) {
    createSegment(input: $input) {
      segment {
        id
        memberCount
      }
      errors {
        field
        message
      }
    }
  }
`);

const UpdateSegment = graphql(`
  mutation UpdateSegment($id: ID!, $input: UpdateSegmentInput!) {
    updateSegment(id: $id, input: $input) {
      segment {
        id
        memberCount
      }
      errors {
        field
        message
      }
    }
  }
`);

const DeleteSegment = graphql(`
  mutation DeleteSegment($id: ID!) {
    deleteSegment(id: $id) {
      deleted
      errors {
        field
        message
      }
    }
  }
`);

type Segment = SegmentsPageQuery["segments"][number];
type GqlClient = ReturnType<typeof useClient>;
type MembersPage = NonNullable<SegmentMembersQuery["segment"]>["members"];

/** Every member id of a segment (a static segment's list is its members: at most the API's cap), or null when
 * a page could not be read. */
async function allMemberIds(client: GqlClient, id: string): Promise<string[] | null> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (;;) {
    const result = await client.query(SegmentMembers, { id, first: 100, after: cursor }, { requestPolicy: "network-only" }).toPromise();
    const page: MembersPage | undefined = result.data?.segment?.members;
    if (!page) return null;
    ids.push(...page.nodes.map((n) => n.customerId));
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) return ids;
    cursor = page.pageInfo.endCursor;
  }
}

/** Adds a customer to a static segment, found by email or name (the list is replaced with one more id). */
function AddMember({ segmentName, onAdd }: { segmentName: string; onAdd: (customerId: string, label: string) => Promise<string | null> }) {
  const [typed, setTyped] = useState("");
  const [search, setSearch] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [added, setAdded] = useState<string | null>(null);
  const [{ data, fetching, error }] = useQuery({ query: CustomerPick, variables: { search }, pause: search === "" });
  // A paused query keeps its last answer: the results show only while a search is on.
  const found = search ? (data?.customers.nodes ?? []) : [];
  return (
    <div className="segment-add-member">
      <form
        className="filters"
        role="search"
        aria-label={`Find a customer to add to ${segmentName}`}
        onSubmit={(e) => {
          e.preventDefault();
          setProblem(null);
          setAdded(null);
          setSearch(typed.trim());
        }}
      >
        <span className="filter">
          <label htmlFor="segment-member-search">Customer to add</label>{" "}
          <input
            id="segment-member-search"
            type="search"
            placeholder="Start of their email or name"
            value={typed}
            aria-invalid={Boolean(problem)}
            aria-describedby={problem ? "segment-member-problem" : undefined}
            onChange={(e) => setTyped(e.target.value)}
          />
        </span>
        <button type="submit" className="button small">
          Find
        </button>
      </form>
      {problem ? (
        <p id="segment-member-problem" className="field-error" role="alert">
          {problem}
        </p>
      ) : null}
      {added ? (
        <p className="muted" role="status">
          {added} added to {segmentName}.
        </p>
      ) : null}
      {search && fetching && !data ? <Loading what="customers" /> : null}
      {search && error && !data ? <p className="field-error" role="alert">The customers could not be searched; try again.</p> : null}
      {search && data && found.length === 0 ? (
        <p className="muted" role="status">
          No customer matches {search}: search by the start of their email or name.
        </p>
      ) : null}
      {found.length > 0 ? (
        <ul className="segment-found" aria-label="Customers found">
          {found.map((c) => (
            <li key={c.id}>
              {c.email ?? c.displayName}{" "}
              <button
                type="button"
                className="button small"
                disabled={busy}
                onClick={() => {
                  setBusy(true);
                  void onAdd(c.id, c.email ?? c.displayName).then((err) => {
                    setBusy(false);
                    setProblem(err);
                    if (!err) {
                      setAdded(c.email ?? c.displayName);
                      setSearch("");
                      setTyped("");
                    }
                  });
                }}
              >
                Add <span className="visually-hidden">{c.email ?? c.displayName} to {segmentName}</span>
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
type Lists = { integrations: readonly { id: string; name: string }[]; eventTypes: readonly { name: string }[] };

function FieldError({ message }: { message: string | undefined }) {
  return message ? (
    <span className="field-error" role="alert">
      {message}
    </span>
  ) : null;
}

function SeenRange({
  label,
  keyName,
  from,
  to,
  error,
  onChange,
}: {
  label: string;
  keyName: string;
  from: string;
  to: string;
  error: string | undefined;
  onChange: (from: string, to: string) => void;
}) {
  return (
    <fieldset className="field">
      <legend>{label}</legend>
      <label htmlFor={`segment-${keyName}-from`}>From</label>{" "}
      <input id={`segment-${keyName}-from`} type="date" value={from} aria-invalid={Boolean(error)} onChange={(e) => onChange(e.target.value, to)} />{" "}
      <label htmlFor={`segment-${keyName}-to`}>to</label>{" "}
      <input id={`segment-${keyName}-to`} type="date" value={to} aria-invalid={Boolean(error)} onChange={(e) => onChange(from, e.target.value)} />
      <FieldError message={error} />
    </fieldset>
  );
}

export function SegmentForm({
  lists,
  initial,
  editing,
  submitLabel,
  onSubmit,
  onCancel,
}: {
  lists: Lists;
  initial: SegmentDraft;
  editing: boolean;
  submitLabel: string;
  onSubmit: (draft: SegmentDraft) => Promise<Record<string, string>>;
  onCancel: () => void;
}) {
  const [draft, setDraft] = useState(initial);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const set = (change: Partial<SegmentDraft>) => setDraft({ ...draft, ...change });
  const setEvent = (i: number, change: Partial<SegmentDraft["events"][number]>) =>
    set({ events: draft.events.map((e, j) => (j === i ? { ...e, ...change } : e)) });
  return (
    <form
      className="settings-form"
      aria-label={submitLabel}
      onSubmit={(e) => {
        e.preventDefault();
        setBusy(true);
        void onSubmit(draft).then((errs) => {
          setErrors(errs);
          setBusy(false);
        });
      }}
    >
      <div className="field">
        <label htmlFor="segment-name">Name</label>
        <input id="segment-name" required value={draft.name} aria-invalid={Boolean(errors.name)} onChange={(e) => set({ name: e.target.value })} />
        <FieldError message={errors.name} />
      </div>
      {editing ? (
        <p className="muted small">{draft.kind === "DYNAMIC" ? "Dynamic: a filter, recomputed." : "Static: a list of customers."}</p>
      ) : (
        <fieldset className="field">
          <legend>Kind</legend>
          <label>
            <input type="radio" name="segment-kind" checked={draft.kind === "DYNAMIC"} onChange={() => set({ kind: "DYNAMIC" })} /> Dynamic (a
            filter, recomputed)
          </label>{" "}
          <label>
            <input type="radio" name="segment-kind" checked={draft.kind === "STATIC"} onChange={() => set({ kind: "STATIC" })} /> Static (a list
            of customers)
          </label>
        </fieldset>
      )}
      {draft.kind === "DYNAMIC" ? (
        <>
          <fieldset className="field">
            <legend>Visited one of these integrations (none: any)</legend>
            {lists.integrations.map((i) => (
              <label key={i.id}>
                <input
                  type="checkbox"
                  checked={draft.integrationIds.includes(i.id)}
                  onChange={(e) =>
                    set({
                      integrationIds: e.target.checked ? [...draft.integrationIds, i.id] : draft.integrationIds.filter((x) => x !== i.id),
                    })
                  }
                />{" "}
                {i.name}
              </label>
            ))}
            <FieldError message={errors.integrationIds} />
          </fieldset>
          <SeenRange
            label="First seen (first active day)"
            keyName="first"
            from={draft.firstFrom}
            to={draft.firstTo}
            error={errors.firstSeen}
            onChange={(firstFrom, firstTo) => set({ firstFrom, firstTo })}
          />
          <SeenRange
            label="Last seen (last active day)"
            keyName="last"
            from={draft.lastFrom}
            to={draft.lastTo}
            error={errors.lastSeen}
            onChange={(lastFrom, lastTo) => set({ lastFrom, lastTo })}
          />
          <fieldset className="field">
            <legend>Did an event</legend>
            {draft.events.map((ev, i) => (
              <div key={i} className="filters">
                <span className="filter">
                  <label htmlFor={`segment-event-${i}-type`}>Event</label>{" "}
                  <select
                    id={`segment-event-${i}-type`}
                    value={ev.type}
                    aria-invalid={Boolean(errors[`events.${i}.type`])}
                    onChange={(e) => setEvent(i, { type: e.target.value })}
                  >
                    {lists.eventTypes.map((t) => (
                      <option key={t.name} value={t.name}>
                        {t.name}
                      </option>
                    ))}
                  </select>
                </span>
                <span className="filter">
                  <label htmlFor={`segment-event-${i}-at-least`}>at least (times)</label>{" "}
                  <input
                    id={`segment-event-${i}-at-least`}
                    type="number"
                    min={1}
                    inputMode="numeric"
                    value={ev.atLeast}
                    aria-invalid={Boolean(errors[`events.${i}.atLeast`])}
                    onChange={(e) => setEvent(i, { atLeast: e.target.value })}
                  />
                </span>
                <span className="filter">
                  <label htmlFor={`segment-event-${i}-days`}>in the last (days, up to 90)</label>{" "}
                  <input
                    id={`segment-event-${i}-days`}
                    type="number"
                    min={1}
                    max={90}
                    required
                    inputMode="numeric"
                    value={ev.lastDays}
                    aria-invalid={Boolean(errors[`events.${i}.lastDays`])}
                    onChange={(e) => setEvent(i, { lastDays: e.target.value })}
                  />
                </span>
                <button type="button" className="button small" onClick={() => set({ events: draft.events.filter((_, j) => j !== i) })}>
                  Remove <span className="visually-hidden">event condition {i + 1}</span>
                </button>
                <FieldError message={[errors[`events.${i}.type`], errors[`events.${i}.atLeast`], errors[`events.${i}.lastDays`]].filter(Boolean).join(" ") || undefined} />
              </div>
            ))}
            <button
              type="button"
              className="button small"
              disabled={lists.eventTypes.length === 0}
              onClick={() => set({ events: [...draft.events, { type: lists.eventTypes[0]?.name ?? "", atLeast: "1", lastDays: "30" }] })}
            >
              Add event condition
            </button>
            <FieldError message={errors.events} />
          </fieldset>
        </>
      ) : (
        <div className="field">
          <label htmlFor="segment-customer-ids">Customer ids (one per line or comma-separated)</label>
          <textarea
            id="segment-customer-ids"
            rows={5}
            value={draft.customerIds}
            aria-invalid={Boolean(errors.customerIds)}
            onChange={(e) => set({ customerIds: e.target.value })}
          />
          <span className="muted small">{formatNumber(parseCustomerIds(draft.customerIds).length)} ids</span>
          <FieldError message={errors.customerIds} />
        </div>
      )}
      {errors.form ? (
        <p className="field-error" role="alert">
          {errors.form}
        </p>
      ) : null}
      <div className="actions">
        <button type="submit" className="button primary" disabled={busy}>
          {submitLabel}
        </button>
        <button type="button" className="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function Members({
  id,
  after,
  onPage,
  admin,
  onChanged,
}: {
  id: string;
  after: string | null;
  onPage: (after: string | null) => void;
  admin: boolean;
  onChanged: () => void;
}) {
  const { organisation } = useSession();
  const [{ data, error }, refetch] = useQuery({ query: SegmentMembers, variables: { id, first: 50, after } });
  const client = useClient();
  const [, update] = useMutation(UpdateSegment);
  const [memberProblem, setMemberProblem] = useState<{ customerId: string | null; message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const zone = organisation.timeZone;
  /** A static list changed by one id (added or removed): the whole list is read and sent back. */
  const changeList = async (change: (ids: string[]) => string[]): Promise<string | null> => {
    setBusy(true);
    const ids = await allMemberIds(client, id);
    if (!ids) {
      setBusy(false);
      return "The segment's customers could not be read; try again.";
    }
    const customerIds = change(ids);
    const result = await update({ id, input: { customerIds } });
    setBusy(false);
    const payload = result.data?.updateSegment;
    if (!payload) return "The segment could not be saved; try again.";
    if (payload.errors.length > 0) return Object.values(errorsByKey(payload.errors, customerIds)).join(" ");
    refetch({ requestPolicy: "network-only" });
    onChanged();
    return null;
  };
  const removeMember = async (customerId: string, label: string) => {
    if (!window.confirm(`Remove ${label} from this segment?`)) return;
    setMemberProblem(null);
    const problem = await changeList((ids) => ids.filter((x) => x !== customerId));
    if (problem) setMemberProblem({ customerId, message: problem });
  };
  if (error && !data) return <ErrorState error={error} what="segment's members" retry={() => refetch({ requestPolicy: "network-only" })} />;
  if (!data) return <Loading what="the segment's members" />;
  const segment = data.segment;
  if (!segment) {
    return (
      <Empty>
        <p>This segment no longer exists.</p>
        <p className="muted">It may have been deleted, or it belongs to another organisation.</p>
      </Empty>
    );
  }
  const members = segment.members;
  // A hand-made static list is edited here; an imported one is replaced by its next import.
  const editable = admin && segment.kind === "STATIC" && segment.source === "manual";
  return (
    <section aria-labelledby="members-title">
      <h2 id="members-title">Members of {segment.name}</h2>
      <p className="actions">
        <Link className="button" to={`/customers?segment=${segment.id}`}>
          Customers of {segment.name}
        </Link>
        <Link className="button" to={`/orders?segment=${segment.id}`}>
          Orders of {segment.name}
        </Link>
      </p>
      {editable ? (
        <AddMember
          key={segment.id}
          segmentName={segment.name}
          onAdd={(customerId) => changeList((ids) => (ids.includes(customerId) ? ids : [...ids, customerId]))}
        />
      ) : null}
      {admin && segment.kind === "STATIC" && segment.source !== "manual" ? (
        <p className="muted small">Its members come from an import: the next import replaces them, so they are not edited here.</p>
      ) : null}
      {memberProblem && memberProblem.customerId === null ? (
        <p className="field-error" role="alert">
          {memberProblem.message}
        </p>
      ) : null}
      {members.totalCount === 0 ? (
        <Empty>
          <p>No customer is in this segment.</p>
          <p className="muted">{segment.kind === "DYNAMIC" ? "Widen its conditions, or wait for new activity." : "Add customer ids to it."}</p>
        </Empty>
      ) : (
        <>
          <div className="table-scroll" tabIndex={0} role="region" aria-label="Members (scrolls sideways on narrow screens)">
            <table className="data-table">
              <caption className="muted small">
                <span data-testid="members-total" data-total={members.totalCount}>
                  {formatNumber(members.totalCount)}
                </span>{" "}
                members · {zoneNote(zone)}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Customer</th>
                  <th scope="col">Last seen</th>
                  {editable ? <th scope="col">Actions</th> : null}
                </tr>
              </thead>
              <tbody>
                {members.nodes.map((m) => (
                  <tr key={m.customerId} data-member={m.customerId}>
                    <td>
                      {m.customer ? <Link to={`/customers/${m.customer.id}`}>{m.customer.email ?? m.customer.displayName}</Link> : <span className="muted">Erased customer</span>}
                      {memberProblem && memberProblem.customerId === m.customerId ? (
                        <span className="field-error" role="alert">
                          {" "}
                          {memberProblem.message}
                        </span>
                      ) : null}
                    </td>
                    <td>{m.customer ? formatDateTime(m.customer.lastSeen, zone) : "–"}</td>
                    {editable ? (
                      <td>
                        <button
                          type="button"
                          className="button small"
                          disabled={busy}
                          onClick={() => void removeMember(m.customerId, m.customer ? (m.customer.email ?? m.customer.displayName) : "this erased customer")}
                        >
                          Remove <span className="visually-hidden">{m.customer ? (m.customer.email ?? m.customer.displayName) : "erased customer"} from {segment.name}</span>
                        </button>
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav className="pager" aria-label="Pages of members">
            {after ? (
              <button type="button" className="button" onClick={() => onPage(null)}>
                First page
              </button>
            ) : null}
            {members.pageInfo.hasNextPage && members.pageInfo.endCursor ? (
              <button type="button" className="button" onClick={() => onPage(members.pageInfo.endCursor ?? null)}>
                Next page
              </button>
            ) : null}
          </nav>
        </>
      )}
    </section>
  );
}

export default function Segments() {
  const { organisation, me } = useSession();
  const admin = me.role === "ADMIN";
  const [params, setParams] = useSearchParams();
  const selected = params.get("segment");
  const after = params.get("after");
  const [{ data, error }, refetch] = useQuery({ query: SegmentsPage });
  const [, create] = useMutation(CreateSegment);
  const [, update] = useMutation(UpdateSegment);
  const [, remove] = useMutation(DeleteSegment);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<{ segment: Segment; draft: SegmentDraft } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const client = useClient();
  const reload = () => refetch({ requestPolicy: "network-only" });
  const zone = organisation.timeZone;
  const select = (id: string | null, cursor: string | null = null) => {
    const next = new URLSearchParams(params);
    if (id) next.set("segment", id);
    else next.delete("segment");
    if (cursor) next.set("after", cursor);
    else next.delete("after");
    setParams(next);
  };

  const startEdit = async (s: Segment) => {
    setProblem(null);
    // A static segment's list is its members: read them all (at most the API's cap) into the form.
    let ids: string[] = [];
    if (s.kind === "STATIC") {
      const read = await allMemberIds(client, s.id);
      if (!read) {
        setProblem("The segment's customers could not be read; try again.");
        return;
      }
      ids = read;
    }
    setCreating(false);
    setEditing({ segment: s, draft: draftOf({ name: s.name, kind: s.kind, definition: s.definition }, ids) });
  };

  const doDelete = async (s: Segment) => {
    if (!window.confirm(`Delete the segment ${s.name}? Filters naming it stop working.`)) return;
    const result = await remove({ id: s.id });
    const payload = result.data?.deleteSegment;
    if (!payload?.deleted) {
      setProblem(payload?.errors[0]?.message ?? "The segment could not be deleted; try again.");
    } else {
      setProblem(null);
      if (editing?.segment.id === s.id) setEditing(null);
      if (selected === s.id) select(null);
    }
    reload();
  };

  return (
    <section aria-labelledby="segments-title">
      <div className="page-head">
        <h1 id="segments-title">Segments</h1>
        <div className="actions">
          {admin ? (
            <Link className="button" to="/segments/connections">
              Connections
            </Link>
          ) : null}
          {admin && !creating && !editing ? (
            <button type="button" className="button primary" onClick={() => setCreating(true)}>
              New segment
            </button>
          ) : null}
        </div>
      </div>
      {problem ? (
        <p className="field-error" role="alert">
          {problem}
        </p>
      ) : null}
      {creating && data ? (
        <>
          <h2>New segment</h2>
          <SegmentForm
            lists={data}
            initial={EMPTY_DRAFT}
            editing={false}
            submitLabel="Create segment"
            onCancel={() => setCreating(false)}
            onSubmit={async (draft) => {
              const input = segmentInput(draft);
              const result = await create({ input });
              const payload = result.data?.createSegment;
              if (!payload) return { form: "The segment could not be created; try again." };
              if (payload.errors.length > 0) return errorsByKey(payload.errors, input.customerIds);
              setCreating(false);
              reload();
              if (payload.segment) select(payload.segment.id);
              return {};
            }}
          />
        </>
      ) : null}
      {editing && data ? (
        <>
          <h2>Edit {editing.segment.name}</h2>
          <SegmentForm
            key={editing.segment.id}
            lists={data}
            initial={editing.draft}
            editing
            submitLabel="Save segment"
            onCancel={() => setEditing(null)}
            onSubmit={async (draft) => {
              const input = segmentInput(draft);
              const result = await update({ id: editing.segment.id, input });
              const payload = result.data?.updateSegment;
              if (!payload) return { form: "The segment could not be saved; try again." };
              if (payload.errors.length > 0) return errorsByKey(payload.errors, input.customerIds);
              setEditing(null);
              reload();
              return {};
            }}
          />
        </>
      ) : null}
      {error && !data ? <ErrorState error={error} what="segments" retry={reload} /> : null}
      {!data && !error ? <Loading what="segments" /> : null}
      {data && data.segments.length === 0 ? (
        <Empty>
          <p>No segment yet.</p>
          <p className="muted">{admin ? "Create one from a filter of customers or a list of their ids." : "An admin can create them."}</p>
        </Empty>
      ) : null}
      {data && data.segments.length > 0 ? (
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Segments (scrolls sideways on narrow screens)">
          <table className="data-table segments">
            <caption className="muted small">
              {formatNumber(data.segments.length)} {data.segments.length === 1 ? "segment" : "segments"} · {zoneNote(zone)}
            </caption>
            <thead>
              <tr>
                <th scope="col">Segment</th>
                <th scope="col">Kind</th>
                <th scope="col">Members</th>
                <th scope="col">Computed</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {data.segments.map((s) => (
                <tr key={s.id} data-segment={s.id} aria-current={selected === s.id ? "true" : undefined}>
                  <td>
                    <button type="button" className="link-button" onClick={() => select(s.id)}>
                      {s.name}
                    </button>
                    <br />
                    <span className="muted small">
                      {s.kind === "DYNAMIC" ? describeDefinition(s.definition) : s.source === "manual" ? "a list" : `imported (${s.source.replace(/_/g, " ")})`}
                    </span>
                  </td>
                  <td>{s.kind === "DYNAMIC" ? "Dynamic" : "Static"}</td>
                  <td data-testid="member-count" data-count={s.memberCount}>
                    {formatNumber(s.memberCount)}
                  </td>
                  <td>{s.computedAt ? formatDateTime(s.computedAt, zone) : "not yet"}</td>
                  <td>
                    <div className="actions">
                      <button type="button" className="button small" onClick={() => select(s.id)}>
                        Members <span className="visually-hidden">of {s.name}</span>
                      </button>
                      {admin ? (
                        <>
                          <button type="button" className="button small" onClick={() => void startEdit(s)}>
                            Edit <span className="visually-hidden">{s.name}</span>
                          </button>
                          <button type="button" className="button small" onClick={() => void doDelete(s)}>
                            Delete <span className="visually-hidden">{s.name}</span>
                          </button>
                        </>
                      ) : null}
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {selected ? <Members id={selected} after={after} admin={admin} onChanged={reload} onPage={(cursor) => select(selected, cursor)} /> : null}
    </section>
  );
}
