-- The rest of the customer record: dealer branches, households, registration and warranty,
-- the preferred dealer, invoice-level service history (importable from a DMS export), recalls.

CREATE TABLE dealer_branches (
    id          bigserial PRIMARY KEY,
    dealer_id   bigint NOT NULL REFERENCES dealers (id) ON DELETE CASCADE,
    code        text NOT NULL,
    name        text NOT NULL,
    city        text,
    postcode    text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dealer_id, code)
);

-- A household is the unit for contact pressure: members with a role, over a period.
CREATE TABLE households (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    dealer_id   bigint REFERENCES dealers (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE household_members (
    id            bigserial PRIMARY KEY,
    household_id  bigint NOT NULL REFERENCES households (id) ON DELETE CASCADE,
    customer_id   bigint NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('owner', 'driver', 'family_member')),
    start_on      date NOT NULL,
    end_on        date,
    CHECK (end_on IS NULL OR end_on >= start_on)
);
-- one current household per customer
CREATE UNIQUE INDEX household_members_current ON household_members (customer_id) WHERE end_on IS NULL;
CREATE INDEX household_members_household ON household_members (household_id);

ALTER TABLE vehicles
    ADD COLUMN registration text,
    ADD COLUMN warranty_start date,
    ADD COLUMN warranty_end date,
    ADD COLUMN preferred_dealer_id bigint REFERENCES dealers (id),
    ADD CONSTRAINT vehicles_warranty_order CHECK (warranty_end IS NULL OR warranty_start IS NULL
                                                  OR warranty_end >= warranty_start);

CREATE TABLE recalls (
    id               bigserial PRIMARY KEY,
    code             text NOT NULL UNIQUE,
    title            text NOT NULL,
    description      text,
    make             text,
    models           text[],            -- NULL: every model of the make
    model_year_from  integer,
    model_year_to    integer,
    issued_on        date NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
-- a recall names its vehicles by VIN, by make/model/year, or both
CREATE TABLE recall_vins (
    recall_id  bigint NOT NULL REFERENCES recalls (id) ON DELETE CASCADE,
    vin        text NOT NULL,
    PRIMARY KEY (recall_id, vin)
);
CREATE INDEX recall_vins_vin ON recall_vins (vin);

ALTER TABLE service_events
    ADD COLUMN branch_id bigint REFERENCES dealer_branches (id),
    ADD COLUMN operations text[] NOT NULL DEFAULT '{}',
    ADD COLUMN parts jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [{"number", "description", "quantity"}]
    ADD COLUMN amount numeric(12, 2) CHECK (amount >= 0),
    ADD COLUMN currency text CHECK (currency ~ '^[A-Z]{3}$'),
    ADD COLUMN invoice_number text,
    ADD COLUMN recall_id bigint REFERENCES recalls (id);  -- the recall this visit carried out
-- an invoice is recorded once per dealer: re-importing a DMS export adds nothing twice
CREATE UNIQUE INDEX service_events_invoice ON service_events (dealer_id, invoice_number)
    WHERE invoice_number IS NOT NULL;
CREATE INDEX service_events_recall ON service_events (vehicle_id, recall_id) WHERE recall_id IS NOT NULL;
