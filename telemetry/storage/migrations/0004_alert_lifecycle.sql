-- Working an alert: who acknowledged it, how it was resolved.
ALTER TABLE alerts
    ADD COLUMN acknowledged_at timestamptz,
    ADD COLUMN acknowledged_by text,
    ADD COLUMN resolved_at timestamptz,
    ADD COLUMN resolved_by text,
    ADD COLUMN resolution text CHECK (resolution IN
        ('booked', 'declined', 'customer_unreachable', 'not_our_vehicle', 'no_fault_found')),
    ADD COLUMN note text;
