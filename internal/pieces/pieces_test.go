package pieces

import (
	"bytes"
	"crypto/sha1"
	"slices"
	"testing"
)

func TestSpans(t *testing.T) {
	// Files of 5, 0, 3 and 10 bytes: the stream is 18 bytes, in pieces of 4.
	l := NewLayout(4, []int64{5, 0, 3, 10})
	if l.Total() != 18 || l.NumPieces() != 5 {
		t.Fatalf("Total %d NumPieces %d, want 18 and 5", l.Total(), l.NumPieces())
	}
	tests := []struct {
		from, to int64
		want     []Span
	}{
		{0, 4, []Span{{0, 0, 4}}},
		{4, 8, []Span{{0, 4, 1}, {2, 0, 3}}}, // across the empty file
		{8, 12, []Span{{3, 0, 4}}},
		{16, 18, []Span{{3, 8, 2}}},
		{0, 18, []Span{{0, 0, 5}, {2, 0, 3}, {3, 0, 10}}},
		{5, 5, nil},
		{18, 30, nil},
	}
	for _, tt := range tests {
		if got := l.Spans(tt.from, tt.to); !slices.Equal(got, tt.want) {
			t.Errorf("Spans(%d, %d) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestPieces(t *testing.T) {
	l := NewLayout(4, []int64{5, 0, 3, 10})
	for _, tt := range []struct {
		p      int
		off, n int64
	}{
		{0, 0, 4}, {1, 4, 4}, {4, 16, 2}, {5, 20, 0},
	} {
		if off, n := l.Piece(tt.p); off != tt.off || n != tt.n {
			t.Errorf("Piece(%d) = %d, %d; want %d, %d", tt.p, off, n, tt.off, tt.n)
		}
	}
	for _, tt := range []struct{ file, first, end int }{{0, 0, 2}, {1, 0, 0}, {2, 1, 2}, {3, 2, 5}} {
		if first, end := l.FilePieces(tt.file); first != tt.first || end != tt.end {
			t.Errorf("FilePieces(%d) = [%d, %d), want [%d, %d)", tt.file, first, end, tt.first, tt.end)
		}
	}
}

func TestHasher(t *testing.T) {
	data := []byte("0123456789abcdefgh") // 18 bytes: pieces of 4, the last of 2
	l := NewLayout(4, []int64{5, 0, 3, 10})
	var sums []byte
	for p := range l.NumPieces() {
		off, n := l.Piece(p)
		s := sha1.Sum(data[off : off+n])
		sums = append(sums, s[:]...)
	}
	bad := bytes.Clone(data)
	bad[9] = 'X' // piece 2

	for _, tt := range []struct {
		name   string
		stream []byte
		first  int
		chunks int // write in pieces of this many bytes
		want   map[int]bool
	}{
		{"whole, byte by byte", data, 0, 1, map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true}},
		{"whole, at once", data, 0, 18, map[int]bool{0: true, 1: true, 2: true, 3: true, 4: true}},
		{"a bad byte", bad, 0, 7, map[int]bool{0: true, 1: true, 2: false, 3: true, 4: true}},
		{"from piece 3", data[12:], 3, 5, map[int]bool{3: true, 4: true}},
		{"an unfinished piece is not told", data[:6], 0, 6, map[int]bool{0: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := map[int]bool{}
			h := NewHasher(l, sums, tt.first, func(p int, ok bool) error { got[p] = ok; return nil })
			for s := tt.stream; len(s) > 0; {
				k := min(tt.chunks, len(s))
				if n, err := h.Write(s[:k]); n != k || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				s = s[k:]
			}
			if len(got) != len(tt.want) {
				t.Fatalf("outcomes %v, want %v", got, tt.want)
			}
			for p, ok := range tt.want {
				if got[p] != ok {
					t.Errorf("piece %d: ok=%v, want %v", p, got[p], ok)
				}
			}
		})
	}

	h := NewHasher(l, sums, 4, func(int, bool) error { return nil })
	if _, err := h.Write([]byte("ghXX")); err == nil {
		t.Error("bytes past the last piece: no error")
	}
}
