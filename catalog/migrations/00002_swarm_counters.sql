-- +goose Up
-- The tracker's lifetime counters per swarm, flushed in batches (never per announce), so
-- popularity survives restarts. Live seeders and leechers are not stored: peers re-announce.
CREATE TABLE swarm_counters (
    infohash  TEXT PRIMARY KEY, -- 40 lower-case hex digits
    completed INTEGER NOT NULL,
    demand    REAL NOT NULL,    -- decayed demand as of demand_at
    demand_at INTEGER NOT NULL  -- unix nanoseconds
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE swarm_counters;
