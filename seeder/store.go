package seeder

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	_ "github.com/mattn/go-sqlite3" // the database/sql driver
	"github.com/pressly/goose/v3"

	"github.com/opendist/odi/internal/relayapi"
)

//go:embed migrations/*.sql
var migrations embed.FS

// store is the relay's SQLite state: a single connection (the relay writes rarely).
type store struct{ db *sql.DB }

func openStore(ctx context.Context, path string) (*store, error) {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_busy_timeout=10000&_synchronous=FULL&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open relay state: %w", err)
	}
	db.SetMaxOpenConns(1)
	sub, _ := fs.Sub(migrations, "migrations")
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub)
	if err == nil {
		_, err = p.Up(ctx)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate relay state %s: %w", path, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

// record is one stored holding.
type record struct {
	item    relayapi.Item
	torrent []byte
}

func (s *store) load(ctx context.Context) ([]record, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT infohash, id, size, torrent, files, demand FROM holdings ORDER BY added_at`)
	if err != nil {
		return nil, fmt.Errorf("load holdings: %w", err)
	}
	defer rows.Close()
	var out []record
	for rows.Next() {
		var r record
		var files []byte
		if err := rows.Scan(&r.item.InfoHash, &r.item.ID, &r.item.Size, &r.torrent, &files, &r.item.Demand); err != nil {
			return nil, fmt.Errorf("load holdings: %w", err)
		}
		if err := json.Unmarshal(files, &r.item.Files); err != nil {
			return nil, fmt.Errorf("load holdings: %s: %w", r.item.InfoHash, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// add records a holding before its download starts. It replaces a row of the same
// infohash: one a removal left behind when the full disk refused its delete, which would
// otherwise keep the artifact from being fetched again.
func (s *store) add(ctx context.Context, r record, at time.Time) error {
	files, err := json.Marshal(r.item.Files)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO holdings (infohash, id, size, torrent, files, demand, added_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (infohash) DO UPDATE SET id = excluded.id, size = excluded.size, torrent = excluded.torrent,
			files = excluded.files, demand = excluded.demand, added_at = excluded.added_at`,
		r.item.InfoHash, r.item.ID, r.item.Size, r.torrent, files, r.item.Demand, at.Unix())
	if err != nil {
		return fmt.Errorf("record holding %s: %w", r.item.ID, err)
	}
	return nil
}

func (s *store) setDemand(ctx context.Context, ih string, demand float64) error {
	_, err := s.db.ExecContext(ctx, `UPDATE holdings SET demand = ? WHERE infohash = ?`, demand, ih)
	return err
}

func (s *store) remove(ctx context.Context, ih string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM holdings WHERE infohash = ?`, ih)
	if err != nil {
		return fmt.Errorf("forget holding %s: %w", ih, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errors.New("no such holding")
	}
	return nil
}
