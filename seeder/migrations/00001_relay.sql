-- +goose Up
-- What the relay holds: one row per artifact, written before its download starts, so a
-- restart resumes it; deleted after its bytes are.
CREATE TABLE holdings (
    infohash TEXT PRIMARY KEY, -- 40 lower-case hex digits
    id       TEXT NOT NULL,    -- <catalog>/<name>/<version> at the directory
    size     INTEGER NOT NULL,
    torrent  BLOB NOT NULL,    -- the .torrent as fetched (info dict, trackers, web seeds)
    files    BLOB NOT NULL,    -- JSON: [{path, size, sha256}] in torrent order
    demand   REAL NOT NULL,    -- as of the last plan, for eviction order
    added_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE holdings;
