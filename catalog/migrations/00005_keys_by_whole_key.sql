-- +goose Up
-- Keys are known by the whole public key, not by their 64-bit key id, which whoever makes
-- a key chooses freely: two publishers may share a key id, never a public key.
CREATE TABLE publishers_by_key (
    name       TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,        -- minisign key id, 16 hex digits: shown, never looked up
    public_key TEXT NOT NULL UNIQUE, -- minisign public key, base64 line: the identity
    catalogs   TEXT NOT NULL DEFAULT '', -- space-separated catalogs it may publish to; '' = any
    added_at   INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
INSERT INTO publishers_by_key (name, key_id, public_key, catalogs, added_at, revoked_at)
    SELECT name, key_id, public_key, catalogs, added_at, revoked_at FROM publishers;
DROP TABLE publishers;
ALTER TABLE publishers_by_key RENAME TO publishers;

-- A relay is named by the fingerprint of its public key (internal/sign.Fingerprint), so a
-- key made with another relay's key id is another relay. SQLite cannot hash: relays
-- registered before this migration keep their key id as id until the catalog opens and
-- re-keys them (catalog/relays.go, rekeyRelays).
ALTER TABLE relays RENAME COLUMN key_id TO id;
ALTER TABLE relay_holdings RENAME COLUMN key_id TO relay_id;
CREATE UNIQUE INDEX relays_public_key ON relays (public_key);

-- Nonces are kept by key fingerprint from now on (the column keeps its name); the rows
-- of the old key ids expire within two skew windows.

-- +goose Down
DROP INDEX relays_public_key;
ALTER TABLE relay_holdings RENAME COLUMN relay_id TO key_id;
ALTER TABLE relays RENAME COLUMN id TO key_id;
CREATE TABLE publishers_by_key_id (
    name       TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL UNIQUE,
    public_key TEXT NOT NULL,
    catalogs   TEXT NOT NULL DEFAULT '',
    added_at   INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
INSERT INTO publishers_by_key_id SELECT name, key_id, public_key, catalogs, added_at, revoked_at FROM publishers;
DROP TABLE publishers;
ALTER TABLE publishers_by_key_id RENAME TO publishers;
