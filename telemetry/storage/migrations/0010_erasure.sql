-- Erasure: the customer row stays as a pseudonym (service records and alerts refer to vehicles,
-- and invoices must be kept), with the personal data gone and the time it went.
ALTER TABLE customers ADD COLUMN erased_at timestamptz;
