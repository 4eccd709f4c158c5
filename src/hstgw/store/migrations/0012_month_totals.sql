-- Month totals per developer, month, app and charge term, kept in the transaction that
-- writes the records they sum: the summary and the console read them instead of the
-- records (docs/billing.md, "Maintained totals"). Amounts and quantities are split in
-- high and low 32 bits, so that an exact sum fits BIGINT on both engines; quantity is
-- in millionths, quantity_exp the smallest decimal exponent added (the summary writes
-- the quantity as the sum of the records' decimals would). The rows are filled, and
-- filled again whenever HSTGW_TIME_ZONE changes, when the store opens (store_state).
-- WITHOUT ROWID (SQLite; PostgreSQL drops it): a developer's month is one key range,
-- read from a few adjacent pages however large the file.
CREATE TABLE month_totals (
    dev_id         TEXT NOT NULL,
    month          TEXT NOT NULL,
    app_id         TEXT NOT NULL,
    charge_term    SMALLINT NOT NULL,
    records        BIGINT NOT NULL,
    amount_hi      BIGINT NOT NULL,
    amount_lo      BIGINT NOT NULL,
    total_time     BIGINT NOT NULL,
    total_sig_num  BIGINT NOT NULL,
    quantity_hi    BIGINT NOT NULL,
    quantity_lo    BIGINT NOT NULL,
    quantity_exp   INTEGER NOT NULL,
    PRIMARY KEY (dev_id, month, app_id, charge_term)
) WITHOUT ROWID;

CREATE TABLE store_state (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
