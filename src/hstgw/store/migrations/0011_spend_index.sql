-- The console's spend figures (a month by app and charge term, days of a month) sum amounts
-- over a developer's time range: with the term and amount in the developer's index,
-- they are read from the index alone, not row by row (docs/performance.md, console).
-- It replaces the narrower index it starts with, so ingestion keeps one index per key.
DROP INDEX usage_records_dev_time;
CREATE INDEX usage_records_dev_spend
    ON usage_records (dev_id, start_time, app_id, charge_term, amount_micro);
