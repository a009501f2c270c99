-- A customer's segments (services/insights/service/segments.py `follow_merge` / `follow_erasure`): a merged
-- customer's memberships move to the survivor, an erased one's go, without reading every segment.
CREATE INDEX segment_members_by_customer ON segment_members (org_id, customer_id);
