-- The insights service's copy of the FX reference rates (the orders service's migration 012 says what they
-- are): the ECB's euro rates, one row per (day, currency), units of the currency per 1 EUR. Kept from the
-- orders service's `fx_rates.published` events (services/insights/service/fx_rates.py); read by the insights
-- builder to convert amounts to an organisation's base currency (`rates_to`).
--
-- Not a tenant table, on purpose: rates are a fact about the world shared by every organisation, with no
-- organisation's data in it; one copy serves all. The application role writes it only from those events
-- (the consumer runs as the application role) and reads it for every organisation.
--
-- `as_of`: when the orders service published the row's value; an older event (redelivered, or overtaken
-- by a correction) changes nothing. EUR has no row: it is 1 per euro on every date.
-- The key leads with the currency: a lookup reads the few days before a date of one currency.
CREATE TABLE fx_rates (
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$' AND currency <> 'EUR'),
    day         date NOT NULL,
    per_euro    numeric NOT NULL CHECK (per_euro > 0),
    as_of       timestamptz NOT NULL,
    PRIMARY KEY (currency, day)
);
