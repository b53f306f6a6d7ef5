-- The OEM's segments (saved filters over the fleet) and campaigns (one option activated, or offered
-- as a trial, for every eligible vehicle of a segment, at a set rate). A campaign's vehicles are
-- fixed when it is created; the campaign runner releases them at the rate while the campaign runs,
-- checking each one's eligibility again at that moment. Everything a restart needs is here.
CREATE TABLE segments (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 80),
    filter      jsonb NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE campaigns (
    id               bigserial PRIMARY KEY,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 120),
    segment_id       bigint NOT NULL REFERENCES segments (id),
    feature_code     text NOT NULL REFERENCES features (code),
    kind             text NOT NULL CHECK (kind IN ('purchase', 'subscription', 'trial')),
    rate_per_minute  integer NOT NULL CHECK (rate_per_minute BETWEEN 1 AND 60000),
    state            text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'paused', 'cancelled', 'completed')),
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    released_until   timestamptz NOT NULL DEFAULT now(),  -- the rate's clock: releases are owed since here
    finished_at      timestamptz
);
CREATE INDEX campaigns_running ON campaigns (id) WHERE state = 'running';

CREATE TABLE campaign_targets (
    campaign_id     bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    vehicle_id      integer NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    state           text NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'released', 'skipped', 'cancelled')),
    reason          text,            -- why a vehicle was skipped when its turn came
    entitlement_id  bigint REFERENCES entitlements (id),
    released_at     timestamptz,
    PRIMARY KEY (campaign_id, vehicle_id)
);
CREATE INDEX campaign_targets_waiting ON campaign_targets (campaign_id, vehicle_id) WHERE state = 'waiting';
