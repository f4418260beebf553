-- +goose Up
-- Why a relay is quarantined ('' when it is not): it served bytes that failed a piece
-- hash, and stays out of url-lists and redirects until an operator clears it.
ALTER TABLE relays ADD COLUMN quarantine TEXT NOT NULL DEFAULT '';
-- Redirects the directory answered for the artifact, over its lifetime: demand from plain
-- HTTP users, who never announce.
ALTER TABLE swarm_counters ADD COLUMN redirects INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE swarm_counters DROP COLUMN redirects;
ALTER TABLE relays DROP COLUMN quarantine;
