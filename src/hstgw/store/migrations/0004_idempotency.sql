-- Idempotency-Key: the first response to each (caller, key), kept 24 hours.

CREATE TABLE idempotency_keys (
    owner        TEXT NOT NULL,     -- the developer (dev_id) or the node ('node:' + node_id)
    idem_key     TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,     -- sha256 of method, path, query and body
    response     TEXT,              -- the first response; NULL while it is being made
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (owner, idem_key)
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
