-- Records per developer and UTC hour of start_time (dev_hours), and per developer, hour,
-- app and charge term (record_hours, for a page filtered by app or term), kept in the
-- transaction that writes the records: a records page's total is the sum of the whole
-- hours of its range plus the records of the two part hours at its ends, counted from
-- the index (store/totals.py), so it reads at most two hours of records whatever the
-- range holds (docs/billing.md, "Maintained totals"). WITHOUT ROWID (SQLite; PostgreSQL
-- drops it): a range of hours is a range of adjacent entries, not a row lookup each.
CREATE TABLE dev_hours (
    dev_id   TEXT NOT NULL,
    hour     BIGINT NOT NULL,
    records  BIGINT NOT NULL,
    PRIMARY KEY (dev_id, hour)
) WITHOUT ROWID;

CREATE TABLE record_hours (
    dev_id       TEXT NOT NULL,
    hour         BIGINT NOT NULL,
    app_id       TEXT NOT NULL,
    charge_term  SMALLINT NOT NULL,
    records      BIGINT NOT NULL,
    PRIMARY KEY (dev_id, hour, app_id, charge_term)
) WITHOUT ROWID;

INSERT INTO dev_hours (dev_id, hour, records)
SELECT dev_id, start_time / 3600000, count(*)
FROM usage_records
GROUP BY dev_id, start_time / 3600000;

INSERT INTO record_hours (dev_id, hour, app_id, charge_term, records)
SELECT dev_id, start_time / 3600000, app_id, charge_term, count(*)
FROM usage_records
GROUP BY dev_id, start_time / 3600000, app_id, charge_term;
