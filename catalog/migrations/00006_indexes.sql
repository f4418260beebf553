-- +goose Up
-- Indexer keys admitted by an operator (issue 15): people or projects whose signed
-- indexes this directory hosts. Keys from the directory's config, its own included, are
-- not stored, as for publishers. The key id names the index's URL (/indexes/<key_id>/),
-- so two indexers never share one, not even after a revoke.
CREATE TABLE indexers (
    name        TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL UNIQUE, -- minisign public key, base64 line: the identity
    fingerprint TEXT NOT NULL,        -- internal/sign.Fingerprint of public_key
    key_id      TEXT NOT NULL UNIQUE, -- minisign key id, 16 upper-case hex digits
    added_at    INTEGER NOT NULL,     -- unix seconds
    revoked_at  INTEGER
) STRICT;

-- The current index of each indexer key. Its bytes are the files
-- data/indexes/<key_id>/<version>.json and .minisig, written and fsynced before the row
-- lands; files of other versions are leftovers that opening the catalog removes.
-- fingerprint says which key the row's index was accepted from: a row whose key is no
-- longer an indexer's (a config changed) is not served.
CREATE TABLE indexes (
    key_id      TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    version     INTEGER NOT NULL,
    sha256      TEXT NOT NULL,    -- of the document: its ETag
    issued      INTEGER NOT NULL, -- unix seconds
    expires     INTEGER NOT NULL,
    entries     INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE indexes;
DROP TABLE indexers;
