-- The OEM's week-by-week fleet health, finished weeks kept: a week that is over changes only when
-- an incident's dates change within or before it (late data, a backdated clearing) or a vehicle
-- moves to another model, year or software version. The triggers forget exactly the weeks such a
-- change can touch; the view recomputes forgotten weeks on its next read and the current week always.
CREATE TABLE fleet_weekly_weeks (
    grouping  text NOT NULL,           -- model | model_year | software_version
    week      timestamptz NOT NULL,    -- Monday 00:00 UTC
    PRIMARY KEY (grouping, week)
);
CREATE TABLE fleet_weekly (
    grouping  text NOT NULL,
    week      timestamptz NOT NULL,
    grp       text NOT NULL,
    system    text NOT NULL,
    affected  integer NOT NULL CHECK (affected > 0),
    PRIMARY KEY (grouping, week, grp, system),
    FOREIGN KEY (grouping, week) REFERENCES fleet_weekly_weeks (grouping, week) ON DELETE CASCADE
);

-- A reader filling weeks in holds the table in SHARE ROW EXCLUSIVE mode (oem/fleet_health.py):
-- a forgetting's DELETE waits for it and so comes after, and the reader sees a forgetting that
-- committed before it took the lock. Forgettings never wait for one another on that lock.
CREATE FUNCTION fleet_weekly_forget(since timestamptz, only_grouping text DEFAULT NULL) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM fleet_weekly_weeks
    WHERE week >= date_trunc('week', since, 'UTC') AND (only_grouping IS NULL OR grouping = only_grouping)
$$;

CREATE FUNCTION incidents_forget_weeks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    since timestamptz;
BEGIN
    IF TG_OP = 'INSERT' THEN
        since := NEW.first_seen;
    ELSIF TG_OP = 'DELETE' THEN
        since := OLD.first_seen;
    ELSE
        IF NEW.first_seen IS DISTINCT FROM OLD.first_seen OR NEW.system IS DISTINCT FROM OLD.system
           OR NEW.vehicle_id IS DISTINCT FROM OLD.vehicle_id THEN
            since := least(NEW.first_seen, OLD.first_seen);
        END IF;
        IF COALESCE(NEW.resolved_at, NEW.cleared_at) IS DISTINCT FROM COALESCE(OLD.resolved_at, OLD.cleared_at) THEN
            -- presence in a week changes only between the old and the new end (NULL: still open)
            since := least(since, COALESCE(NEW.resolved_at, NEW.cleared_at), COALESCE(OLD.resolved_at, OLD.cleared_at));
        END IF;
    END IF;
    IF since IS NOT NULL AND since < date_trunc('week', now(), 'UTC') THEN
        PERFORM fleet_weekly_forget(since);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER incidents_forget_weeks AFTER INSERT OR UPDATE OR DELETE ON incidents
    FOR EACH ROW EXECUTE FUNCTION incidents_forget_weeks();

CREATE FUNCTION vehicles_forget_weeks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.model IS DISTINCT FROM OLD.model THEN
        PERFORM fleet_weekly_forget('-infinity', 'model');
    END IF;
    IF NEW.model_year IS DISTINCT FROM OLD.model_year THEN
        PERFORM fleet_weekly_forget('-infinity', 'model_year');
    END IF;
    IF NEW.software_version IS DISTINCT FROM OLD.software_version THEN
        PERFORM fleet_weekly_forget('-infinity', 'software_version');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER vehicles_forget_weeks AFTER UPDATE OF model, model_year, software_version ON vehicles
    FOR EACH ROW EXECUTE FUNCTION vehicles_forget_weeks();
