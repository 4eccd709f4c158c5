-- Month counters that overflowed (SQLite turned them into floats past 2^63 - 1): they
-- now stop at the largest BIGINT instead (hstgw.store.sql.UPSERT_MONTHLY_USAGE).
UPDATE monthly_usage SET amount_micro = 9223372036854775807
    WHERE amount_micro >= 9223372036854775807;
UPDATE monthly_usage SET use_quantity = 9223372036854775807
    WHERE use_quantity >= 9223372036854775807;
