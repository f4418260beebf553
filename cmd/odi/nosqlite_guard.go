//go:build !nosqlite

package main

// anacrolix/torrent links its own SQLite unless built with -tags nosqlite, and the link
// with mattn/go-sqlite3 then fails with hundreds of "multiple definition" errors. This
// file turns that into one readable compile error. Use `make build` / `make test`.
var _ = odi_must_be_built_with_tags_nosqlite_use_make_build
