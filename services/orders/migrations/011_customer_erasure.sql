-- Erasure (a data-protection request): the customer's personal fields are removed, their orders stay under an
-- anonymous name. `erased_at` marks the row, so a later visit with the same email or anonymous id is a new
-- customer (the identifiers are gone) and the profile can say the customer was erased.
ALTER TABLE customers ADD COLUMN erased_at timestamptz;
