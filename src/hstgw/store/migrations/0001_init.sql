-- Developers, their access tokens, apps and app services.
-- Portable SQL (SQLite and PostgreSQL); times are epoch milliseconds.

CREATE TABLE developers (
    dev_id      TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    secret      TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at  BIGINT NOT NULL
);

CREATE TABLE access_tokens (
    token       TEXT PRIMARY KEY,
    dev_id      TEXT NOT NULL REFERENCES developers (dev_id),
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    live        SMALLINT NOT NULL DEFAULT 1
);
-- One live access_token per developer, enforced by the engine itself.
CREATE UNIQUE INDEX access_tokens_one_live ON access_tokens (dev_id) WHERE live = 1;
CREATE INDEX access_tokens_by_dev ON access_tokens (dev_id, expires_at);

CREATE TABLE apps (
    app_id             TEXT PRIMARY KEY,
    dev_id             TEXT NOT NULL REFERENCES developers (dev_id),
    app_name           TEXT NOT NULL,
    app_secret         TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('online', 'offline')),
    consumption_limit  BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    -- Deleted apps stay, so that their billing records keep a name.
    deleted_at         BIGINT
);
CREATE UNIQUE INDEX apps_name_per_dev ON apps (dev_id, app_name) WHERE deleted_at IS NULL;
CREATE INDEX apps_by_dev ON apps (dev_id, created_at, app_id) WHERE deleted_at IS NULL;

CREATE TABLE app_services (
    app_id      TEXT NOT NULL REFERENCES apps (app_id),
    service_id  SMALLINT NOT NULL,
    use_limit   BIGINT,
    PRIMARY KEY (app_id, service_id)
);
