-- Usage-based offers: leads for software options found by rules with `offer` (how the car is
-- used). One open offer per vehicle and option; it is withdrawn when the pattern stops, accepted
-- when it becomes a trial, dismissed by an advisor.
CREATE TABLE offers (
    id              bigserial PRIMARY KEY,
    vehicle_id      integer NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    feature_code    text NOT NULL,
    rule_id         text NOT NULL,
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'accepted', 'dismissed', 'withdrawn')),
    reason          text NOT NULL,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    closed_at       timestamptz,
    closed_by       text,
    entitlement_id  bigint REFERENCES entitlements (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX offers_open ON offers (vehicle_id, feature_code) WHERE state = 'open';
CREATE INDEX offers_vehicle ON offers (vehicle_id, created_at DESC);
