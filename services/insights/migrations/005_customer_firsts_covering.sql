-- The Analytics tab's customer series read customer_firsts by (key, first_day) for the customers (new customers
-- of a filter of several values: the earliest first day of each customer over the filter's keys; the hourly
-- points' customers first seen in the span): with customer_id in the index those ranges are index-only scans
-- instead of a heap fetch per customer.
CREATE INDEX customer_firsts_day_customer ON customer_firsts (org_id, integration_id, category_id, first_day)
    INCLUDE (customer_id);
DROP INDEX customer_firsts_day;
