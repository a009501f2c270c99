-- Every provider webhook delivery is kept with its outcome (applied, unchanged, stale, unknown
-- order, refused with the reason), so partners can see what a provider sent and why it did or
-- did not change an order. An id makes the log pageable by keyset.
ALTER TABLE webhook_receipts ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE webhook_receipts ADD COLUMN sequence bigint;
ALTER TABLE webhook_receipts ADD COLUMN requested jsonb;
CREATE INDEX webhook_receipts_log ON webhook_receipts (org_id, provider_id, received_at DESC, id DESC);
CREATE INDEX webhook_receipts_order ON webhook_receipts (org_id, order_id, received_at);
