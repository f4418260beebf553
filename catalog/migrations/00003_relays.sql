-- +goose Up
-- Relays that registered with this directory, and what each last said it holds.
CREATE TABLE relays (
    key_id         TEXT PRIMARY KEY, -- minisign key id: the relay's identity
    public_key     TEXT NOT NULL,
    public_url     TEXT NOT NULL,
    quota          INTEGER NOT NULL,
    free           INTEGER NOT NULL,
    upload_limit   INTEGER NOT NULL,
    download_limit INTEGER NOT NULL,
    catalogs       TEXT NOT NULL DEFAULT '', -- space-separated filter; '' = any
    state          TEXT NOT NULL CHECK (state IN ('pending', 'active', 'revoked')),
    registered_at  INTEGER NOT NULL,
    last_seen      INTEGER NOT NULL,
    bytes_served   INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE relay_holdings (
    key_id         TEXT NOT NULL REFERENCES relays(key_id),
    infohash       TEXT NOT NULL,
    bytes_complete INTEGER NOT NULL,
    verified       INTEGER NOT NULL, -- 0 or 1, as the relay reports
    PRIMARY KEY (key_id, infohash)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE relay_holdings;
DROP TABLE relays;
