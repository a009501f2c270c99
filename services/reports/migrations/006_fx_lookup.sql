-- The FX lookups of migration 002, same answers, planned for what they are: at most 8 days of one currency pair.
--
-- 002 walked the days with generate_series(d, d - 7, interval '-1 day'), which PostgreSQL 16 estimates at 1,000
-- rows: every call hashed all of the currency's rates (~800 rows, about 0.15 ms), and the reports call these once
-- or three times per converted row, so a preview or run over 100,000 converted rows spent most of its time here
-- (bench/reports.py: Commission per provider 3.4 s, grouped itemised previews past the statement timeout).
-- Eight literal offsets are estimated at 8 rows, so each call is 8 primary-key lookups per side.

CREATE OR REPLACE FUNCTION fx_rate_on(cur text, target text, d date) RETURNS numeric
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN cur = target THEN 1::numeric ELSE (
        SELECT (CASE WHEN target = 'EUR' THEN 1 ELSE t.per_euro END) / (CASE WHEN cur = 'EUR' THEN 1 ELSE c.per_euro END)
          FROM (VALUES (0), (1), (2), (3), (4), (5), (6), (7)) AS g(back)
          LEFT JOIN fx_rates t ON t.currency = target AND t.day = d - g.back
          LEFT JOIN fx_rates c ON c.currency = cur AND c.day = d - g.back
         WHERE (target = 'EUR' OR t.per_euro IS NOT NULL) AND (cur = 'EUR' OR c.per_euro IS NOT NULL)
         ORDER BY g.back
         LIMIT 1)
    END
$$;

CREATE OR REPLACE FUNCTION fx_rate_date_on(cur text, target text, d date) RETURNS date
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN cur = target THEN d ELSE (
        SELECT d - g.back
          FROM (VALUES (0), (1), (2), (3), (4), (5), (6), (7)) AS g(back)
          LEFT JOIN fx_rates t ON t.currency = target AND t.day = d - g.back
          LEFT JOIN fx_rates c ON c.currency = cur AND c.day = d - g.back
         WHERE (target = 'EUR' OR t.per_euro IS NOT NULL) AND (cur = 'EUR' OR c.per_euro IS NOT NULL)
         ORDER BY g.back
         LIMIT 1)
    END
$$;
