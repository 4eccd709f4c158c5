-- The console's sessions (issue 14): a signed-in browser's session, by the digest of its
-- cookie's nonce (the store never holds what a browser sends). Kept in the store so
-- that a sign-out ends a session on every node and across restarts, and a disabled or
-- re-keyed developer's sessions end for good (in the same transaction).

CREATE TABLE console_sessions (
    session_id  TEXT PRIMARY KEY,   -- sha256 of the cookie's nonce, hex
    dev_id      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX console_sessions_by_dev ON console_sessions (dev_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
