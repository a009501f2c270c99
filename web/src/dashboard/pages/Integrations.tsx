// Integrations (seed 000): the collections of embedded products per channel. Admins create and edit them (name,
// channel, categories); an integration's API key is shown once, when it is made or rotated, with a copy button;
// afterwards only its prefix. Each integration lists its products in their order; admins curate them
// (integrationProducts.tsx: add from the provider catalogue, reorder, switch off/on, remove).
import "./integrations.css";
import { useState } from "react";
import { useMutation, useQuery } from "urql";
import { graphql } from "../../gql";
import type { Channel, IntegrationsPageQuery } from "../../gql/graphql";
import { formatDateTime, zoneNote } from "../format";
import { ProductsOf } from "../integrationProducts";
import { useSession } from "../session";
import { Empty, ErrorState, Loading } from "../states";

const IntegrationsPage = graphql(`
  query IntegrationsPage {
    categories {
      id
      name
    }
    integrations {
      id
      name
      channel
      apiKeyPrefix
      keyRotatedAt
      createdAt
      categories {
        id
        name
      }
    }
  }
`);

const CreateIntegration = graphql(`
  mutation CreateIntegration($input: IntegrationInput!) {
    createIntegration(input: $input) {
      integration {
        id
        name
      }
      apiKey
      errors {
        field
        message
      }
    }
  }
`);

const UpdateIntegration = graphql(`
  mutation UpdateIntegration($id: ID!, $input: IntegrationChangeInput!) {
    updateIntegration(id: $id, input: $input) {
      integration {
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

const RotateKey = graphql(`
  mutation RotateKey($id: ID!) {
    rotateIntegrationKey(id: $id) {
      integration {
        id
        name
        apiKeyPrefix
      }
      apiKey
      errors {
        field
        message
      }
    }
  }
`);

const CHANNELS: Channel[] = ["WEB", "MOBILE", "API", "PARTNER"];
type Integration = IntegrationsPageQuery["integrations"][number];
type Draft = { name: string; channel: Channel; categoryIds: string[] };

function ShownOnce({ name, apiKey, onDone }: { name: string; apiKey: string; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="state key-once" role="alert">
      <p>
        <strong>The API key of {name}</strong>: shown this once. Copy it into the integration now; afterwards only its
        first characters are shown.
      </p>
      <p className="request-id">
        <code data-testid="api-key">{apiKey}</code>{" "}
        <button
          type="button"
          className="button small"
          onClick={() => void navigator.clipboard?.writeText(apiKey).then(() => setCopied(true))}
        >
          {copied ? "Copied" : "Copy"}
        </button>
      </p>
      <button type="button" className="button" onClick={onDone}>
        I have stored it
      </button>
    </div>
  );
}

function IntegrationForm({
  categories,
  initial,
  submitLabel,
  onSubmit,
  onCancel,
}: {
  categories: readonly { id: string; name: string }[];
  initial: Draft;
  submitLabel: string;
  onSubmit: (draft: Draft) => Promise<Record<string, string>>;
  onCancel?: () => void;
}) {
  const [draft, setDraft] = useState(initial);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const prefix = `integration-${initial.name || "new"}`.replace(/\W+/g, "-");
  return (
    <form
      className="settings-form"
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
        <label htmlFor={`${prefix}-name`}>Name</label>
        <input
          id={`${prefix}-name`}
          required
          value={draft.name}
          aria-invalid={Boolean(errors.name)}
          onChange={(e) => setDraft({ ...draft, name: e.target.value })}
        />
        {errors.name ? <span className="field-error" role="alert">{errors.name}</span> : null}
      </div>
      <div className="field">
        <label htmlFor={`${prefix}-channel`}>Channel</label>
        <select id={`${prefix}-channel`} value={draft.channel} onChange={(e) => setDraft({ ...draft, channel: e.target.value as Channel })}>
          {CHANNELS.map((c) => (
            <option key={c} value={c}>
              {c.toLowerCase()}
            </option>
          ))}
        </select>
      </div>
      <fieldset className="field">
        <legend>Categories</legend>
        {categories.map((c) => (
          <label key={c.id}>
            <input
              type="checkbox"
              checked={draft.categoryIds.includes(c.id)}
              onChange={(e) =>
                setDraft({
                  ...draft,
                  categoryIds: e.target.checked ? [...draft.categoryIds, c.id] : draft.categoryIds.filter((x) => x !== c.id),
                })
              }
            />{" "}
            {c.name}
          </label>
        ))}
        {errors.categoryIds ? <span className="field-error" role="alert">{errors.categoryIds}</span> : null}
      </fieldset>
      {errors.form ? <p className="field-error" role="alert">{errors.form}</p> : null}
      <div className="actions">
        <button type="submit" className="button primary" disabled={busy}>
          {submitLabel}
        </button>
        {onCancel ? (
          <button type="button" className="button" onClick={onCancel}>
            Cancel
          </button>
        ) : null}
      </div>
    </form>
  );
}

function fieldErrors(errors: readonly { field?: string | null; message: string }[]): Record<string, string> {
  return Object.fromEntries(errors.map((e) => [(e.field ?? "form").replace(/^input\./, "").replace(/\[\d+\]$/, ""), e.message]));
}

export default function Integrations() {
  const { organisation, me } = useSession();
  const admin = me.role === "ADMIN";
  const [{ data, error }, refetch] = useQuery({ query: IntegrationsPage });
  const [, create] = useMutation(CreateIntegration);
  const [, update] = useMutation(UpdateIntegration);
  const [, rotate] = useMutation(RotateKey);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<string | null>(null);
  const [shown, setShown] = useState<{ name: string; apiKey: string } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const reload = () => refetch({ requestPolicy: "network-only" });
  const zone = organisation.timeZone;

  const doRotate = async (i: Integration) => {
    if (!window.confirm(`Rotate the API key of ${i.name}? The current key stops working at once.`)) return;
    const result = await rotate({ id: i.id });
    const payload = result.data?.rotateIntegrationKey;
    if (payload?.apiKey) setShown({ name: i.name, apiKey: payload.apiKey });
    else setProblem(payload?.errors[0]?.message ?? "The key could not be rotated; try again.");
    reload();
  };

  return (
    <section aria-labelledby="integrations-title">
      <div className="page-head">
        <h1 id="integrations-title">Integrations</h1>
        {admin && !creating ? (
          <button type="button" className="button primary" onClick={() => setCreating(true)}>
            New integration
          </button>
        ) : null}
      </div>
      {shown ? <ShownOnce name={shown.name} apiKey={shown.apiKey} onDone={() => setShown(null)} /> : null}
      {problem ? <p className="field-error" role="alert">{problem}</p> : null}
      {creating && data ? (
        <>
          <h2>New integration</h2>
          <IntegrationForm
            categories={data.categories}
            initial={{ name: "", channel: "WEB", categoryIds: [] }}
            submitLabel="Create integration"
            onCancel={() => setCreating(false)}
            onSubmit={async (draft) => {
              const result = await create({ input: draft });
              const payload = result.data?.createIntegration;
              if (!payload) return { form: "The integration could not be created; try again." };
              if (payload.errors.length > 0) return fieldErrors(payload.errors);
              if (payload.apiKey) setShown({ name: draft.name, apiKey: payload.apiKey });
              setCreating(false);
              reload();
              return {};
            }}
          />
        </>
      ) : null}
      {error && !data ? <ErrorState error={error} what="integrations" retry={reload} /> : null}
      {!data && !error ? <Loading what="integrations" /> : null}
      {data && data.integrations.length === 0 ? (
        <Empty>
          <p>No integration yet.</p>
          {admin ? <p className="muted">Create one to get its API key.</p> : null}
        </Empty>
      ) : null}
      {data && data.integrations.length > 0 ? (
        <ul className="integration-list curated">
          {data.integrations.map((i) => (
            <li key={i.id} className="tile" data-integration={i.id}>
              {editing === i.id ? (
                <IntegrationForm
                  categories={data.categories}
                  initial={{ name: i.name, channel: i.channel, categoryIds: i.categories.map((c) => c.id) }}
                  submitLabel="Save"
                  onCancel={() => setEditing(null)}
                  onSubmit={async (draft) => {
                    const result = await update({ id: i.id, input: draft });
                    const payload = result.data?.updateIntegration;
                    if (!payload) return { form: "The integration could not be saved; try again." };
                    if (payload.errors.length > 0) return fieldErrors(payload.errors);
                    setEditing(null);
                    reload();
                    return {};
                  }}
                />
              ) : (
                <>
                  <h2 className="integration-name">{i.name}</h2>
                  <p>
                    {i.channel.toLowerCase()} · {i.categories.map((c) => c.name).join(", ") || "no category"}
                  </p>
                  <p className="muted small">
                    Key <code>{i.apiKeyPrefix}…</code> since {formatDateTime(i.keyRotatedAt, zone)}
                  </p>
                  {admin ? (
                    <div className="actions">
                      <button type="button" className="button" onClick={() => setEditing(i.id)}>
                        Edit <span className="visually-hidden">{i.name}</span>
                      </button>
                      <button type="button" className="button" onClick={() => void doRotate(i)}>
                        Rotate key <span className="visually-hidden">of {i.name}</span>
                      </button>
                    </div>
                  ) : null}
                  <ProductsOf integrationId={i.id} integrationName={i.name} admin={admin} />
                </>
              )}
            </li>
          ))}
        </ul>
      ) : null}
      <p className="muted small">{zoneNote(zone)}</p>
    </section>
  );
}
