-- A records page is ordered by (start_time, record_id). 0011's index put app_id, term
-- and amount after start_time, so a page of a developer's range sorted every record of
-- the range (p99 20 ms at 10,000,000 records, bench/billing.py); with record_id right
-- after start_time the page is read in index order again, and the console's sums stay
-- index-only. (On SQLite record_id is the row id every entry ends with anyway.)
DROP INDEX IF EXISTS usage_records_dev_spend;
CREATE INDEX IF NOT EXISTS usage_records_dev_page
    ON usage_records (dev_id, start_time, record_id, app_id, charge_term, amount_micro);
