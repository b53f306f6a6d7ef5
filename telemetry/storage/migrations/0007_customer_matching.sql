-- Finding probable duplicates of a customer: by e-mail, by phone (both stored normalised), by
-- postcode (then by a fuzzy name comparison).
CREATE INDEX customers_email ON customers (email) WHERE email IS NOT NULL;
CREATE INDEX customers_phone ON customers (phone) WHERE phone IS NOT NULL;
CREATE INDEX customers_postcode ON customers (upper(replace(postcode, ' ', ''))) WHERE postcode IS NOT NULL;
