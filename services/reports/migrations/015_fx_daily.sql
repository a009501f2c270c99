-- FX rates per (currency, day) for set-based conversion: the itemised reports join this table (a hash join over a
-- few thousand rows) instead of calling `fx_required` / `fx_rate_on` / `fx_rate_date_on` per row (each call a
-- plpgsql or SQL function of 16 index probes, ~40 us: 1M orders spent minutes there, grouped previews timed out).
--
-- Same answers as migration 006's functions, whose rule is per PAIR: the latest day d - k (k = 0..7) on which
-- BOTH currencies have a rate (the euro always has one, 1). A per-currency "latest rate" would differ when the two
-- sides' ECB days differ, so each row keeps the currency's whole 8-day window: `per_euro[k + 1]` the rate of
-- day - k (NULL when none) and `mask` bit k set when there is one. A pair's day is the lowest bit of the two masks
-- ANDed (repository/reports.py `_fx_pair`); no row, or no common bit, falls back to the functions (which answer
-- NULL, or raise RFX01 naming the currency and date: the error text stays theirs).
--
-- Reference data of no organisation, like fx_rates (no org_id, no row-level security). Kept by triggers on
-- fx_rates, whatever writes it (the `fx_rates.published` handler, a backfill, a test): each statement refreshes
-- the windows its rows reach (day .. day + 7) of the currencies it wrote. A day with no rate in its window has no
-- row.
CREATE TABLE fx_daily (
    currency  text NOT NULL,
    day       date NOT NULL,
    mask      int NOT NULL CHECK (mask > 0 AND mask < 256),
    per_euro  numeric[] NOT NULL CHECK (cardinality(per_euro) = 8),
    PRIMARY KEY (currency, day)
);

CREATE FUNCTION fx_daily_refresh(cur text[], d date[]) RETURNS void
LANGUAGE sql AS $$
    WITH touched AS (
        SELECT DISTINCT t.c AS currency, t.d + k AS day
          FROM unnest(cur, d) AS t(c, d), generate_series(0, 7) AS k
    ), windows AS (
        SELECT t.currency, t.day,
               (SELECT COALESCE(sum(1 << g), 0)::int FROM generate_series(0, 7) g
                 WHERE EXISTS (SELECT 1 FROM fx_rates f WHERE f.currency = t.currency AND f.day = t.day - g)) AS mask,
               ARRAY(SELECT f.per_euro FROM generate_series(0, 7) g
                       LEFT JOIN fx_rates f ON f.currency = t.currency AND f.day = t.day - g
                      ORDER BY g) AS per_euro
          FROM touched t
    ), gone AS (
        DELETE FROM fx_daily x USING windows w
         WHERE w.mask = 0 AND x.currency = w.currency AND x.day = w.day
    )
    INSERT INTO fx_daily AS x (currency, day, mask, per_euro)
    SELECT currency, day, mask, per_euro FROM windows WHERE mask > 0
    ON CONFLICT (currency, day) DO UPDATE SET mask = EXCLUDED.mask, per_euro = EXCLUDED.per_euro
     WHERE (x.mask, x.per_euro) IS DISTINCT FROM (EXCLUDED.mask, EXCLUDED.per_euro)
$$;

CREATE FUNCTION fx_daily_written() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM fx_daily_refresh(ARRAY(SELECT currency FROM new_rows), ARRAY(SELECT day FROM new_rows));
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM fx_daily_refresh(ARRAY(SELECT currency FROM old_rows), ARRAY(SELECT day FROM old_rows));
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION fx_daily_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM fx_daily;
    RETURN NULL;
END
$$;

CREATE TRIGGER fx_daily_inserted AFTER INSERT ON fx_rates REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fx_daily_written();
CREATE TRIGGER fx_daily_updated AFTER UPDATE ON fx_rates REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fx_daily_written();
CREATE TRIGGER fx_daily_deleted AFTER DELETE ON fx_rates REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION fx_daily_written();
CREATE TRIGGER fx_daily_truncated AFTER TRUNCATE ON fx_rates
    FOR EACH STATEMENT EXECUTE FUNCTION fx_daily_truncated();

-- The rates already loaded.
SELECT fx_daily_refresh(array_agg(currency), array_agg(day)) FROM fx_rates;
