-- Report schedules (issue 10): a report configuration run and mailed on a cadence, to members and teams resolved
-- at send time. The reports scheduler (services/reports/scheduler.py, several replicas) fires them; each slot
-- runs exactly once: the schedule's row is locked while its slot is taken, and the slot's key below is unique.

CREATE TABLE report_schedules (
    org_id           uuid NOT NULL,
    id               uuid NOT NULL,
    name             text NOT NULL,
    owner_subject    text NOT NULL,          -- who created it: they and the admins change it
    owner_member_id  uuid NOT NULL,          -- checked at send time: an owner who left pauses it
    input            jsonb NOT NULL,         -- the report configuration, as reportPreview takes it
    format           text NOT NULL CHECK (format IN ('csv', 'xlsx', 'pdf')),
    cadence          text NOT NULL CHECK (cadence IN ('daily', 'weekly', 'monthly', 'cron')),
    local_time       time,                   -- daily, weekly, monthly: the wall time in time_zone
    weekday          smallint CHECK (weekday BETWEEN 1 AND 7),          -- weekly: ISO, 1 Monday
    day_of_month     smallint CHECK (day_of_month BETWEEN 1 AND 31),    -- monthly: short months use their last day
    cron             text,                   -- cron: five fields, in time_zone
    time_zone        text NOT NULL,
    member_ids       uuid[] NOT NULL DEFAULT '{}',
    team_ids         uuid[] NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    paused_reason    text CHECK (paused_reason IN ('paused', 'owner_left')),
    next_slot        timestamptz,            -- NULL while paused; resuming computes it from then on
    last_slot        timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (org_id, id),
    CHECK ((status = 'active') = (next_slot IS NOT NULL)),
    CHECK ((status = 'paused') = (paused_reason IS NOT NULL)),
    CHECK ((cadence = 'cron') = (cron IS NOT NULL AND local_time IS NULL))
);
CALL tenant_table('report_schedules');
CREATE INDEX report_schedules_due ON report_schedules (next_slot) WHERE status = 'active';
CREATE INDEX report_schedules_listed ON report_schedules (org_id, created_at DESC, id DESC);

-- One row per slot a schedule fired: the key makes a slot run once however many schedulers race for it, and
-- the row says what became of it (the run, or why none: the owner left, no recipient is a member any more).
CREATE TABLE report_schedule_slots (
    org_id       uuid NOT NULL,
    schedule_id  uuid NOT NULL,
    slot         timestamptz NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('run', 'owner_left', 'no_recipients', 'refused')),
    run_id       uuid,
    recipients   int NOT NULL DEFAULT 0,
    dropped      int NOT NULL DEFAULT 0,   -- recipients asked for who are no longer members (or have no email)
    error        text,                     -- refused: why the run could not be made (a missing FX rate, say)
    fired_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, schedule_id, slot),
    FOREIGN KEY (org_id, schedule_id) REFERENCES report_schedules (org_id, id) ON DELETE CASCADE
);
CALL tenant_table('report_schedule_slots');

-- The scheduler's view across organisations (like the relay's outbox_claim): which schedules are due. Only ids
-- come out; the scheduler then fires each in that organisation's tenant transaction, where it locks the row again.
CREATE FUNCTION report_schedules_due(p_now timestamptz, p_limit integer) RETURNS TABLE (org_id uuid, id uuid)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    SELECT s.org_id, s.id FROM report_schedules s
     WHERE s.status = 'active' AND s.next_slot <= p_now
     ORDER BY s.next_slot
     LIMIT p_limit
       FOR UPDATE SKIP LOCKED
$$;

REVOKE ALL ON FUNCTION report_schedules_due(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION report_schedules_due(timestamptz, integer) TO "{{app_role}}";
