-- +goose Up
-- Catalogs group artifacts; a catalog is created by its first publish.
CREATE TABLE catalogs (
    name       TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL -- unix seconds
) STRICT;

-- Publisher keys admitted by an operator (keys given in the directory's config are not
-- stored: the config stays their source of truth).
CREATE TABLE publishers (
    name       TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL UNIQUE, -- minisign key id, 16 hex digits
    public_key TEXT NOT NULL,        -- minisign public key, base64 line
    catalogs   TEXT NOT NULL DEFAULT '', -- space-separated catalogs it may publish to; '' = any
    added_at   INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

-- Artifacts are immutable once published; expunge turns one into a tombstone that keeps
-- its name and infohash forever, so neither is ever served or reused again.
CREATE TABLE artifacts (
    id             INTEGER PRIMARY KEY,
    catalog        TEXT NOT NULL REFERENCES catalogs(name),
    name           TEXT NOT NULL,
    version        TEXT NOT NULL,
    infohash       TEXT NOT NULL UNIQUE, -- v1, 40 lower-case hex digits
    root           TEXT NOT NULL,        -- the torrent's name
    piece_length   INTEGER NOT NULL,
    size           INTEGER NOT NULL,     -- total bytes
    info           BLOB NOT NULL,        -- bencoded info dict: the torrent, minus what changes
    manifest       BLOB NOT NULL,        -- the manifest JSON the publisher signed
    publisher      TEXT NOT NULL,        -- publisher name at the time of publishing
    key_id         TEXT NOT NULL,        -- the signature over the manifest: request-signature
    signed_date    TEXT NOT NULL,        -- fields that let anyone verify it again
    signed_nonce   TEXT NOT NULL,
    signature      BLOB NOT NULL,
    signed_uri     TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('published', 'expunged')),
    published_at   INTEGER NOT NULL,
    expunged_at    INTEGER,
    expunge_reason TEXT,
    UNIQUE (catalog, name, version)
) STRICT;

CREATE TABLE files (
    artifact_id INTEGER NOT NULL REFERENCES artifacts(id),
    idx         INTEGER NOT NULL, -- position in the torrent
    path        TEXT NOT NULL,    -- below the root; '' for a single-file artifact
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    PRIMARY KEY (artifact_id, idx)
) STRICT, WITHOUT ROWID;

-- Nonces of signed requests seen within the clock-skew window, to refuse replays, also
-- across restarts.
CREATE TABLE nonces (
    key_id     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, nonce)
) STRICT, WITHOUT ROWID;
CREATE INDEX nonces_expiry ON nonces (expires_at);

-- +goose Down
DROP TABLE nonces;
DROP TABLE files;
DROP TABLE artifacts;
DROP TABLE publishers;
DROP TABLE catalogs;
