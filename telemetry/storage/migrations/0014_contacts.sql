-- Contacts with customers: the log that contact pressure counts (marketing per household and
-- quarter, no repeat about the same vehicle too soon) and that the timeline shows.
CREATE TABLE contacts (
    id            bigserial PRIMARY KEY,
    customer_id   bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    vehicle_id    integer REFERENCES vehicles (id) ON DELETE SET NULL,
    dealer_id     bigint REFERENCES dealers (id),
    alert_id      bigint REFERENCES alerts (id) ON DELETE SET NULL,
    channel       text NOT NULL CHECK (channel IN ('phone', 'email', 'sms', 'letter', 'in_person', 'app')),
    purpose       text NOT NULL CHECK (purpose IN ('safety', 'service', 'marketing')),
    outcome       text NOT NULL CHECK (outcome IN ('reached', 'no_answer', 'voicemail', 'booked', 'declined', 'sent')),
    note          text,
    contacted_at  timestamptz NOT NULL,
    by            text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_customer ON contacts (customer_id, contacted_at DESC);
CREATE INDEX contacts_marketing ON contacts (customer_id, contacted_at DESC) WHERE purpose = 'marketing';
