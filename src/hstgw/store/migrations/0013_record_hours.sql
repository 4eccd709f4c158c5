-- Records per developer, UTC hour of start_time, app and charge term, kept in the
-- transaction that writes the records: a records page's total is the sum of the whole
-- hours of its range plus the records of the two part hours at its ends, counted
-- from the index (store/totals.py), so it reads at most two hours of records whatever
-- the range holds (docs/billing.md, "Maintained totals").
CREATE TABLE record_hours (
    dev_id       TEXT NOT NULL,
    hour         BIGINT NOT NULL,
    app_id       TEXT NOT NULL,
    charge_term  SMALLINT NOT NULL,
    records      BIGINT NOT NULL,
    PRIMARY KEY (dev_id, hour, app_id, charge_term)
);

INSERT INTO record_hours (dev_id, hour, app_id, charge_term, records)
SELECT dev_id, start_time / 3600000, app_id, charge_term, count(*)
FROM usage_records
GROUP BY dev_id, start_time / 3600000, app_id, charge_term;
