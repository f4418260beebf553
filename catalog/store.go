package catalog

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"

	"github.com/mattn/go-sqlite3"
	"github.com/pressly/goose/v3"

	"github.com/opendist/odi/internal/fsutil"
)

//go:embed migrations/*.sql
var migrations embed.FS

// store is the catalog's SQLite database: one writer connection whose transactions start
// IMMEDIATE (so they queue on the busy timeout instead of failing on lock upgrade), and a
// small pool of read-only connections that WAL lets run beside the writer.
type store struct {
	w *sql.DB
	r *sql.DB
	// space turns a write the full disk refused into a *NoSpaceError.
	space *diskSpace
}

const busyTimeoutMillis = 10_000

func openStore(ctx context.Context, path string, space *diskSpace) (*store, error) {
	dsn := func(extra string) string {
		q := url.Values{}
		q.Set("_journal_mode", "WAL")
		q.Set("_busy_timeout", fmt.Sprint(busyTimeoutMillis))
		q.Set("_foreign_keys", "on")
		// FULL: a publish acknowledged to its publisher survives a power cut.
		q.Set("_synchronous", "FULL")
		return "file:" + path + "?" + q.Encode() + extra
	}
	w, err := sql.Open("sqlite3", dsn("&_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite3", dsn("&_query_only=true"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open catalog %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	return &store{w: w, r: r, space: space}, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate catalog: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub)
	if err != nil {
		return fmt.Errorf("migrate catalog: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate catalog: %w", err)
	}
	return nil
}

func (s *store) close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// withTx runs fn in one write transaction and commits, or rolls back if fn fails. A
// write the full disk refused fails with a *NoSpaceError, and nothing of it lands.
func (s *store) withTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.space.check("the catalog database", 0, fmt.Errorf("begin: %w", err))
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return s.space.check("the catalog database", 0, err)
	}
	if err := tx.Commit(); err != nil {
		return s.space.check("the catalog database", 0, fmt.Errorf("commit: %w", err))
	}
	return nil
}

// isUnique tells a UNIQUE or PRIMARY KEY violation from other errors.
func isUnique(err error) bool {
	var e sqlite3.Error
	return errors.As(err, &e) && (e.ExtendedCode == sqlite3.ErrConstraintUnique || e.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}

// isFull tells a write SQLite could not make because the disk or the writer's quota is
// full (SQLITE_FULL, or an I/O error whose errno says so) from other errors.
func isFull(err error) bool {
	var e sqlite3.Error
	return errors.As(err, &e) && (e.Code == sqlite3.ErrFull || fsutil.IsNoSpace(e.SystemErrno))
}
