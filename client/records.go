package client

import (
	"errors"
	"os"
	"sync"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// storageRecords are the piece records (f.pc) as one BitTorrent run's file storage sees
// them. They spare anacrolix work that costs a fetch time, and keep the records from ever
// saying complete for bytes that are not on disk.
//
// A piece without a record is missing, not unknown: anacrolix hashes every unknown piece
// before it fetches it, and warm fill waits until that initial check is over. On a fresh
// download the check reads only the holes that the peers' first writes leave in the
// sparse files, zeros hashed at 1 MiB a piece (1.3 s for 1 GiB, measured, with warm fill
// idle all that time); on a resumed one the pieces without a record are the few that were
// in flight when it stopped, and they are fetched again.
//
// The records are not persistent to the storage, so that it does not fsync the whole file
// each time a piece completes (MarkComplete in anacrolix's storage/file-piece.go): a
// thousand fsyncs per GiB of 1 MiB pieces, each holding up a piece hasher and the warm
// fill worker waiting on its piece. Instead a piece is complete in memory at once, and
// its record is written by commit, after the files were synced: as bbolt runs with NoSync,
// a record may be lost in a crash (the piece is fetched again), but never reach the disk
// before the bytes it vouches for, which a resumed fetch would trust and upload to peers
// before verify found them damaged.
//
// Records are read from memory once known: each completed piece has the storage read the
// records of its file's pieces from the first until one is incomplete (to promote part
// files, which odi does not use), a bbolt transaction each, about n²/2 of them for a
// file of n pieces fetched in order. Every change during the run comes through Set, so
// the copy stays true; a new run starts a new copy.
type storageRecords struct {
	storage.PieceCompletion
	mu      sync.Mutex
	known   map[metainfo.PieceKey]bool   // complete or not
	pending map[metainfo.PieceKey]uint64 // complete, not yet recorded: when (seq)
	seq     uint64
}

var _ storage.PieceCompletionPersistenter = (*storageRecords)(nil)

func newStorageRecords(pc storage.PieceCompletion) *storageRecords {
	return &storageRecords{PieceCompletion: pc, known: map[metainfo.PieceKey]bool{}, pending: map[metainfo.PieceKey]uint64{}}
}

func (r *storageRecords) Get(pk metainfo.PieceKey) (storage.Completion, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if complete, ok := r.known[pk]; ok {
		return storage.Completion{Ok: true, Complete: complete}, nil
	}
	c, err := r.PieceCompletion.Get(pk)
	if err != nil || c.Err != nil {
		return c, err
	}
	c.Ok = true // no record: missing
	r.known[pk] = c.Complete
	return c, nil
}

// Set records a piece incomplete at once, and complete in memory until commit.
func (r *storageRecords) Set(pk metainfo.PieceKey, complete bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if complete {
		if !r.known[pk] {
			r.seq++
			r.pending[pk] = r.seq
			r.known[pk] = true
		}
		return nil
	}
	delete(r.pending, pk)
	delete(r.known, pk) // a failed write leaves the record unknown
	if err := r.PieceCompletion.Set(pk, false); err != nil {
		return err
	}
	r.known[pk] = false
	return nil
}

func (*storageRecords) Persistent() bool { return false }

// commit records the pieces completed before it was called, once sync has made their
// bytes durable; those completed meanwhile wait for the next commit. It takes the lock
// for one record at a time: the client asks for records with its own lock held.
func (r *storageRecords) commit(sync func(pieces []int) error) error {
	r.mu.Lock()
	seen := r.seq
	keys := make([]metainfo.PieceKey, 0, len(r.pending))
	pieces := make([]int, 0, len(r.pending))
	for pk := range r.pending {
		keys = append(keys, pk)
		pieces = append(pieces, pk.Index)
	}
	r.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	if err := sync(pieces); err != nil {
		return err
	}
	for _, pk := range keys {
		if err := r.record(pk, seen); err != nil {
			return err
		}
	}
	return nil
}

// record writes pk's record if it is still pending since seq seen or before.
func (r *storageRecords) record(pk metainfo.PieceKey, seen uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if at, ok := r.pending[pk]; !ok || at > seen {
		return nil // incomplete since, or completed again after the sync began
	}
	if err := r.PieceCompletion.Set(pk, true); err != nil {
		return err
	}
	delete(r.pending, pk)
	return nil
}

// syncFiles fsyncs the files that pieces cover.
func (f *fetcher) syncFiles(pieces []int) error {
	files := map[int]bool{}
	for _, p := range pieces {
		off, n := f.layout.Piece(p)
		for _, sp := range f.layout.Spans(off, off+n) {
			files[sp.File] = true
		}
	}
	var errs []error
	for i := range files {
		fh, err := os.Open(f.localPath(i))
		if err == nil {
			err = fh.Sync()
			fh.Close()
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
