-- Working alerts from a dealer's queue: who has it, and the notes advisors add as they go.
ALTER TABLE alerts ADD COLUMN assigned_to text, ADD COLUMN assigned_at timestamptz;
CREATE TABLE alert_notes (
    id          bigserial PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    author      text NOT NULL,
    text        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_notes_alert ON alert_notes (alert_id, id);
CREATE INDEX vehicles_dealer ON vehicles (dealer_id);

-- New and reopened alerts are announced on the channel `<schema>.alerts` (the API's live feed
-- listens); the payload is the alert id. Channels are per database, hence the schema in the name.
CREATE FUNCTION announce_alert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR (NEW.state = 'open' AND OLD.state = 'cleared') THEN
        PERFORM pg_notify(TG_TABLE_SCHEMA || '.alerts', NEW.id::text);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER alerts_announce AFTER INSERT OR UPDATE OF state ON alerts
    FOR EACH ROW EXECUTE FUNCTION announce_alert();
