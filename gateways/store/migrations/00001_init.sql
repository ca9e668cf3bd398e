-- +goose Up
-- One schema for SQLite and PostgreSQL. {{id}} becomes the dialect's
-- auto-increment key. Times are BIGINT milliseconds since the Unix epoch,
-- taken from the database clock, so that leases compare against one clock
-- whatever the servers' clocks say.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE gateways (
    id                {{id}},
    name              TEXT    NOT NULL UNIQUE,
    backend           TEXT    NOT NULL,
    spec              TEXT    NOT NULL,
    desired_replicas  INTEGER NOT NULL,
    status            TEXT    NOT NULL,
    status_message    TEXT    NOT NULL DEFAULT '',
    revision          BIGINT  NOT NULL DEFAULT 1,
    deleting          BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    process_after     BIGINT  NOT NULL DEFAULT 0,
    last_processed_at BIGINT  NOT NULL DEFAULT 0,
    lock_token        TEXT,
    lock_owner        TEXT,
    lock_expires_at   BIGINT
);

CREATE TABLE replicas (
    id                {{id}},
    gateway_id        BIGINT  NOT NULL REFERENCES gateways(id) ON DELETE CASCADE,
    replica_num       INTEGER NOT NULL,
    attempt           INTEGER NOT NULL,
    token             TEXT    NOT NULL UNIQUE,
    status            TEXT    NOT NULL,
    status_message    TEXT    NOT NULL DEFAULT '',
    final_status      TEXT    NOT NULL DEFAULT '',
    error_kind        TEXT    NOT NULL DEFAULT '',
    stop_requested    BOOLEAN NOT NULL DEFAULT FALSE,
    backend           TEXT    NOT NULL,
    region            TEXT    NOT NULL,
    zone              TEXT    NOT NULL DEFAULT '',
    zone_index        INTEGER NOT NULL DEFAULT 0,
    instance_id       TEXT    NOT NULL DEFAULT '',
    hostname          TEXT    NOT NULL DEFAULT '',
    backend_data      TEXT    NOT NULL DEFAULT '{}',
    launch_requested  BOOLEAN NOT NULL DEFAULT FALSE,
    launched_at       BIGINT,
    health_failures   INTEGER NOT NULL DEFAULT 0,
    unhealthy_since   BIGINT,
    running_at        BIGINT,
    finished_at       BIGINT,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    process_after     BIGINT  NOT NULL DEFAULT 0,
    last_processed_at BIGINT  NOT NULL DEFAULT 0,
    lock_token        TEXT,
    lock_owner        TEXT,
    lock_expires_at   BIGINT,
    UNIQUE (gateway_id, replica_num, attempt)
);
CREATE INDEX replicas_due ON replicas (status, process_after);
CREATE INDEX replicas_gateway ON replicas (gateway_id, replica_num);

-- events outlive their gateway: no foreign key.
CREATE TABLE events (
    id           {{id}},
    gateway_id   BIGINT  NOT NULL,
    gateway_name TEXT    NOT NULL,
    replica_num  INTEGER,
    attempt      INTEGER,
    kind         TEXT    NOT NULL,
    message      TEXT    NOT NULL,
    at           BIGINT  NOT NULL
);
CREATE INDEX events_gateway ON events (gateway_name, id);

CREATE TABLE members (
    id           TEXT   PRIMARY KEY,
    address      TEXT   NOT NULL DEFAULT '',
    hostname     TEXT   NOT NULL DEFAULT '',
    pid          INTEGER NOT NULL DEFAULT 0,
    version      TEXT   NOT NULL DEFAULT '',
    started_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE members;
DROP TABLE events;
DROP TABLE replicas;
DROP TABLE gateways;
DROP TABLE settings;
