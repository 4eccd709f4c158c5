-- The event log (docs/events.md): each app's events, numbered 1, 2, ... without a gap,
-- and the groups they describe, kept in the same transaction as the events.

-- One row per app: its last version (the counter each append moves, under the row's
-- lock), the last version pruned (events up to it are no longer kept), and when it moved.
CREATE TABLE event_heads (
    app_id      TEXT PRIMARY KEY,
    version     BIGINT NOT NULL,
    pruned      BIGINT NOT NULL DEFAULT 0,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX event_heads_updated ON event_heads (updated_at);

-- kind: the event's id (20100, ...); body: its push fields beyond id, app_id, version.
CREATE TABLE events (
    app_id   TEXT NOT NULL,
    version  BIGINT NOT NULL,
    kind     INTEGER NOT NULL,
    at_ms    BIGINT NOT NULL,
    body     TEXT NOT NULL,
    PRIMARY KEY (app_id, version)
);
CREATE INDEX events_at ON events (at_ms);

-- A reporting node's event ids, appended once each (kept as long as the events).
CREATE TABLE event_keys (
    source   TEXT NOT NULL,
    event_key TEXT NOT NULL,
    app_id   TEXT NOT NULL,
    version  BIGINT NOT NULL,
    at_ms    BIGINT NOT NULL,
    PRIMARY KEY (source, event_key)
);
CREATE INDEX event_keys_at ON event_keys (at_ms);

-- Who is in which group, through whom (holder: a terminal's login, or media:<node>),
-- on which gateway node (a dead node's members are left for it).
CREATE TABLE group_members (
    app_id     TEXT NOT NULL,
    group_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    holder     TEXT NOT NULL,
    node       TEXT NOT NULL,
    joined_at  BIGINT NOT NULL,
    PRIMARY KEY (app_id, group_id, user_id)
);
CREATE INDEX group_members_holder ON group_members (app_id, holder);
CREATE INDEX group_members_node ON group_members (node);

CREATE TABLE group_media (
    app_id      TEXT NOT NULL,
    group_id    TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    media_id    TEXT NOT NULL,
    media_type  SMALLINT NOT NULL,
    started_at  BIGINT NOT NULL,
    PRIMARY KEY (app_id, group_id, user_id, media_id)
);
