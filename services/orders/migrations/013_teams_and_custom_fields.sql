-- Teams (named groups of members: report recipients), custom field definitions, and the values and account
-- currency of customers and orders (issue 10).
-- include: tenancy

-- A team's members are members of its organisation (the foreign key carries org_id); a member removed from the
-- organisation leaves every team (ON DELETE CASCADE), and so does a deleted team's membership.
CREATE TABLE teams (
    org_id      uuid NOT NULL REFERENCES organisations(id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);
-- Names are unique per organisation, ignoring case: the check behind DUPLICATE_NAME, race-free.
CREATE UNIQUE INDEX teams_org_name ON teams (org_id, lower(name));
CALL tenant_table('teams');

CREATE TABLE team_members (
    org_id      uuid NOT NULL,
    team_id     uuid NOT NULL,
    member_id   uuid NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, team_id, member_id),
    CONSTRAINT team_members_team_same_org FOREIGN KEY (org_id, team_id) REFERENCES teams (org_id, id)
        ON DELETE CASCADE,
    CONSTRAINT team_members_member_same_org FOREIGN KEY (org_id, member_id) REFERENCES members (org_id, id)
        ON DELETE CASCADE
);
CREATE INDEX team_members_by_member ON team_members (org_id, member_id);
CALL tenant_table('team_members');

-- Custom field definitions, per organisation and entity (`customer`, `order` or a business event type:
-- shared/custom_fields.py). The key is the slug of the name when it was defined and never changes (reports and
-- the API name fields by it); names and keys are unique per organisation and entity.
CREATE TABLE custom_fields (
    org_id      uuid NOT NULL REFERENCES organisations(id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    entity      text NOT NULL CHECK (entity ~ '^[a-z_]{1,40}$'),
    key         text NOT NULL CHECK (key ~ '^[a-z0-9_]{1,64}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    type        text NOT NULL CHECK (type IN ('text', 'number', 'date', 'boolean', 'choice')),
    choices     text[] NOT NULL DEFAULT '{}',
    position    integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CHECK ((type = 'choice') = (cardinality(choices) > 0))
);
CREATE UNIQUE INDEX custom_fields_org_entity_key ON custom_fields (org_id, entity, key);
CREATE UNIQUE INDEX custom_fields_org_entity_name ON custom_fields (org_id, entity, lower(name));
CALL tenant_table('custom_fields');

-- Values: a flat JSON object of key → value, checked against the definitions when written (shared/custom_fields.py).
ALTER TABLE customers ADD COLUMN custom_fields jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom_fields) = 'object');
ALTER TABLE orders ADD COLUMN custom_fields jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom_fields) = 'object');
-- The currency itemised reports show the customer's amounts in; NULL: the organisation's base currency.
ALTER TABLE customers ADD COLUMN account_currency char(3) CHECK (account_currency ~ '^[A-Z]{3}$');
