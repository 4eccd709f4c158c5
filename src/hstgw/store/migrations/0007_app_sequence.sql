-- "Oldest first" is a total order: apps carry their creation sequence (apps made in
-- the same millisecond came back in the random order of their ids). Existing apps are
-- numbered in the order they were listed until now: created_at, then app_id.

ALTER TABLE apps ADD COLUMN seq BIGINT;

UPDATE apps SET seq = numbered.n
FROM (SELECT app_id, row_number() OVER (ORDER BY created_at, app_id) AS n FROM apps) AS numbered
WHERE numbered.app_id = apps.app_id;

CREATE UNIQUE INDEX apps_seq ON apps (seq);
DROP INDEX apps_by_dev;
CREATE INDEX apps_by_dev ON apps (dev_id, seq) WHERE deleted_at IS NULL;
