-- Metering and billing: node credentials, rated usage records, month-to-date counters.

CREATE TABLE nodes (
    node_id     TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    key_hash    TEXT NOT NULL UNIQUE,   -- sha256 of the node key; the key itself is never kept
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    created_at  BIGINT NOT NULL
);

-- One record per usage event; event_id makes ingestion idempotent.
-- record_id: INTEGER PRIMARY KEY is SQLite's row id (one B-tree less to write).
CREATE TABLE usage_records (
    record_id       INTEGER PRIMARY KEY,
    event_id        TEXT NOT NULL UNIQUE,
    dev_id          TEXT NOT NULL,
    app_id          TEXT NOT NULL,
    charge_term     SMALLINT NOT NULL,
    product_id      SMALLINT NOT NULL,
    start_time      BIGINT NOT NULL,
    end_time        BIGINT NOT NULL,
    total_time      BIGINT NOT NULL,
    group_id        TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    client_id       TEXT NOT NULL,
    stream_id       TEXT NOT NULL,
    resolution      TEXT NOT NULL,
    transfer_type   SMALLINT NOT NULL,
    total_sig_num   BIGINT NOT NULL,
    billed_sig_num  BIGINT NOT NULL,
    quantity        TEXT NOT NULL,          -- decimal
    parties         INTEGER NOT NULL,
    price_micro     BIGINT NOT NULL,        -- millionths of a yuan
    amount_micro    BIGINT NOT NULL,
    node_id         TEXT NOT NULL,
    received_at     BIGINT NOT NULL
);
-- Queries read (dev or app, start_time, record_id); SQLite ends every index entry with
-- the row id, which record_id is, so it need not be a column of these indexes.
CREATE INDEX usage_records_dev_time ON usage_records (dev_id, start_time);
CREATE INDEX usage_records_app_time ON usage_records (app_id, start_time);

-- Month-to-date use per app and service (seconds, or receptions for signaling) and its
-- amount: what limits are checked against, kept as records are written.
CREATE TABLE monthly_usage (
    app_id        TEXT NOT NULL,
    month         TEXT NOT NULL,
    service_id    SMALLINT NOT NULL,
    use_quantity  BIGINT NOT NULL,
    amount_micro  BIGINT NOT NULL,
    PRIMARY KEY (app_id, month, service_id)
);

-- Signaling receptions per developer and month: the free quota is counted against it.
CREATE TABLE monthly_signaling (
    dev_id      TEXT NOT NULL,
    month       TEXT NOT NULL,
    receptions  BIGINT NOT NULL,
    PRIMARY KEY (dev_id, month)
);

-- Days whose peak terminals have become a record (charge_term 7).
ALTER TABLE online_usage ADD COLUMN rated SMALLINT NOT NULL DEFAULT 0;
