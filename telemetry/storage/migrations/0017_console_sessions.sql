-- Console sessions: the browser holds a random session id, never the API key. Only a SHA-256
-- digest of the id is kept; a session ends at its expiry, at sign-out, or with its key's revocation.
CREATE TABLE console_sessions (
    digest      text PRIMARY KEY,
    key_id      bigint NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    advisor     text NOT NULL,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
