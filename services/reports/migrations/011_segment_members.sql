-- The reports service's event-fed copy of the insights service's segments (services/reports/service/segments.py):
-- report filters by segment with a semi-join on this copy,
-- never a call across per page. Fed by `segment.members_changed` / `segment.deleted`, each applied once per
-- event id.
--
-- `segment_copies`: the segments this service has heard of (a segment filter naming any other is NOT_FOUND,
-- as is another organisation's: row-level security hides its rows) and the newest `version` applied.
-- `segment_members`: one row per customer ever in a segment; `present` says whether it is now, and `version`
-- is the membership change that decided so. A diff applies to a member only when newer than that, so diffs
-- arriving out of order end where the insights service ended. A deleted segment keeps its copy row
-- (`deleted`) and no members: a late diff of it changes nothing.
CREATE TABLE segment_copies (
    org_id      uuid NOT NULL,
    segment_id  uuid NOT NULL,
    version     bigint NOT NULL,
    deleted     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (org_id, segment_id)
);
CALL tenant_table('segment_copies');

CREATE TABLE segment_members (
    org_id       uuid NOT NULL,
    segment_id   uuid NOT NULL,
    customer_id  uuid NOT NULL,
    version      bigint NOT NULL,
    present      boolean NOT NULL,
    PRIMARY KEY (org_id, segment_id, customer_id)
);
CALL tenant_table('segment_members');
-- The filter's semi-join probes (org, segment, customer) for present members: answered from the index alone.
CREATE INDEX segment_members_present ON segment_members (org_id, segment_id, customer_id) WHERE present;
