-- Prefix search under row-level security. With RLS forced, PostgreSQL only uses LEAKPROOF
-- operators as index conditions, and LIKE is not one: searches are written as a range with
-- the (leakproof) text_pattern operators ~>=~ / ~<~, which these indexes serve, plus LIKE
-- as a re-check.
CREATE INDEX orders_external_ref_prefix ON orders (org_id, external_ref text_pattern_ops);
CREATE INDEX customers_email_prefix ON customers (org_id, lower(email) text_pattern_ops)
    WHERE merged_into IS NULL AND email IS NOT NULL;
