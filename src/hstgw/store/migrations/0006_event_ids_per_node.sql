-- Usage event ids are unique per node (node_id, event_id), no longer across the store:
-- one node cannot claim another node's ids, nor the gateway's own (gw-peak-...).
-- SQLite cannot drop a column's UNIQUE, so the table is made again; rows, record ids
-- and indexes are kept.

CREATE TABLE usage_records_by_node (
    record_id       INTEGER PRIMARY KEY,
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
    UNIQUE (node_id, event_id)
);

INSERT INTO usage_records_by_node (record_id, event_id, dev_id, app_id, charge_term,
    product_id, start_time, end_time, total_time, group_id, user_id, client_id, stream_id,
    resolution, transfer_type, total_sig_num, billed_sig_num, quantity, parties,
    price_micro, amount_micro, node_id, received_at)
SELECT record_id, event_id, dev_id, app_id, charge_term, product_id, start_time, end_time,
    total_time, group_id, user_id, client_id, stream_id, resolution, transfer_type,
    total_sig_num, billed_sig_num, quantity, parties, price_micro, amount_micro, node_id,
    received_at
FROM usage_records;

DROP TABLE usage_records;
ALTER TABLE usage_records_by_node RENAME TO usage_records;
CREATE INDEX usage_records_dev_time ON usage_records (dev_id, start_time);
CREATE INDEX usage_records_app_time ON usage_records (app_id, start_time);
