-- +goose Up
-- Every (backend, region) a replica was ever placed in, so the orphan
-- sweeper still looks there after the gateway and its rows are gone.
CREATE TABLE known_regions (
    backend TEXT NOT NULL,
    region  TEXT NOT NULL,
    PRIMARY KEY (backend, region)
);
INSERT INTO known_regions (backend, region) SELECT DISTINCT backend, region FROM replicas;

-- +goose Down
DROP TABLE known_regions;
