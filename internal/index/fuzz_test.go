package index

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzParse: Parse never panics, and whatever it accepts is canonical: Marshal gives the
// same bytes back.
func FuzzParse(f *testing.F) {
	idx := testIndex()
	doc, err := Marshal(idx)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	idx.Entries = nil
	empty, _ := Marshal(idx)
	f.Add(empty)
	f.Add(append([]byte(" "), doc...))
	f.Add(bytes.Replace(doc, []byte(`"format"`), []byte(`"format":"x","format"`), 1))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"entries":null}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		idx, err := Parse(doc)
		fast, fastOK := parseFast(doc)
		slow, slowErr := parseSlow(doc)
		if fastOK && validate(fast) == nil && (slowErr != nil || !reflect.DeepEqual(fast, slow)) {
			t.Fatalf("the fast path accepts what encoding/json reads otherwise (%v):\n%+v\n%+v\ndoc: %s", slowErr, fast, slow, doc)
		}
		if err != nil {
			return
		}
		again, err := Marshal(idx)
		if err != nil {
			t.Fatalf("Marshal(Parse(doc)): %v\ndoc: %s", err, doc)
		}
		if !bytes.Equal(again, doc) {
			t.Fatalf("Marshal(Parse(doc)) differs:\n got %s\nwant %s", again, doc)
		}
	})
}

// TestParsePaths: canonical documents take the fast path, and both paths read them alike;
// a string with escapes is left to encoding/json.
func TestParsePaths(t *testing.T) {
	idx := testIndex()
	idx.NextKey = "RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3"
	withEscape := testIndex()
	withEscape.Entries[1].Reason = "a \"quoted\"\nreason\u2028é"
	for _, tt := range []struct {
		name string
		idx  *Index
		fast bool
	}{{"plain", idx, true}, {"escapes", withEscape, false}} {
		doc := mustMarshal(t, tt.idx)
		fast, ok := parseFast(doc)
		slow, err := parseSlow(doc)
		if err != nil {
			t.Fatalf("%s: parseSlow: %v", tt.name, err)
		}
		if ok != tt.fast {
			t.Errorf("%s: fast path taken: %v, want %v", tt.name, ok, tt.fast)
		}
		if ok && !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: the paths differ:\n%+v\n%+v", tt.name, fast, slow)
		}
	}
}
