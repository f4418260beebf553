package pieces

import (
	"crypto/sha1"
	"fmt"
	"hash"
)

// Layout is where a torrent's files and pieces lie in its byte stream.
type Layout struct {
	pieceLength int64
	starts      []int64 // file i begins at starts[i]
	total       int64
}

// NewLayout lays out files of the given sizes, in order, cut into pieces of pieceLength
// (positive) bytes.
func NewLayout(pieceLength int64, sizes []int64) Layout {
	l := Layout{pieceLength: pieceLength, starts: make([]int64, len(sizes))}
	for i, n := range sizes {
		l.starts[i] = l.total
		l.total += n
	}
	return l
}

// Total is the length of the byte stream: the files' sizes added up.
func (l Layout) Total() int64 { return l.total }

// PieceLength is the length of every piece but the last.
func (l Layout) PieceLength() int64 { return l.pieceLength }

// NumPieces is how many pieces cover the byte stream.
func (l Layout) NumPieces() int { return int((l.total + l.pieceLength - 1) / l.pieceLength) }

// Piece is the byte range of piece p: n bytes from off.
func (l Layout) Piece(p int) (off, n int64) {
	off = int64(p) * l.pieceLength
	return off, max(0, min(l.pieceLength, l.total-off))
}

// FilePieces are the pieces that hold bytes of file i, [first, end); none for an empty
// file.
func (l Layout) FilePieces(i int) (first, end int) {
	start, stop := l.fileRange(i)
	if start == stop {
		return 0, 0
	}
	return int(start / l.pieceLength), int((stop + l.pieceLength - 1) / l.pieceLength)
}

func (l Layout) fileRange(i int) (start, stop int64) {
	stop = l.total
	if i+1 < len(l.starts) {
		stop = l.starts[i+1]
	}
	return l.starts[i], stop
}

// Span is a byte range of one file: N bytes from Off, both within the file.
type Span struct {
	File   int
	Off, N int64
}

// Spans cuts the stream's bytes [from, to) into per-file ranges, in order; empty files,
// which hold no byte, have none.
func (l Layout) Spans(from, to int64) []Span {
	var out []Span
	for i := range l.starts {
		start, stop := l.fileRange(i)
		if lo, hi := max(from, start), min(to, stop); lo < hi {
			out = append(out, Span{File: i, Off: lo - start, N: hi - lo})
		}
	}
	return out
}

// Hasher checks consecutive pieces against their SHA-1s from their bytes, written to it
// in order (an io.Writer), and calls done with each piece's outcome as soon as its last
// byte is in. An error from done ends the write with it.
type Hasher struct {
	l     Layout
	sums  []byte // the info dict's pieces: a SHA-1 per piece, end to end
	done  func(piece int, ok bool) error
	piece int
	n     int64 // bytes of piece hashed so far
	h     hash.Hash
}

// NewHasher returns a Hasher for the pieces of l whose SHA-1s are sums (20 bytes each,
// as an info dict's "pieces"), starting at piece first.
func NewHasher(l Layout, sums []byte, first int, done func(piece int, ok bool) error) *Hasher {
	return &Hasher{l: l, sums: sums, done: done, piece: first, h: sha1.New()}
}

// Restart makes the next byte written the first of piece p.
func (h *Hasher) Restart(p int) {
	h.piece, h.n = p, 0
	h.h.Reset()
}

// Write hashes p into the current piece and those after it.
func (h *Hasher) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		_, size := h.l.Piece(h.piece)
		if size == 0 {
			return written, fmt.Errorf("%d bytes past the last piece", len(p))
		}
		k := min(int64(len(p)), size-h.n)
		h.h.Write(p[:k])
		h.n += k
		written += int(k)
		p = p[k:]
		if h.n < size {
			continue
		}
		var got [sha1.Size]byte
		h.h.Sum(got[:0])
		want := h.sums[min(len(h.sums), h.piece*sha1.Size):min(len(h.sums), (h.piece+1)*sha1.Size)]
		piece := h.piece
		h.Restart(piece + 1)
		if err := h.done(piece, string(got[:]) == string(want)); err != nil {
			return written, err
		}
	}
	return written, nil
}
