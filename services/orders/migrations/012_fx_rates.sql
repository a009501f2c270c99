-- FX reference rates: the ECB's euro reference rates, one row per (day, currency): units of the currency per
-- 1 EUR on that ECB business day. Loaded by the operator (`python -m services.orders.admin load-fx-rates`,
-- services/orders/service/fx_rates.py) and published as `fx_rates.published` events to the services that
-- convert amounts (insights now, reports later), which keep their own copies.
--
-- Not a tenant table, on purpose: a rate is a published fact about the world, the same for every
-- organisation, with no organisation's data in it (no org_id, nothing partners wrote). One copy serves all;
-- a copy per organisation would multiply the loads and let organisations' rates drift apart.
--
-- Who may do what: the application role reads it, and only reads. Row-level security is enabled and forced
-- with a single SELECT policy open to every row; with no INSERT, UPDATE or DELETE policy the application
-- role's writes are refused (an INSERT errors, an UPDATE or DELETE reaches no row), whatever table
-- privileges bootstrap grants. The owner (BYPASSRLS), which the operator command runs as, writes it.
-- EUR has no row: it is 1 per euro on every date.
CREATE TABLE fx_rates (
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$' AND currency <> 'EUR'),
    day         date NOT NULL,
    per_euro    numeric NOT NULL CHECK (per_euro > 0),
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (currency, day)
);

ALTER TABLE fx_rates ENABLE ROW LEVEL SECURITY;
ALTER TABLE fx_rates FORCE ROW LEVEL SECURITY;
CREATE POLICY reference_read ON fx_rates FOR SELECT USING (true);

-- Publishing them. The outbox's org_id references organisations, and rates belong to none: they travel once,
-- under the reserved id REFERENCE_DATA_ORG_ID (shared/messaging/contracts.py: the nil UUID, which no
-- organisation has), not once per organisation (services/orders/service/fx_rates.py says why). The foreign
-- key moves to a generated column that is NULL for that id alone, so every other event still needs an
-- existing organisation. Row-level security is unchanged: only the owner can write the nil id's rows.
ALTER TABLE outbox DROP CONSTRAINT outbox_org_id_fkey;
ALTER TABLE outbox
    ADD COLUMN org_ref uuid GENERATED ALWAYS AS (nullif(org_id, '00000000-0000-0000-0000-000000000000'::uuid)) STORED
    REFERENCES organisations(id);
