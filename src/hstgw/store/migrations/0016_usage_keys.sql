-- SQLite: usage events' duplicate check moves from the UNIQUE (node_id, event_id) index
-- to usage_keys, a 64-bit key per event written in sorted runs (store/sqlite/usagekeys.py):
-- with random event ids (UUIDs) the index took a page write per event at commit, the
-- largest part of ingestion at 10,000,000 records (docs/performance.md, bench/billing.py),
-- and ~70 bytes per record. SQLite cannot drop a table's UNIQUE, so the table is made
-- again (rows, record ids and indexes kept); usage_keys is filled when the store opens.
-- PostgreSQL keeps its unique index (its ingestion checks it): nothing changes there.

-- only: sqlite
CREATE TABLE usage_keys (
    key        INTEGER NOT NULL,
    record_id  INTEGER NOT NULL,
    PRIMARY KEY (key, record_id)
) WITHOUT ROWID;

-- only: sqlite
CREATE TABLE usage_records_keyed (
    record_id       INTEGER NOT NULL,
    event_id        TEXT NOT NULL,
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
    quantity        TEXT NOT NULL,
    parties         INTEGER NOT NULL,
    price_micro     BIGINT NOT NULL,
    amount_micro    BIGINT NOT NULL,
    node_id         TEXT NOT NULL,
    received_at     BIGINT NOT NULL,
    PRIMARY KEY (dev_id, start_time, record_id)
) WITHOUT ROWID;

-- only: sqlite
INSERT INTO usage_records_keyed SELECT record_id, event_id, dev_id, app_id, charge_term,
    product_id, start_time, end_time, total_time, group_id, user_id, client_id, stream_id,
    resolution, transfer_type, total_sig_num, billed_sig_num, quantity, parties,
    price_micro, amount_micro, node_id, received_at
FROM usage_records ORDER BY dev_id, start_time, record_id;

-- only: sqlite
DROP TABLE usage_records;

-- only: sqlite
ALTER TABLE usage_records_keyed RENAME TO usage_records;

-- Record ids: the next one (MAX), usage_keys' references, the records after a run.
-- only: sqlite
CREATE UNIQUE INDEX usage_records_id ON usage_records (record_id);

-- Its entries end with the key's columns not in it (dev_id): a page by app reads it alone.
-- only: sqlite
CREATE INDEX usage_records_app_time ON usage_records (app_id, start_time, record_id);

-- A page's total (part hours) and offset, the console's sums: read from this narrow
-- index, the page's rows then from the table by key.
-- only: sqlite
CREATE INDEX usage_records_dev_page
    ON usage_records (dev_id, start_time, record_id, app_id, charge_term, amount_micro);
