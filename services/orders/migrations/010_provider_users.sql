-- Provider users: a provider's own staff, invited by the operator into the partner's organisation, who update
-- the commission of that provider's orders (the seed: "Comm status is updated by the service provider, which
-- occurs either through API or manually"). A provider member belongs to exactly one provider of the
-- organisation; admins and members belong to none.
ALTER TABLE members DROP CONSTRAINT members_role_check;
ALTER TABLE members ADD CONSTRAINT members_role_check CHECK (role IN ('admin', 'member', 'provider'));
ALTER TABLE members ADD COLUMN provider_id uuid;
ALTER TABLE members ADD CONSTRAINT members_provider_same_org
    FOREIGN KEY (org_id, provider_id) REFERENCES providers (org_id, id);
ALTER TABLE members ADD CONSTRAINT members_provider_role CHECK ((role = 'provider') = (provider_id IS NOT NULL));

-- Who a manual commission change was made for: the provider a provider user works for, or the provider the
-- operator acted for (source 'operator'), so the ledger says "the operator, for FibreNet" rather than a user.
ALTER TABLE commission_ledger DROP CONSTRAINT commission_ledger_source_check;
ALTER TABLE commission_ledger ADD CONSTRAINT commission_ledger_source_check
    CHECK (source IN ('integration', 'provider', 'manual', 'operator', 'demo'));
ALTER TABLE commission_ledger ADD COLUMN on_behalf_of uuid;
ALTER TABLE commission_ledger ADD CONSTRAINT commission_ledger_on_behalf_of_same_org
    FOREIGN KEY (org_id, on_behalf_of) REFERENCES providers (org_id, id);

-- A provider user's order list: one provider's orders, newest first, as the keyset pages them. Provider ids
-- are unique across organisations, so the organisation need not lead (and the index serves no other filter).
CREATE INDEX orders_provider_created ON orders (provider_id, created_at DESC, id DESC);

-- Sign-in resolves the provider with the membership: the gateway scopes every call of a provider user to it.
DROP FUNCTION resolve_memberships(text, text);
CREATE FUNCTION resolve_memberships(p_subject text, p_email text)
RETURNS TABLE (org_id uuid, member_id uuid, role text, status text, org_name text, provider_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT m.org_id, m.id, m.role, m.status, o.name, m.provider_id
      FROM members m JOIN organisations o ON o.id = m.org_id
     WHERE m.subject = p_subject
        OR (m.subject IS NULL AND p_email IS NOT NULL AND lower(m.email) = lower(p_email))
     ORDER BY m.created_at
$$;
REVOKE ALL ON FUNCTION resolve_memberships(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION resolve_memberships(text, text) TO "{{app_role}}";
