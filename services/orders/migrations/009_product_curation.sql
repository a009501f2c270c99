-- Curating products: the operator fills each organisation's provider catalogue
-- (catalogue_products); admins add entries of it to an integration (an integration's product,
-- a row of products as before, now remembering where it came from), order them and switch them
-- on or off. Products the operator created directly keep catalogue_product_id NULL.
-- include: tenancy

CREATE TABLE catalogue_products (
    org_id             uuid NOT NULL REFERENCES organisations(id),
    id                 uuid NOT NULL DEFAULT gen_random_uuid(),
    provider_id        uuid NOT NULL,
    category_id        uuid NOT NULL,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    commission_rate    numeric(14, 2) NOT NULL DEFAULT 0 CHECK (commission_rate >= 0),
    currency           char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    journey_type       text NOT NULL DEFAULT 'embedded' CHECK (journey_type IN ('embedded', 'affiliate')),
    success_definition text CHECK (success_definition IS NULL OR length(success_definition) <= 500),
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CONSTRAINT catalogue_products_provider_same_org FOREIGN KEY (org_id, provider_id) REFERENCES providers (org_id, id),
    CONSTRAINT catalogue_products_category_same_org FOREIGN KEY (org_id, category_id) REFERENCES categories (org_id, id)
);
CREATE INDEX catalogue_products_by_name ON catalogue_products (org_id, name, id);
CALL tenant_table('catalogue_products');

ALTER TABLE products ADD COLUMN position integer NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN enabled boolean NOT NULL DEFAULT true;
ALTER TABLE products ADD COLUMN catalogue_product_id uuid,
    ADD CONSTRAINT products_catalogue_product_same_org
        FOREIGN KEY (org_id, catalogue_product_id) REFERENCES catalogue_products (org_id, id);
-- A catalogue entry is in an integration at most once (the check behind "already added", race-free).
CREATE UNIQUE INDEX products_integration_catalogue_product ON products (org_id, integration_id, catalogue_product_id)
    WHERE catalogue_product_id IS NOT NULL;

-- Existing products keep the order they were listed in (by name) as their position.
UPDATE products p SET position = ranked.n
  FROM (SELECT id, (row_number() OVER (PARTITION BY integration_id ORDER BY name, id))::integer - 1 AS n
          FROM products) ranked
 WHERE ranked.id = p.id;
