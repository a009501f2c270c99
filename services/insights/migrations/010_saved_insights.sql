-- Saved insights and dashboards (services/insights/service/saved_insights.py says who may do what).
--
-- A saved insight keeps the builder's input as it was given (validated by domain/insight.parse when saved):
-- a relative range (LAST_30_DAYS) stays relative, so its answer moves with the days. `event_types` are the
-- stored event types it counts (Insight.stored_types): a live tick naming one of them refreshes its tiles.
-- `author` is the signed-in user's subject from the service token (the one identity the internal API
-- trusts); NULL is the platform (the default dashboard and its insights): only admins change those.
--
-- A dashboard holds tiles in grid order (`position`, dense from 0, rewritten whole on every move) with a
-- width of 1 to 4 columns; a saved insight is at most once on a dashboard. Each organisation has at most one
-- default dashboard (`is_default`, unique per organisation): created on the first read, and two concurrent
-- first reads meet on that index, so exactly one is made.
--
-- Every key leads with org_id (Citus-ready); all three are tenant tables.

CREATE TABLE saved_insights (
    org_id       uuid NOT NULL,
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    input        jsonb NOT NULL,
    event_types  text[] NOT NULL,
    author       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);
CALL tenant_table('saved_insights');
CREATE INDEX saved_insights_by_name ON saved_insights (org_id, lower(name), id);

CREATE TABLE dashboards (
    org_id       uuid NOT NULL,
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    author       text,
    is_default   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);
CALL tenant_table('dashboards');
CREATE UNIQUE INDEX dashboards_one_default ON dashboards (org_id) WHERE is_default;

CREATE TABLE dashboard_tiles (
    org_id            uuid NOT NULL,
    dashboard_id      uuid NOT NULL,
    saved_insight_id  uuid NOT NULL,
    position          integer NOT NULL CHECK (position >= 0),
    width             smallint NOT NULL DEFAULT 2 CHECK (width BETWEEN 1 AND 4),
    PRIMARY KEY (org_id, dashboard_id, saved_insight_id),
    -- Deferred: a move rewrites every position of the dashboard in one statement.
    UNIQUE (org_id, dashboard_id, position) DEFERRABLE INITIALLY DEFERRED,
    FOREIGN KEY (org_id, dashboard_id) REFERENCES dashboards (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, saved_insight_id) REFERENCES saved_insights (org_id, id) ON DELETE CASCADE
);
CALL tenant_table('dashboard_tiles');
-- A saved insight's tiles (deleting an insight removes them; live refresh finds them).
CREATE INDEX dashboard_tiles_by_insight ON dashboard_tiles (org_id, saved_insight_id);
