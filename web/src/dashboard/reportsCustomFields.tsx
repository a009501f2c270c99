// Reports › Custom fields (seed 002: itemised reports can show the entity's and its contact's custom fields).
// Everyone sees the definitions; admins define a field (entity, name, type, choices), rename it or add choices
// (its key and type never change), and delete it (its values go with it). The API's refusals show on their field.
import { useState } from "react";
import { Link } from "react-router";
import { useMutation, useQuery } from "urql";
import { graphql } from "../gql";
import type { CustomFieldType } from "../gql/graphql";
import { formatDateTime, zoneNote } from "./format";
import { errorsOnFields, ENTITIES, parseChoices, type FieldErrors } from "./reports";
import { ReportsNav } from "./reportsNav";
import { useSession } from "./session";
import { Empty, ErrorState, errorMessage, Loading } from "./states";

const Fields = graphql(`
  query ReportCustomFieldsPage {
    customFields {
      id
      entity
      key
      name
      type
      choices
      updatedAt
    }
  }
`);

const Define = graphql(`
  mutation DefineCustomField($entity: String!, $name: String!, $type: CustomFieldType!, $choices: [String!]) {
    defineCustomField(entity: $entity, name: $name, type: $type, choices: $choices) {
      customField {
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
  mutation UpdateCustomField($id: ID!, $name: String, $choices: [String!]) {
    updateCustomField(id: $id, name: $name, choices: $choices) {
      customField {
        id
      }
      errors {
        field
        message
      }
    }
  }
`);

const Delete = graphql(`
  mutation DeleteCustomField($id: ID!) {
    deleteCustomField(id: $id) {
      deleted
      errors {
        field
        message
      }
    }
  }
`);

const TYPES: CustomFieldType[] = ["TEXT", "NUMBER", "DATE", "BOOLEAN", "CHOICE"];
const entityLabel = (e: string) => (e === "customer" ? "Contact (customer)" : e.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase()));

type Draft = { id: string | null; was: string; entity: string; name: string; type: CustomFieldType; choices: string };
const EMPTY: Draft = { id: null, was: "", entity: "order", name: "", type: "TEXT", choices: "" };

function Field({ id, label, error, children }: { id: string; label: string; error?: string; children: React.ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      {error ? (
        <span className="field-error" id={`${id}-error`} role="alert">
          {error}
        </span>
      ) : null}
    </div>
  );
}

export function CustomFields() {
  const { me, organisation } = useSession();
  const admin = me.role === "ADMIN";
  const [{ data, error }, refetch] = useQuery({ query: Fields });
  const [saving, define] = useMutation(Define);
  const [, update] = useMutation(Update);
  const [, remove] = useMutation(Delete);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [note, setNote] = useState<{ text: string; error: boolean } | null>(null);
  const [entity, setEntity] = useState("");
  const reload = () => refetch({ requestPolicy: "network-only" });

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setNote(null);
    const local: FieldErrors = {};
    if (!draft.name.trim()) local.name = "Give the field a name.";
    if (draft.type === "CHOICE" && parseChoices(draft.choices).length === 0) local.choices = "A choice field needs at least one choice.";
    if (Object.keys(local).length > 0) return setErrors(local);
    const choices = draft.type === "CHOICE" ? parseChoices(draft.choices) : null;
    const result = draft.id
      ? await update({ id: draft.id, name: draft.name.trim(), choices })
      : await define({ entity: draft.entity, name: draft.name.trim(), type: draft.type, choices });
    const payload = result.data ? ("updateCustomField" in result.data ? result.data.updateCustomField : result.data.defineCustomField) : null;
    if (!payload) return setErrors({ form: errorMessage(result.error, "The field could not be saved; try again.") });
    if (payload.errors.length > 0) return setErrors(errorsOnFields(payload.errors));
    setErrors({});
    setNote({ text: draft.id ? `Saved ${draft.name.trim()}.` : `Defined ${draft.name.trim()}: reports of its rows offer it as a column.`, error: false });
    setDraft({ ...EMPTY, entity: draft.entity });
    reload();
  };
  const del = async (id: string, name: string) => {
    if (!window.confirm(`Delete the custom field ${name}? Its values on every record go with it.`)) return;
    const result = await remove({ id });
    const err = result.data?.deleteCustomField.errors[0];
    setNote(err || !result.data ? { text: err?.message ?? errorMessage(result.error, "The field could not be deleted; try again."), error: true } : { text: `Deleted ${name}.`, error: false });
    reload();
  };
  const props = (name: keyof Draft) => ({
    id: `cf-${name}`,
    "aria-invalid": Boolean(errors[name]),
    "aria-describedby": errors[name] ? `cf-${name}-error` : undefined,
  });
  const fields = (data?.customFields ?? []).filter((f) => !entity || f.entity === entity);
  return (
    <section aria-labelledby="custom-fields-title">
      <h1 id="custom-fields-title">Custom fields</h1>
      <ReportsNav />
      <p className="muted">
        Itemised reports can show their rows' custom fields and their contact's. Add them as columns on a report's page. Analytical reports (totals over
        time) have none.
      </p>
      {note ? (
        <p role={note.error ? "alert" : "status"} className={note.error ? "field-error" : "saved"}>
          {note.text}
        </p>
      ) : null}
      {admin ? (
        <form className="custom-field-form" aria-labelledby="cf-form-title" onSubmit={(e) => void submit(e)} noValidate>
          <h2 id="cf-form-title">{draft.id ? `Edit ${draft.was}` : "Define a custom field"}</h2>
          <Field id="cf-entity" label="Entity" error={errors.entity}>
            <select {...props("entity")} value={draft.entity} disabled={Boolean(draft.id)} onChange={(e) => setDraft({ ...draft, entity: e.target.value })}>
              {ENTITIES.map((x) => (
                <option key={x} value={x}>
                  {entityLabel(x)}
                </option>
              ))}
            </select>
          </Field>
          <Field id="cf-name" label="Name" error={errors.name}>
            <input {...props("name")} value={draft.name} maxLength={100} onChange={(e) => setDraft({ ...draft, name: e.target.value })} />
          </Field>
          <Field id="cf-type" label="Type (fixed once defined)" error={errors.type}>
            <select {...props("type")} value={draft.type} disabled={Boolean(draft.id)} onChange={(e) => setDraft({ ...draft, type: e.target.value as CustomFieldType })}>
              {TYPES.map((t) => (
                <option key={t} value={t}>
                  {t.toLowerCase()}
                </option>
              ))}
            </select>
          </Field>
          {draft.type === "CHOICE" ? (
            <Field id="cf-choices" label="Choices (comma-separated; choices in use stay)" error={errors.choices}>
              <input {...props("choices")} value={draft.choices} onChange={(e) => setDraft({ ...draft, choices: e.target.value })} />
            </Field>
          ) : null}
          {errors.form ? (
            <p className="field-error" role="alert">
              {errors.form}
            </p>
          ) : null}
          <div className="actions">
            <button type="submit" className="button primary" disabled={saving.fetching}>
              {draft.id ? "Save field" : "Define field"}
            </button>
            {draft.id ? (
              <button
                type="button"
                className="button"
                onClick={() => {
                  setDraft(EMPTY);
                  setErrors({});
                }}
              >
                Cancel
              </button>
            ) : null}
          </div>
        </form>
      ) : (
        <p className="muted">Only admins define, rename or delete custom fields.</p>
      )}
      <p className="filter">
        <label htmlFor="cf-filter">Show the fields of</label>{" "}
        <select id="cf-filter" value={entity} onChange={(e) => setEntity(e.target.value)}>
          <option value="">Every entity</option>
          {ENTITIES.map((x) => (
            <option key={x} value={x}>
              {entityLabel(x)}
            </option>
          ))}
        </select>
      </p>
      {error && !data ? <ErrorState error={error} what="custom fields" retry={reload} /> : null}
      {!data && !error ? <Loading what="the custom fields" /> : null}
      {data && fields.length === 0 ? (
        <Empty>
          <p>{entity ? `No custom fields on ${entityLabel(entity)} yet.` : "No custom fields yet."}</p>
          {admin ? <p>Define one with the form above.</p> : <p>Ask an admin to define one.</p>}
          <Link to="/reports">Back to the reports</Link>
        </Empty>
      ) : null}
      {data && fields.length > 0 ? (
        <>
        <p className="muted small">{zoneNote(organisation.timeZone)}</p>
        <div className="table-scroll" tabIndex={0} role="region" aria-label="Custom fields (scrolls sideways on narrow screens)">
          <table>
            <thead>
              <tr>
                <th scope="col">Entity</th>
                <th scope="col">Name</th>
                <th scope="col">Key (report column)</th>
                <th scope="col">Type</th>
                <th scope="col">Choices</th>
                <th scope="col">Updated</th>
                {admin ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {fields.map((f) => (
                <tr key={f.id}>
                  <td>{entityLabel(f.entity)}</td>
                  <td>{f.name}</td>
                  <td>
                    <code>custom.{f.key}</code>
                  </td>
                  <td>{f.type.toLowerCase()}</td>
                  <td>{f.choices.join(", ") || "–"}</td>
                  <td>{formatDateTime(f.updatedAt, organisation.timeZone)}</td>
                  {admin ? (
                    <td>
                      <span className="cell-actions">
                        <button
                          type="button"
                          className="button small"
                          onClick={() => {
                            setDraft({ id: f.id, was: f.name, entity: f.entity, name: f.name, type: f.type, choices: f.choices.join(", ") });
                            setErrors({});
                          }}
                        >
                          Edit <span className="visually-hidden">{f.name}</span>
                        </button>
                        <button type="button" className="button small" onClick={() => void del(f.id, f.name)}>
                          Delete <span className="visually-hidden">{f.name}</span>
                        </button>
                      </span>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        </>
      ) : null}
    </section>
  );
}
