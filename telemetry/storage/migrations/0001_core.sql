-- Business records: dealers, customers, vehicles, alerts, dead letters. Samples come in 0002.

CREATE TABLE dealers (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customers (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'company')),
    name        text NOT NULL,
    email       text,
    phone       text,
    postcode    text,
    dealer_id   bigint REFERENCES dealers (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vehicles (
    id                 serial PRIMARY KEY,
    vin                text NOT NULL UNIQUE CHECK (vin ~ '^[A-HJ-NPR-Z0-9]{17}$'),
    make               text NOT NULL,
    model              text NOT NULL,
    model_year         integer NOT NULL CHECK (model_year BETWEEN 1981 AND 2100),
    powertrain         text NOT NULL CHECK (powertrain IN ('combustion', 'hybrid', 'electric')),
    owner_customer_id  bigint REFERENCES customers (id),
    dealer_id          bigint REFERENCES dealers (id),
    vss_version        text NOT NULL DEFAULT '6.0' CHECK (vss_version ~ '^[456](\.[0-9]+)?$'),
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vehicles_owner ON vehicles (owner_customer_id);

CREATE TABLE alerts (
    id            bigserial PRIMARY KEY,
    vehicle_id    integer NOT NULL REFERENCES vehicles (id),
    rule_id       text NOT NULL,
    rule_version  integer NOT NULL,
    severity      text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state         text NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved', 'cleared')),
    title         text NOT NULL,
    explanation   text NOT NULL,
    first_seen    timestamptz NOT NULL,
    last_seen     timestamptz NOT NULL,
    cleared_at    timestamptz,
    occurrences   integer NOT NULL DEFAULT 1,
    peak_value    double precision,
    evidence      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Exactly one active alert per (vehicle, rule), whatever the number of rule workers.
CREATE UNIQUE INDEX alerts_one_active ON alerts (vehicle_id, rule_id) WHERE state IN ('open', 'acknowledged');
CREATE INDEX alerts_vehicle_recent ON alerts (vehicle_id, created_at DESC);

CREATE TABLE dead_letters (
    id            bigserial PRIMARY KEY,
    received_at   timestamptz NOT NULL,
    topic         text NOT NULL,
    vin           text,
    reason        text NOT NULL,
    detail        text NOT NULL,
    signal        text,
    sample_ts     timestamptz,
    payload       bytea NOT NULL,
    payload_size  integer NOT NULL,
    -- a redelivered message adds no second row: (message, reason, detail) is stored once
    message_hash  bytea NOT NULL,
    UNIQUE (message_hash, reason, detail)
);
CREATE INDEX dead_letters_recent ON dead_letters (received_at DESC);
CREATE INDEX dead_letters_reason ON dead_letters (reason, received_at DESC);

CREATE TABLE storage_info (
    key    text PRIMARY KEY,
    value  text NOT NULL
);
