-- +goose Up
-- Each member records its own heartbeat interval, so that anybody can tell
-- whether it missed three heartbeats, whatever interval it runs with.
ALTER TABLE members ADD COLUMN heartbeat_ms BIGINT NOT NULL DEFAULT 5000;

-- +goose Down
ALTER TABLE members DROP COLUMN heartbeat_ms;
