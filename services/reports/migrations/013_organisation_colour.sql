-- The organisation's primary (brand) colour in the reports service's copy of its settings (issue 10: PDFs print
-- the organisation's colour). Carried by the orders service's organisation events since ORGANISATION_SETTINGS_FIELDS
-- names it; NULL until the organisation's next event (or `python -m services.orders.admin publish-organisations`),
-- and for an organisation that set none: the PDF then uses the platform's default colour.
ALTER TABLE organisation_settings ADD COLUMN primary_colour text
    CHECK (primary_colour IS NULL OR primary_colour ~ '^#[0-9A-Fa-f]{6}$');
