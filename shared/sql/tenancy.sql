-- Kit: the tenant of the current transaction, and a helper that puts a table under
-- row-level security for it. Included by a service's first migration (`-- include: tenancy`).
CREATE OR REPLACE FUNCTION app_org() RETURNS uuid LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT nullif(current_setting('app.org_id', true), '')::uuid $$;

-- Enables and forces RLS on `p_table` with the one tenant policy: rows of the current organisation only.
CREATE OR REPLACE PROCEDURE tenant_table(p_table regclass) LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', p_table);
    EXECUTE format('CREATE POLICY tenant ON %s USING (org_id = app_org()) WITH CHECK (org_id = app_org())', p_table);
END $$;
