package warmfill

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLateWriteKeepsTheFileWhole writes a piece of a complete file again, as Fill does
// when the client completed the piece between Fill's check and its write, and has the
// client check it. The file must stay whole: with anacrolix's part files it became the
// one piece and zeros, while the torrent still said complete.
func TestLateWriteKeepsTheFileWhole(t *testing.T) {
	const pieceLen, pieces = 1 << 16, 4
	data := make([]byte, pieceLen*pieces)
	rand.Read(data)
	tor, dir := newTestTorrent(t, data, pieceLen)
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
