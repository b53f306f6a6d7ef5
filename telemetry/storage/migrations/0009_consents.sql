-- Consent per purpose, as a history: each grant or withdrawal is a row with when and where it
-- was given; the latest row per customer and purpose is in force.
CREATE TABLE consents (
    id           bigserial PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    purpose      text NOT NULL
                 CHECK (purpose IN ('maintenance_alerts', 'marketing', 'location_history', 'dealer_data_sharing')),
    granted      boolean NOT NULL,
    given_at     timestamptz NOT NULL,
    source       text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consents_latest ON consents (customer_id, purpose, given_at DESC, id DESC);
CREATE VIEW current_consents AS
    SELECT DISTINCT ON (customer_id, purpose) customer_id, purpose, granted, given_at, source
    FROM consents ORDER BY customer_id, purpose, given_at DESC, id DESC;
