package catalog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/fsutil"
)

// diskSpace is the directory's data disk as uploads, database writes and readiness see
// it: a write the disk refuses (ENOSPC, EDQUOT, SQLITE_FULL) becomes a *NoSpaceError
// (507), and the directory is not ready while less than min_free_space is free.
type diskSpace struct {
	dir   string
	floor int64 // min_free_space

	mu   sync.Mutex
	at   time.Time // when free was read; zero forces a read
	free int64
	err  error
}

// spaceCacheTTL is how long a statfs answers readiness probes: load balancers probe
// several times a second, and a disk that fills or empties is seen within this.
const spaceCacheTTL = time.Second

func newDiskSpace(dir string, floor int64) *diskSpace {
	return &diskSpace{dir: dir, floor: floor}
}

// freeAt is the disk's free bytes, read at most once per spaceCacheTTL.
func (s *diskSpace) freeAt(now time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.at.IsZero() || now.Sub(s.at) >= spaceCacheTTL || now.Before(s.at) {
		s.free, s.err = fsutil.FreeBytes(s.dir)
		s.at = now
	}
	return s.free, s.err
}

// fresh reads the disk's free bytes now, and makes the next readiness check read them
// again: refusals and failed writes report what is true at that moment, and readiness
// follows at once.
func (s *diskSpace) fresh() (int64, error) {
	free, err := fsutil.FreeBytes(s.dir)
	s.mu.Lock()
	s.at = time.Time{}
	s.mu.Unlock()
	return free, err
}

// ready reports why the directory should take no traffic that writes: less than the
// floor is free. A disk whose space this system cannot tell is taken as ready.
func (s *diskSpace) ready(now time.Time) error {
	free, err := s.freeAt(now)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return nil
	case err != nil:
		return fmt.Errorf("data disk: %w", err)
	case free < s.floor:
		return fmt.Errorf("%w: the data disk has %s free, below directory.min_free_space (%s); publishes are refused until space is freed",
			ErrNoSpace, bytesize.Size(free), bytesize.Size(s.floor))
	}
	return nil
}

// refuse is the error of what, needing need bytes (0 when unknown), on a disk that
// cannot hold it; cause is the write's error, if one failed.
func (s *diskSpace) refuse(what string, need, reserved int64, cause error) error {
	free, err := s.fresh()
	if err != nil {
		free = -1
	}
	return &NoSpaceError{What: what, Need: need, Free: free, Reserved: reserved, Floor: s.floor, Err: cause}
}

// check turns err into a *NoSpaceError when it says the disk (or the writer's quota)
// is full, and returns any other error as it is.
func (s *diskSpace) check(what string, need int64, err error) error {
	if err == nil || errors.Is(err, ErrNoSpace) || !(fsutil.IsNoSpace(err) || isFull(err)) {
		return err
	}
	return s.refuse(what, need, 0, err)
}

// Ready reports whether the directory can take traffic: its database answers, its data
// dir is writable, and its data disk has min_free_space free (read at most once a
// second). It is /readyz.
func (c *Catalog) Ready(ctx context.Context) error {
	if err := c.Ping(ctx); err != nil {
		return err
	}
	return c.space.ready(c.now())
}
