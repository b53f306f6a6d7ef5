-- Incidents: the alerts of one vehicle that point at one system (and, for per-wheel systems, one
-- wheel) and overlap in time, worked as one item; with the outcome that closes the loop.
CREATE TABLE incidents (
    id               bigserial PRIMARY KEY,
    vehicle_id       integer NOT NULL REFERENCES vehicles (id),
    system           text NOT NULL,
    component        text NOT NULL DEFAULT '',
    state            text NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved', 'cleared')),
    severity         text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    title            text NOT NULL,
    explanation      text NOT NULL,
    cause_alert_id   bigint,
    first_seen       timestamptz NOT NULL,
    last_seen        timestamptz NOT NULL,
    cleared_at       timestamptz,
    reopened         integer NOT NULL DEFAULT 0,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    assigned_to      text,
    assigned_at      timestamptz,
    resolved_at      timestamptz,
    resolved_by      text,
    outcome          text CHECK (outcome IN ('repaired', 'no_fault_found', 'customer_declined', 'duplicate', 'other')),
    operation        text,
    note             text,
    service_event_id bigint REFERENCES service_events (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (state <> 'resolved' OR outcome IS NOT NULL),
    CHECK (outcome IS DISTINCT FROM 'repaired' OR operation IS NOT NULL)
);
-- One incident being worked per (vehicle, system, component), whatever the number of rule workers.
CREATE UNIQUE INDEX incidents_one_active ON incidents (vehicle_id, system, component)
    WHERE state IN ('open', 'acknowledged');
CREATE INDEX incidents_vehicle_recent ON incidents (vehicle_id, last_seen DESC);
CREATE INDEX incidents_service_event ON incidents (service_event_id);

ALTER TABLE alerts
    ADD COLUMN system text,
    ADD COLUMN component text NOT NULL DEFAULT '',
    ADD COLUMN incident_id bigint REFERENCES incidents (id);
CREATE INDEX alerts_incident ON alerts (incident_id);

-- Resolving an incident resolves its alerts with the incident's outcome.
ALTER TABLE alerts DROP CONSTRAINT alerts_resolution_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_resolution_check CHECK (resolution IN (
    'booked', 'declined', 'customer_unreachable', 'not_our_vehicle', 'no_fault_found',
    'repaired', 'customer_declined', 'duplicate', 'other'));

-- Alerts being worked when incidents arrived: each its own incident (their rules' systems were
-- not recorded), so that nothing leaves the advisors' queues.
WITH made AS (
    INSERT INTO incidents (vehicle_id, system, component, state, severity, title, explanation,
                           first_seen, last_seen, acknowledged_at, acknowledged_by, assigned_to, assigned_at)
    SELECT vehicle_id, 'diagnostics', rule_id, state, severity, title, explanation,
           first_seen, last_seen, acknowledged_at, acknowledged_by, assigned_to, assigned_at
    FROM alerts WHERE state IN ('open', 'acknowledged')
    RETURNING id, vehicle_id, component
)
UPDATE alerts a SET incident_id = m.id, system = 'diagnostics', component = a.rule_id
FROM made m WHERE a.vehicle_id = m.vehicle_id AND a.rule_id = m.component AND a.state IN ('open', 'acknowledged');
UPDATE incidents i SET cause_alert_id = a.id FROM alerts a WHERE a.incident_id = i.id;

-- Every change of an incident's state is an event for the CRM: incident.opened, .reopened,
-- .acknowledged, .resolved, .cleared, and .escalated when its severity rises.
CREATE FUNCTION incident_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_change text;
BEGIN
    v_change := CASE
        WHEN TG_OP = 'INSERT' THEN 'opened'
        WHEN OLD.state IS DISTINCT FROM NEW.state THEN
            CASE WHEN NEW.state = 'open' THEN 'reopened' ELSE NEW.state END
        ELSE 'escalated' END;
    PERFORM enqueue_event(
        'incident.' || v_change,
        NEW.vehicle_id,
        jsonb_build_object(
            'incident_id', NEW.id, 'system', NEW.system, 'component', NEW.component,
            'severity', NEW.severity, 'state', NEW.state, 'title', NEW.title,
            'explanation', NEW.explanation, 'first_seen', NEW.first_seen, 'last_seen', NEW.last_seen,
            'alert_ids', (SELECT COALESCE(jsonb_agg(id ORDER BY id), '[]'::jsonb) FROM alerts WHERE incident_id = NEW.id),
            'outcome', NEW.outcome, 'operation', NEW.operation, 'service_event_id', NEW.service_event_id,
            'by', CASE NEW.state WHEN 'resolved' THEN NEW.resolved_by
                                 WHEN 'acknowledged' THEN NEW.acknowledged_by END));
    RETURN NEW;
END $$;
-- Deferred to the commit, so that the event lists the alerts attached in the same transaction.
CREATE CONSTRAINT TRIGGER incidents_event_insert AFTER INSERT ON incidents
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION incident_event();
CREATE CONSTRAINT TRIGGER incidents_event_change AFTER UPDATE OF state, severity ON incidents
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state OR (
        OLD.severity IS DISTINCT FROM NEW.severity
        AND CASE NEW.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END
          < CASE OLD.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END))
    EXECUTE FUNCTION incident_event();
