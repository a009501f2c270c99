-- Report runs (issue 10): `runReport` (and, later, schedules) queue a run; the reports worker builds its file,
-- records what makes it reproducible (the query hash: sha256 of the normalised input and the statement; the data
-- watermarks it read at) and mails it to its recipients. One row per run, its file in report_run_chunks.
CREATE TABLE report_runs (
    org_id         uuid NOT NULL,
    id             uuid NOT NULL,
    requested_by   text NOT NULL,          -- the requester's subject
    requester_email text NOT NULL,
    requester_role text NOT NULL,          -- the role a download link is issued for
    recipients     jsonb NOT NULL,         -- [{"memberId"?: ..., "email": ...}]: the requester unless a schedule says
    input          jsonb NOT NULL,
    format         text NOT NULL CHECK (format IN ('csv', 'xlsx', 'pdf')),
    status         text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    attempts       int NOT NULL DEFAULT 0,
    row_count      bigint,
    file_size      bigint,
    checksum       text,                   -- sha256 of the file, hex
    duration_ms    bigint,
    query_hash     text,
    watermark      jsonb,
    error          text,
    notified_at    timestamptz,            -- when the result (or the failure) was mailed to every recipient
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX report_runs_listed ON report_runs (org_id, created_at DESC, id DESC);
CALL tenant_table('report_runs');

-- A run's file, in 1 MiB chunks: written and read a chunk at a time (constant memory), in the organisation's
-- row-level security like every other row (large objects would sit outside it), and kept with the database's
-- backups and replicas, so any worker or API replica serves it.
CREATE TABLE report_run_chunks (
    org_id   uuid NOT NULL,
    run_id   uuid NOT NULL,
    seq      int NOT NULL,
    data     bytea NOT NULL,
    PRIMARY KEY (org_id, run_id, seq),
    FOREIGN KEY (org_id, run_id) REFERENCES report_runs (org_id, id) ON DELETE CASCADE
);
CALL tenant_table('report_run_chunks');
