-- Segments: named sets of an organisation's customers (services/insights/service/segments.py has the rules).
--
-- `dynamic` segments keep a saved customer filter (`definition`, validated by domain/segments.parse when
-- saved) and have their members recomputed from the insights store on create/update and periodically (a
-- definition saying "in the last D days" changes with time); `static` segments hold an explicit list (typed
-- in, or imported: `source` says from where, e.g. 'mixpanel_cohort'). Either way `segment_members` is the
-- materialised membership, changed set-based (one INSERT ... SELECT and one DELETE per recompute), and
-- `member_count` is kept equal to its rows in the same transaction.
--
-- `version` rises by one on every membership change; the change is published with it
-- (`segment.members_changed`), so the event-fed copies of other services apply a late, older diff to no
-- member a newer one already decided.
--
-- Every key leads with org_id (Citus-ready); both are tenant tables.

CREATE TABLE segments (
    org_id        uuid NOT NULL,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind          text NOT NULL CHECK (kind IN ('dynamic', 'static')),
    definition    jsonb,
    source        text NOT NULL DEFAULT 'manual' CHECK (length(source) BETWEEN 1 AND 64),
    member_count  integer NOT NULL DEFAULT 0 CHECK (member_count >= 0),
    version       bigint NOT NULL DEFAULT 0,
    computed_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CHECK ((kind = 'dynamic') = (definition IS NOT NULL))
);
CALL tenant_table('segments');
CREATE INDEX segments_by_name ON segments (org_id, lower(name), id);
-- The periodic recompute's look-up of the dynamic segments computed longest ago.
CREATE INDEX segments_due ON segments (computed_at) WHERE kind = 'dynamic';

CREATE TABLE segment_members (
    org_id       uuid NOT NULL,
    segment_id   uuid NOT NULL,
    customer_id  uuid NOT NULL,
    PRIMARY KEY (org_id, segment_id, customer_id),
    FOREIGN KEY (org_id, segment_id) REFERENCES segments (org_id, id) ON DELETE CASCADE
);
CALL tenant_table('segment_members');

-- The dynamic segments of every organisation last computed before `p_before`, oldest first: the application
-- role sees one organisation per transaction and cannot list them, so the periodic recompute finds them
-- through this owner's function only (and recomputes each in its organisation's tenant transaction).
CREATE FUNCTION dynamic_segments_due(p_before timestamptz, p_limit integer)
RETURNS TABLE (org_id uuid, segment_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT s.org_id, s.id FROM segments s
     WHERE s.kind = 'dynamic' AND (s.computed_at IS NULL OR s.computed_at < p_before)
     ORDER BY s.computed_at NULLS FIRST
     LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION dynamic_segments_due(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dynamic_segments_due(timestamptz, integer) TO "{{app_role}}";
