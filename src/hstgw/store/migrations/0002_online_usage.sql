-- What the online service counts for billing (issue 4 rates it): per app and day
-- (in the configured time zone), signaling receptions and peak concurrent terminals.

CREATE TABLE online_usage (
    app_id          TEXT NOT NULL,
    day             TEXT NOT NULL,
    signaling       BIGINT NOT NULL DEFAULT 0,
    peak_terminals  BIGINT NOT NULL DEFAULT 0,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (app_id, day)
);
