-- Events for external CRMs, through a transactional outbox: the event row is written by the same
-- transaction as the change it reports (a trigger on alerts; `enqueue_event` for other writers),
-- and fanned out into one delivery row per subscribed endpoint. A sender process delivers them.

-- What kind of rule raised the alert: events of the maintenance plan are `service_due.*`.
ALTER TABLE alerts ADD COLUMN rule_kind text;

CREATE TABLE webhook_endpoints (
    id           bigserial PRIMARY KEY,
    url          text NOT NULL CHECK (url ~ '^https?://'),
    secret       text NOT NULL,
    -- event families delivered: 'alert', 'service_due', 'activation'
    event_types  text[] NOT NULL,
    dealer_id    bigint REFERENCES dealers (id),  -- NULL: every dealer's events
    description  text,
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbox_events (
    seq           bigserial PRIMARY KEY,  -- per vehicle, the order of commits (see enqueue_event)
    id            uuid NOT NULL UNIQUE,
    type          text NOT NULL,
    vehicle_id    integer REFERENCES vehicles (id) ON DELETE SET NULL,
    dealer_id     bigint,
    ordering_key  text NOT NULL,
    payload       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    endpoint_id      bigint NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_seq        bigint NOT NULL REFERENCES outbox_events (seq) ON DELETE CASCADE,
    ordering_key     text NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    window_start     timestamptz NOT NULL DEFAULT now(),  -- retries stop this long after (72 h)
    last_status      integer,
    last_error       text,
    delivered_at     timestamptz,
    PRIMARY KEY (endpoint_id, event_seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (endpoint_id, ordering_key, event_seq)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (endpoint_id, event_seq) WHERE state = 'dead';

-- Write one event and its deliveries; announce it on `<schema>.outbox`. The per-vehicle advisory
-- lock, held to the end of the transaction, makes sequence order equal commit order for one
-- vehicle, so the sender never sees a later event of a vehicle before an earlier one commits.
CREATE FUNCTION enqueue_event(p_type text, p_vehicle_id integer, p_data jsonb) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_vin text;
    v_dealer bigint;
    v_customer bigint;
    v_key text;
    v_id uuid := gen_random_uuid();
    v_seq bigint;
BEGIN
    SELECT vin, dealer_id, owner_customer_id INTO v_vin, v_dealer, v_customer FROM vehicles WHERE id = p_vehicle_id;
    v_key := COALESCE(v_vin, '-');
    PERFORM pg_advisory_xact_lock(hashtextextended(current_schema() || '.outbox.' || v_key, 0));
    INSERT INTO outbox_events (id, type, vehicle_id, dealer_id, ordering_key, payload)
    VALUES (v_id, p_type, p_vehicle_id, v_dealer, v_key, jsonb_build_object(
        'id', v_id, 'type', p_type, 'occurred_at', now(),
        'vehicle', jsonb_build_object('vin', v_vin, 'dealer_id', v_dealer, 'customer_id', v_customer),
        'data', p_data))
    RETURNING seq INTO v_seq;
    INSERT INTO webhook_deliveries (endpoint_id, event_seq, ordering_key)
    SELECT e.id, v_seq, v_key FROM webhook_endpoints e
    WHERE e.active AND split_part(p_type, '.', 1) = ANY (e.event_types)
      AND (e.dealer_id IS NULL OR e.dealer_id = v_dealer);
    IF FOUND THEN
        PERFORM pg_notify(current_schema() || '.outbox', '');
    END IF;
    RETURN v_id;
END $$;

-- Every change of an alert's state is an event: alert.opened, .reopened, .acknowledged,
-- .resolved, .cleared (service_due.* for the maintenance plan).
CREATE FUNCTION alert_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_change text;
BEGIN
    v_change := CASE
        WHEN TG_OP = 'INSERT' THEN 'opened'
        WHEN NEW.state = 'open' THEN 'reopened'
        ELSE NEW.state END;
    PERFORM enqueue_event(
        CASE WHEN NEW.rule_kind = 'service_plan' THEN 'service_due' ELSE 'alert' END || '.' || v_change,
        NEW.vehicle_id,
        jsonb_build_object(
            'alert_id', NEW.id, 'rule_id', NEW.rule_id, 'severity', NEW.severity, 'state', NEW.state,
            'title', NEW.title, 'explanation', NEW.explanation, 'first_seen', NEW.first_seen,
            'last_seen', NEW.last_seen, 'peak_value', NEW.peak_value, 'resolution', NEW.resolution,
            'by', CASE NEW.state WHEN 'resolved' THEN NEW.resolved_by
                                 WHEN 'acknowledged' THEN NEW.acknowledged_by END));
    RETURN NEW;
END $$;
CREATE TRIGGER alerts_event_insert AFTER INSERT ON alerts FOR EACH ROW EXECUTE FUNCTION alert_event();
CREATE TRIGGER alerts_event_state AFTER UPDATE OF state ON alerts
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION alert_event();
