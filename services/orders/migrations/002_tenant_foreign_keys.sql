-- References between organisation-scoped rows must stay inside one organisation.
-- Foreign-key checks ignore row-level security, so a plain `product_id` reference could
-- name another organisation's product; composite (org_id, id) keys make the database
-- refuse that, whatever the application code does. The single-column keys they imply are
-- dropped, so each insert checks every reference once.

ALTER TABLE integrations ADD CONSTRAINT integrations_org_id_id UNIQUE (org_id, id);
ALTER TABLE categories ADD CONSTRAINT categories_org_id_id UNIQUE (org_id, id);
ALTER TABLE providers ADD CONSTRAINT providers_org_id_id UNIQUE (org_id, id);
ALTER TABLE products ADD CONSTRAINT products_org_id_id UNIQUE (org_id, id);
ALTER TABLE customers ADD CONSTRAINT customers_org_id_id UNIQUE (org_id, id);
ALTER TABLE orders ADD CONSTRAINT orders_org_id_id UNIQUE (org_id, id);
ALTER TABLE members ADD CONSTRAINT members_org_id_id UNIQUE (org_id, id);

ALTER TABLE members ADD CONSTRAINT members_invited_by_same_org
    FOREIGN KEY (org_id, invited_by) REFERENCES members (org_id, id);
ALTER TABLE integration_categories
    ADD CONSTRAINT integration_categories_integration_same_org FOREIGN KEY (org_id, integration_id) REFERENCES integrations (org_id, id) ON DELETE CASCADE,
    ADD CONSTRAINT integration_categories_category_same_org FOREIGN KEY (org_id, category_id) REFERENCES categories (org_id, id);
ALTER TABLE products
    ADD CONSTRAINT products_integration_same_org FOREIGN KEY (org_id, integration_id) REFERENCES integrations (org_id, id),
    ADD CONSTRAINT products_category_same_org FOREIGN KEY (org_id, category_id) REFERENCES categories (org_id, id),
    ADD CONSTRAINT products_provider_same_org FOREIGN KEY (org_id, provider_id) REFERENCES providers (org_id, id);
ALTER TABLE customers
    ADD CONSTRAINT customers_merged_into_same_org FOREIGN KEY (org_id, merged_into) REFERENCES customers (org_id, id);
ALTER TABLE customer_visits
    ADD CONSTRAINT customer_visits_customer_same_org FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id),
    ADD CONSTRAINT customer_visits_integration_same_org FOREIGN KEY (org_id, integration_id) REFERENCES integrations (org_id, id);
ALTER TABLE orders
    ADD CONSTRAINT orders_integration_same_org FOREIGN KEY (org_id, integration_id) REFERENCES integrations (org_id, id),
    ADD CONSTRAINT orders_product_same_org FOREIGN KEY (org_id, product_id) REFERENCES products (org_id, id),
    ADD CONSTRAINT orders_category_same_org FOREIGN KEY (org_id, category_id) REFERENCES categories (org_id, id),
    ADD CONSTRAINT orders_provider_same_org FOREIGN KEY (org_id, provider_id) REFERENCES providers (org_id, id),
    ADD CONSTRAINT orders_customer_same_org FOREIGN KEY (org_id, customer_id) REFERENCES customers (org_id, id);
ALTER TABLE commission_ledger
    ADD CONSTRAINT commission_ledger_order_same_org FOREIGN KEY (org_id, order_id) REFERENCES orders (org_id, id);
ALTER TABLE webhook_receipts
    ADD CONSTRAINT webhook_receipts_provider_same_org FOREIGN KEY (org_id, provider_id) REFERENCES providers (org_id, id);

ALTER TABLE members DROP CONSTRAINT members_invited_by_fkey;
ALTER TABLE integration_categories DROP CONSTRAINT integration_categories_integration_id_fkey,
    DROP CONSTRAINT integration_categories_category_id_fkey;
ALTER TABLE products DROP CONSTRAINT products_integration_id_fkey, DROP CONSTRAINT products_category_id_fkey,
    DROP CONSTRAINT products_provider_id_fkey;
ALTER TABLE customers DROP CONSTRAINT customers_merged_into_fkey;
ALTER TABLE customer_visits DROP CONSTRAINT customer_visits_customer_id_fkey,
    DROP CONSTRAINT customer_visits_integration_id_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_integration_id_fkey, DROP CONSTRAINT orders_product_id_fkey,
    DROP CONSTRAINT orders_category_id_fkey, DROP CONSTRAINT orders_provider_id_fkey,
    DROP CONSTRAINT orders_customer_id_fkey;
ALTER TABLE commission_ledger DROP CONSTRAINT commission_ledger_order_id_fkey;
