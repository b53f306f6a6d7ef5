-- Rule state becomes one packed row of bytes per vehicle (numpy state arrays, field by field),
-- described by a layout shared by every vehicle; a rule set change keeps unchanged rules' state.
-- The state saved by migration 3's JSON form is dropped: rules re-derive it from new samples.
DROP TABLE rule_state;
CREATE TABLE rule_state_layouts (
    id          text PRIMARY KEY,
    fields      jsonb NOT NULL,  -- [[name, numpy dtype, shape], ...] in packing order
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE rule_state (
    vehicle_id  integer PRIMARY KEY REFERENCES vehicles (id) ON DELETE CASCADE,
    layout      text NOT NULL REFERENCES rule_state_layouts (id),
    state       bytea NOT NULL,  -- LZ4, after a 4-byte little-endian uncompressed size
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Service history: maintenance plans count from the last service; "no service offer right after
-- a service" reads it too.
CREATE TABLE service_events (
    id            bigserial PRIMARY KEY,
    vehicle_id    integer NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    performed_at  timestamptz NOT NULL,
    odometer_km   double precision NOT NULL CHECK (odometer_km >= 0),
    kind          text NOT NULL DEFAULT 'scheduled'
                  CHECK (kind IN ('scheduled', 'repair', 'inspection', 'tyres', 'recall')),
    dealer_id     bigint REFERENCES dealers (id),
    description   text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX service_events_vehicle ON service_events (vehicle_id, performed_at DESC);

-- Until a first service is recorded, a maintenance plan counts from delivery.
ALTER TABLE vehicles ADD COLUMN delivered_on date;
