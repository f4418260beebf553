package warmfill

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// TestLateWriteKeepsTheFileWhole writes a piece of a complete file again, as Fill does
// when the client completed the piece between Fill's check and its write, and has the
// client check it. The file must stay whole: with anacrolix's part files it became the
// one piece and zeros, while the torrent still said complete.
func TestLateWriteKeepsTheFileWhole(t *testing.T) {
	const pieceLen, pieces = 1 << 16, 4
	data := make([]byte, pieceLen*pieces)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	info := metainfo.Info{PieceLength: pieceLen}
	if err := info.BuildFromFilePath(src); err != nil {
		t.Fatal(err)
	}
	var mi metainfo.MetaInfo
	var err error
	if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	pc, err := storage.NewBoltPieceCompletion(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cfg := torrent.NewDefaultClientConfig()
	cfg.DataDir = dir
	st := NewStorage(storage.NewFileClientOpts{ClientBaseDir: dir, PieceCompletion: pc})
	defer st.Close()
	cfg.DefaultStorage = st
	cfg.DisableTCP, cfg.DisableUTP, cfg.NoDHT, cfg.NoDefaultPortForwarding = true, true, true, true
	cl, err := torrent.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	tor, err := cl.AddTorrent(&mi)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	write := func(i int) {
		p := tor.Piece(i)
		if _, err := p.Storage().WriteAt(data[i*pieceLen:(i+1)*pieceLen], 0); err != nil {
			t.Fatal(err)
		}
		if err := p.VerifyDataContext(ctx); err != nil {
			t.Fatal(err)
		}
		if !awaitPieces(ctx, tor, func() bool { s := p.State(); return s.Complete && !s.Checking && !s.Marking }) {
			t.Fatalf("piece %d: not complete after its check: %+v", i, p.State())
		}
	}
	for i := range pieces {
		write(i)
	}
	write(pieces - 1)

	got, err := os.ReadFile(filepath.Join(dir, "f.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("the file is no longer whole after a piece was written again (%d bytes)", len(got))
	}
	if !tor.Complete().Bool() {
		t.Fatal("the torrent is not complete")
	}
}
