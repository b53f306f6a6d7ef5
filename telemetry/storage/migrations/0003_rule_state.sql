-- The rule engine's per-vehicle state (durations in progress, active flags, peaks), saved in the
-- same transaction as the alerts it produced, so a restarted rule worker resumes exactly.
CREATE TABLE rule_state (
    vehicle_id  integer PRIMARY KEY REFERENCES vehicles (id) ON DELETE CASCADE,
    state       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
