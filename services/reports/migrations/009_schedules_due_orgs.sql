-- The scheduler fires due schedules in batches (services/reports/scheduler.py): it asks which organisations have
-- schedules due, then claims up to a batch of each organisation's due schedules in one statement, in that
-- organisation's tenant transaction (FOR UPDATE SKIP LOCKED: two schedulers take disjoint batches side by side,
-- where 004's per-schedule ids sent both after the same schedules). Only organisation ids come out, oldest due
-- first.
CREATE FUNCTION report_schedules_due_orgs(p_now timestamptz, p_limit integer) RETURNS TABLE (org_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT s.org_id FROM report_schedules s
     WHERE s.status = 'active' AND s.next_slot <= p_now
     GROUP BY s.org_id
     ORDER BY min(s.next_slot)
     LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION report_schedules_due_orgs(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION report_schedules_due_orgs(timestamptz, integer) TO "{{app_role}}";
