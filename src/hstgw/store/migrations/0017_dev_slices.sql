-- Records per developer and 6-minute slice of start_time, kept in the ingestion
-- transaction beside dev_hours: a records page's total (unfiltered) adds the whole hours
-- of its range from dev_hours, the whole slices of the part hours at its ends from here,
-- and counts only the records of the two part slices from the index (at most ~12 minutes
-- of a developer's records, a page or two of it, where two part hours were ~900 entries
-- over ~20 pages at 10,000,000 records: the larger part of a page read from disk;
-- docs/performance.md, bench/billing.py). WITHOUT ROWID (SQLite; PostgreSQL drops it).
CREATE TABLE dev_slices (
    dev_id   TEXT NOT NULL,
    slice    BIGINT NOT NULL,
    records  BIGINT NOT NULL,
    PRIMARY KEY (dev_id, slice)
) WITHOUT ROWID;

INSERT INTO dev_slices (dev_id, slice, records)
SELECT dev_id, start_time / 360000, count(*)
FROM usage_records
GROUP BY dev_id, start_time / 360000;
