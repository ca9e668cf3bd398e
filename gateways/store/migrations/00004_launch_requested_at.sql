-- +goose Up
-- When a replica's launch was first requested: until the provider's
-- consistency delay has passed, an instance it does not list yet may still
-- exist, so terminating such a replica waits instead of declaring it gone.
ALTER TABLE replicas ADD COLUMN launch_requested_at BIGINT;

-- +goose Down
ALTER TABLE replicas DROP COLUMN launch_requested_at;
