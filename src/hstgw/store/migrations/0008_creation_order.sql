-- Developers and nodes, like apps (0007), are listed in the order they were created,
-- a total order; existing rows are numbered in the order they were listed until now.

ALTER TABLE developers ADD COLUMN seq BIGINT;
UPDATE developers SET seq = numbered.n
FROM (SELECT dev_id, row_number() OVER (ORDER BY created_at, dev_id) AS n FROM developers)
    AS numbered
WHERE numbered.dev_id = developers.dev_id;
CREATE UNIQUE INDEX developers_seq ON developers (seq);

ALTER TABLE nodes ADD COLUMN seq BIGINT;
UPDATE nodes SET seq = numbered.n
FROM (SELECT node_id, row_number() OVER (ORDER BY created_at, node_id) AS n FROM nodes)
    AS numbered
WHERE numbered.node_id = nodes.node_id;
CREATE UNIQUE INDEX nodes_seq ON nodes (seq);
