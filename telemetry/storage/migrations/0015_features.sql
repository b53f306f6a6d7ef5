-- Software options: the OEM's feature catalog, entitlements per vehicle, the commands that switch
-- options on the vehicle (a queue that survives restarts), every acknowledgement received, and an
-- audit log of each entitlement's life.

ALTER TABLE vehicles
    ADD COLUMN software_version text CHECK (software_version ~ '^[0-9]+(\.[0-9]+)*$'),
    ADD COLUMN hardware text[] NOT NULL DEFAULT '{}';

CREATE TABLE features (
    code                  text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]{1,39}$'),
    name                  text NOT NULL,
    description           text,
    models                text[],            -- NULL: every model
    min_software_version  text CHECK (min_software_version ~ '^[0-9]+(\.[0-9]+)*$'),
    requires_hardware     text[] NOT NULL DEFAULT '{}',
    conflicts_with        text[] NOT NULL DEFAULT '{}',
    price_model           text NOT NULL CHECK (price_model IN ('one_off', 'monthly', 'yearly')),
    price                 numeric(10, 2) CHECK (price >= 0),
    currency              text CHECK (currency ~ '^[A-Z]{3}$'),
    trial_days            integer CHECK (trial_days > 0),  -- NULL: no trial
    created_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE entitlements (
    id                 bigserial PRIMARY KEY,
    vehicle_id         integer NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    feature_code       text NOT NULL REFERENCES features (code),
    kind               text NOT NULL CHECK (kind IN ('purchase', 'subscription', 'trial')),
    state              text NOT NULL CHECK (state IN ('pending', 'active', 'failed', 'ended')),
    granted_by         text NOT NULL,       -- the API key's name and role
    dealer_id          bigint REFERENCES dealers (id),
    purchase_reference text,
    starts_at          timestamptz NOT NULL DEFAULT now(),
    ends_at            timestamptz,         -- NULL: a purchase, for the vehicle's life
    ended_reason       text,
    idempotency_key    text UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- one live entitlement per vehicle and feature
CREATE UNIQUE INDEX entitlements_live ON entitlements (vehicle_id, feature_code) WHERE state IN ('pending', 'active');
CREATE INDEX entitlements_expiring ON entitlements (ends_at) WHERE state = 'active' AND ends_at IS NOT NULL;

CREATE TABLE vehicle_commands (
    id               text PRIMARY KEY,
    vehicle_id       integer NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    entitlement_id   bigint REFERENCES entitlements (id),
    feature_code     text NOT NULL,
    action           text NOT NULL CHECK (action IN ('enable', 'disable')),
    expires_at       timestamptz,
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sent', 'timed_out', 'accepted', 'rejected', 'superseded')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    timed_out_at     timestamptz,
    acked_at         timestamptz,
    reason           text,               -- the vehicle's, when it rejected the command
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vehicle_commands_open ON vehicle_commands (next_attempt_at) WHERE state IN ('pending', 'sent', 'timed_out');
CREATE INDEX vehicle_commands_vehicle ON vehicle_commands (vehicle_id, created_at DESC);

-- every acknowledgement received, also for unknown or finished commands (recorded and ignored)
CREATE TABLE command_acks (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    vin          text NOT NULL,
    command_id   text,
    status       text,
    reason       text,
    outcome      text NOT NULL,  -- applied | ignored: <why> | invalid: <why>
    payload      bytea NOT NULL
);
CREATE INDEX command_acks_recent ON command_acks (received_at DESC);

CREATE TABLE entitlement_events (
    id              bigserial PRIMARY KEY,
    entitlement_id  bigint NOT NULL REFERENCES entitlements (id) ON DELETE CASCADE,
    at              timestamptz NOT NULL DEFAULT now(),
    event           text NOT NULL,  -- requested, sent, active, failed, timed_out, resent, renewed, expired, disabled
    detail          text NOT NULL,
    by              text NOT NULL
);
CREATE INDEX entitlement_events_entitlement ON entitlement_events (entitlement_id, id);
