-- API keys: only a SHA-256 digest of the secret part is kept (the key is shown once, at creation).
-- A key is `tk_{prefix}_{secret}`; the prefix finds the row, the digest proves the secret.
CREATE TABLE api_keys (
    id          bigserial PRIMARY KEY,
    prefix      text NOT NULL UNIQUE,
    digest      text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'oem', 'advisor', 'vehicle-readonly')),
    dealer_id   bigint REFERENCES dealers (id),
    name        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK ((role = 'advisor') = (dealer_id IS NOT NULL))  -- an advisor works for exactly one dealer
);
