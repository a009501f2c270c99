-- Orders per UTC hour and per dimension the orders reports filter or group on, for the analytical orders reports
-- (Commission per provider, Network performance) and the count of Orders with commission (repository/reports.py).
--
-- Those previews aggregated every raw order of the range with its FX conversion (380,000 orders of 30 days on the
-- benchmark: 0.8-1.1 s); from this table they read ~20,000 rows, sum them per local day, and convert once per day
-- and currency. Per UTC hour rather than per local day, so the organisation's time zone (which arrives by event,
-- possibly after its orders, and may change) is applied when reading: every order of an hour has the same local
-- day in any zone whose offset is a whole number of hours; the reports read raw orders for any other zone.
--
-- Kept by statement triggers on `orders`, so every write of the order copy (the idempotent event apply of
-- service/orders_events.py, the backfill, a merge) moves its order between buckets in the same transaction: an
-- order counts once, in the bucket of its current state; a status or commission change subtracts it from the
-- old bucket and adds it to the new one (the transition tables hold the rows as locked and written, so
-- concurrent applies cannot double-count). Sums are exact (numeric), so converting a bucket's sum equals summing converted orders.
-- A bucket whose orders all moved away keeps a row with orders = 0: readers skip those.

CREATE TABLE orders_hourly (
    org_id          uuid NOT NULL,
    hour            timestamptz NOT NULL,  -- date_trunc('hour', created_at, 'UTC')
    provider_id     uuid,
    integration_id  uuid NOT NULL,
    category_id     uuid NOT NULL,
    currency        char(3) NOT NULL,
    status          text NOT NULL,
    comm_status     text NOT NULL,
    orders          bigint NOT NULL,
    amount          numeric NOT NULL,
    UNIQUE NULLS NOT DISTINCT (org_id, hour, provider_id, integration_id, category_id, currency, status, comm_status)
);
CALL tenant_table('orders_hourly');

-- Statement-level triggers over the transition tables: one set-based upsert of the net change per statement, so
-- a bulk write (INSERT … SELECT of many orders) costs one aggregate, not one upsert per row; an update that moves
-- no order between buckets nets to nothing and writes nothing.
CREATE FUNCTION orders_hourly_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        WITH delta AS (SELECT org_id, date_trunc('hour', created_at, 'UTC') AS hour, provider_id, integration_id, category_id, currency,
                       status, comm_status, 1 AS n, amount AS a FROM new_rows)
        INSERT INTO orders_hourly AS h (org_id, hour, provider_id, integration_id, category_id, currency, status,
                                        comm_status, orders, amount)
        SELECT org_id, hour, provider_id, integration_id, category_id, currency, status, comm_status, sum(n), sum(a)
          FROM delta GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        HAVING sum(n) <> 0 OR sum(a) <> 0
        ON CONFLICT (org_id, hour, provider_id, integration_id, category_id, currency, status, comm_status)
        DO UPDATE SET orders = h.orders + EXCLUDED.orders, amount = h.amount + EXCLUDED.amount;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH delta AS (SELECT org_id, date_trunc('hour', created_at, 'UTC') AS hour, provider_id, integration_id, category_id, currency,
                       status, comm_status, 1 AS n, amount AS a FROM new_rows
                       UNION ALL
                       SELECT org_id, date_trunc('hour', created_at, 'UTC') AS hour, provider_id, integration_id, category_id, currency,
                       status, comm_status, -1, -amount FROM old_rows)
        INSERT INTO orders_hourly AS h (org_id, hour, provider_id, integration_id, category_id, currency, status,
                                        comm_status, orders, amount)
        SELECT org_id, hour, provider_id, integration_id, category_id, currency, status, comm_status, sum(n), sum(a)
          FROM delta GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        HAVING sum(n) <> 0 OR sum(a) <> 0
        ON CONFLICT (org_id, hour, provider_id, integration_id, category_id, currency, status, comm_status)
        DO UPDATE SET orders = h.orders + EXCLUDED.orders, amount = h.amount + EXCLUDED.amount;
    ELSE
        WITH delta AS (SELECT org_id, date_trunc('hour', created_at, 'UTC') AS hour, provider_id, integration_id, category_id, currency,
                       status, comm_status, -1 AS n, -amount AS a FROM old_rows)
        INSERT INTO orders_hourly AS h (org_id, hour, provider_id, integration_id, category_id, currency, status,
                                        comm_status, orders, amount)
        SELECT org_id, hour, provider_id, integration_id, category_id, currency, status, comm_status, sum(n), sum(a)
          FROM delta GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        HAVING sum(n) <> 0 OR sum(a) <> 0
        ON CONFLICT (org_id, hour, provider_id, integration_id, category_id, currency, status, comm_status)
        DO UPDATE SET orders = h.orders + EXCLUDED.orders, amount = h.amount + EXCLUDED.amount;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER orders_hourly_insert AFTER INSERT ON orders
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION orders_hourly_apply();
CREATE TRIGGER orders_hourly_update AFTER UPDATE ON orders
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION orders_hourly_apply();
CREATE TRIGGER orders_hourly_delete AFTER DELETE ON orders
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION orders_hourly_apply();

-- The orders already copied (an existing deployment, the benchmark's data set).
INSERT INTO orders_hourly (org_id, hour, provider_id, integration_id, category_id, currency, status, comm_status,
                           orders, amount)
SELECT org_id, date_trunc('hour', created_at, 'UTC'), provider_id, integration_id, category_id, currency, status,
       comm_status, count(*), sum(amount)
  FROM orders
 GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
