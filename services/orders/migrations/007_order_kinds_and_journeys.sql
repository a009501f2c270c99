-- The seed's vocabulary: each order or sign-up (kind), products reached through an embedded
-- journey or an affiliate link (journey type) with what counts as success for them, and why a
-- FAILED order failed (a data capture or delivery problem, told by the provider or the platform).
ALTER TABLE products ADD COLUMN journey_type text NOT NULL DEFAULT 'embedded'
    CHECK (journey_type IN ('embedded', 'affiliate'));
ALTER TABLE products ADD COLUMN success_definition text
    CHECK (success_definition IS NULL OR length(success_definition) <= 500);
ALTER TABLE orders ADD COLUMN kind text NOT NULL DEFAULT 'order' CHECK (kind IN ('order', 'sign_up'));
ALTER TABLE orders ADD COLUMN failure_reason text
    CHECK (failure_reason IS NULL OR length(failure_reason) <= 500);
