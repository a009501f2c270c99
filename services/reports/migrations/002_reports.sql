-- The reports catalogue (issue 10): saved report configurations, and the FX conversion the reports' SQL uses.

-- A report's saved configuration (its input as `reportPreview` takes it), per organisation; names unique in it.
CREATE TABLE saved_reports (
    org_id       uuid NOT NULL,
    id           uuid NOT NULL,
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    report       text NOT NULL,
    input        jsonb NOT NULL,
    created_by   text,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, name)
);
CALL tenant_table('saved_reports');

-- The rate converting 1 unit of `cur` to `target` for an amount of the local date `d`: the ECB rates of `d` or the
-- latest earlier ECB date up to 7 days back on which both sides have one (EUR is 1 per euro every day), crossed
-- through the euro, as the insights service's `rates_to`. NULL when there is none (`fx_required` refuses it).
CREATE FUNCTION fx_rate_on(cur text, target text, d date) RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN cur = target THEN 1::numeric ELSE (
        SELECT (CASE WHEN target = 'EUR' THEN 1 ELSE t.per_euro END) / (CASE WHEN cur = 'EUR' THEN 1 ELSE c.per_euro END)
          FROM generate_series(d, d - 7, interval '-1 day') AS g(day)
          LEFT JOIN fx_rates t ON t.currency = target AND t.day = g.day::date
          LEFT JOIN fx_rates c ON c.currency = cur AND c.day = g.day::date
         WHERE (target = 'EUR' OR t.per_euro IS NOT NULL) AND (cur = 'EUR' OR c.per_euro IS NOT NULL)
         ORDER BY g.day DESC
         LIMIT 1)
    END
$$;

-- The ECB date `fx_rate_on` read its rate from (`d` itself when no conversion is needed), NULL when none.
CREATE FUNCTION fx_rate_date_on(cur text, target text, d date) RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN cur = target THEN d ELSE (
        SELECT g.day::date
          FROM generate_series(d, d - 7, interval '-1 day') AS g(day)
          LEFT JOIN fx_rates t ON t.currency = target AND t.day = g.day::date
          LEFT JOIN fx_rates c ON c.currency = cur AND c.day = g.day::date
         WHERE (target = 'EUR' OR t.per_euro IS NOT NULL) AND (cur = 'EUR' OR c.per_euro IS NOT NULL)
         ORDER BY g.day DESC
         LIMIT 1)
    END
$$;

-- `fx_rate_on`, or an error naming the currency and the date (SQLSTATE RFX01, the service answers it as an
-- INVALID_INPUT naming `currency`): a missing rate is never a silent skip.
CREATE FUNCTION fx_required(cur text, target text, d date) RETURNS numeric
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    r numeric := fx_rate_on(cur, target, d);
BEGIN
    IF r IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'RFX01',
            MESSAGE = format('no %s rate on or up to 7 days before %s to convert to %s: no ECB date from %s to %s has'
                             ' a rate of %s loaded', cur, d, target, d - 7, d,
                             array_to_string(ARRAY(SELECT DISTINCT x FROM unnest(ARRAY[cur, target]) x
                                                   WHERE x <> 'EUR' ORDER BY x), ' and '));
    END IF;
    RETURN r;
END
$$;

-- The per-type reports read entities by first event (opened, created) as well as by last.
CREATE INDEX business_entities_first ON business_entities (org_id, type, first_event_at DESC);
