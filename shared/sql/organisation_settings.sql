-- Kit: a consuming service's local copy of each organisation's settings (name, time zone,
-- base currency), fed by the orders service's organisation events, so that no service calls
-- another to render a date bucket. Included with `-- include: organisation_settings`.
CREATE TABLE organisation_settings (
    org_id         uuid PRIMARY KEY,
    name           text NOT NULL,
    time_zone      text NOT NULL,
    base_currency  char(3) NOT NULL,
    -- occurred_at of the event applied last: an older event arriving late changes nothing.
    as_of          timestamptz NOT NULL
);
CALL tenant_table('organisation_settings');
