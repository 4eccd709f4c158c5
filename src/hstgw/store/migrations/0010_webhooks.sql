-- Webhooks (issue 13): a developer's endpoints, where each stands in each app's event
-- log (the last version delivered, kept durably: nothing is lost or sent again across
-- a restart), and the per-delivery log. Portable SQL, times in epoch ms.

CREATE TABLE webhooks (
    webhook_id        TEXT PRIMARY KEY,
    dev_id            TEXT NOT NULL REFERENCES developers (dev_id),
    url               TEXT NOT NULL,
    app_id            TEXT,                 -- NULL: every app of the developer
    event_ids         TEXT NOT NULL,        -- comma list of event ids; '': every event
    secret            TEXT NOT NULL,        -- sealed (secretbox)
    old_secret        TEXT,                 -- sealed; still signs until old_secret_until
    old_secret_until  BIGINT NOT NULL DEFAULT 0,
    status            TEXT NOT NULL CHECK (status IN ('active', 'failing')),
    created_at        BIGINT NOT NULL
);
CREATE INDEX webhooks_by_dev ON webhooks (dev_id, created_at, webhook_id);

CREATE TABLE webhook_cursors (
    webhook_id  TEXT NOT NULL,
    app_id      TEXT NOT NULL,
    version     BIGINT NOT NULL,            -- the last version delivered (or skipped)
    PRIMARY KEY (webhook_id, app_id)
);

CREATE TABLE webhook_deliveries (
    delivery_id    TEXT PRIMARY KEY,
    webhook_id     TEXT NOT NULL,
    app_id         TEXT NOT NULL,
    version        BIGINT NOT NULL,
    event_id       INTEGER NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    latency_ms     INTEGER,
    response_code  INTEGER,
    last_error     TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (webhook_id, created_at, delivery_id);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook_id, app_id, version);
CREATE INDEX webhook_deliveries_age ON webhook_deliveries (updated_at);
