-- What admins did: invitations, removals, role changes, settings, integrations and keys, manual
-- commission updates. Append-only: a trigger refuses every UPDATE and DELETE (whatever the grants).
-- include: tenancy

CREATE TABLE audit_log (
    org_id      uuid NOT NULL REFERENCES organisations(id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    request_id  text,
    action      text NOT NULL,
    target      text,
    change      jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (org_id, id)
);
CREATE INDEX audit_log_list ON audit_log (org_id, at DESC, id DESC);
CALL tenant_table('audit_log');

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
