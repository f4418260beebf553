package tracker

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

var (
	testIH   = [20]byte{0x12, 0x34, '+', '%', 0x00, 0xff, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n'}
	testPeer = [20]byte{'-', 'q', 'B', '4', '5', '2', '0', '-', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
)

// escaped is how clients send binary: every byte percent-encoded.
func escaped(b [20]byte) string {
	var s strings.Builder
	for _, c := range b {
		s.WriteString("%")
		s.WriteString(strings.ToUpper(string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15])))
	}
	return s.String()
}

func TestParseAnnounceQuery(t *testing.T) {
	base := "info_hash=" + escaped(testIH) + "&peer_id=" + url.QueryEscape(string(testPeer[:])) + "&port=6881"
	a, err := ParseAnnounceQuery(base + "&uploaded=10&downloaded=20&left=30&event=started&numwant=80&compact=1&no_peer_id=1&key=x&ip=10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if a.InfoHash != testIH || a.PeerID != testPeer || a.Port != 6881 || a.Uploaded != 10 || a.Downloaded != 20 ||
		a.Left != 30 || a.Event != EventStarted || a.NumWant != 80 || !a.Compact || !a.NoPeerID || a.IP.String() != "10.0.0.1" {
		t.Fatalf("parsed %+v", a)
	}
	// "+" is a space, as in form encoding (Go's url.Values, PHP, opentracker); clients
	// send a 0x2B byte as %2B.
	spaced := testIH
	spaced[3] = ' '
	raw := strings.Replace(escaped(spaced), "%20", "+", 1)
	if a, err := ParseAnnounceQuery("info_hash=" + raw + "&peer_id=" + escaped(testPeer) + "&port=1"); err != nil || a.InfoHash != spaced {
		t.Fatalf("+ as a space: %v %x", err, a.InfoHash)
	}
	if a, _ := ParseAnnounceQuery(base); a.Left != -1 || a.NumWant != -1 || !a.Compact || a.Event != EventNone {
		t.Fatalf("defaults: %+v", a)
	}
	if a, _ := ParseAnnounceQuery(base + "&compact=0&event=completed&left=0"); a.Compact || a.Event != EventCompleted || !a.Seeder() {
		t.Fatalf("compact=0: %+v", a)
	}

	bad := []struct{ name, q string }{
		{"no info_hash", "peer_id=" + escaped(testPeer) + "&port=1"},
		{"no peer_id", "info_hash=" + escaped(testIH) + "&port=1"},
		{"no port", "info_hash=" + escaped(testIH) + "&peer_id=" + escaped(testPeer)},
		{"short info_hash", "info_hash=abc&peer_id=" + escaped(testPeer) + "&port=1"},
		{"long info_hash", "info_hash=" + escaped(testIH) + "x&peer_id=" + escaped(testPeer) + "&port=1"},
		{"long peer_id", base + "&peer_id=" + escaped(testPeer) + "%00"},
		{"bad escape", "info_hash=%zz" + escaped(testIH)[3:] + "&peer_id=" + escaped(testPeer) + "&port=1"},
		{"truncated escape", base + "&info_hash=" + escaped(testIH)[:58] + "%4"},
		{"port 0", base + "&port=0"},
		{"port too big", base + "&port=65536"},
		{"port not a number", base + "&port=http"},
		{"negative uploaded", base + "&uploaded=-1"},
		{"huge downloaded", base + "&downloaded=99999999999999999999"},
		{"negative left", base + "&left=-5"},
		{"unknown event", base + "&event=exploded"},
		{"negative numwant", base + "&numwant=-3"},
		{"over 8 KiB", base + "&pad=" + strings.Repeat("x", MaxQueryLen)},
	}
	for _, tt := range bad {
		if _, err := ParseAnnounceQuery(tt.q); !errors.Is(err, ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", tt.name, err)
		}
	}
}

func TestParseScrapeQuery(t *testing.T) {
	q := "info_hash=" + escaped(testIH) + "&info_hash=" + escaped(testPeer)
	ihs, err := ParseScrapeQuery(q, 2)
	if err != nil || len(ihs) != 2 || ihs[0] != testIH || ihs[1] != testPeer {
		t.Fatalf("scrape: %v %x", err, ihs)
	}
	if _, err := ParseScrapeQuery(q, 1); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("over the cap: %v", err)
	}
	if _, err := ParseScrapeQuery("info_hash=short", 5); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("short: %v", err)
	}
	if ihs, err := ParseScrapeQuery("", 5); err != nil || len(ihs) != 0 {
		t.Fatalf("empty: %v %v", ihs, err)
	}
	// Go's url.Values (anacrolix's scrape) and HTML forms write a 0x20 byte as '+'.
	spaced := [20]byte{0x83, ' ', '+', 0x20}
	formQ := url.Values{"info_hash": {string(spaced[:])}}.Encode()
	if ihs, err := ParseScrapeQuery(formQ, 1); err != nil || len(ihs) != 1 || ihs[0] != spaced {
		t.Fatalf("form-encoded %q: %v %x", formQ, err, ihs)
	}
}

func FuzzParseAnnounceQuery(f *testing.F) {
	f.Add("info_hash=" + escaped(testIH) + "&peer_id=" + escaped(testPeer) + "&port=6881&left=0&event=completed")
	f.Add("info_hash=%&peer_id=&port=")
	f.Add("&&==&info_hash=+++")
	f.Fuzz(func(t *testing.T, q string) {
		a, err := ParseAnnounceQuery(q)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v is not ErrBadRequest", err)
			}
			return
		}
		if a.Port == 0 || a.Uploaded < 0 || a.Downloaded < 0 || a.Left < -1 || a.NumWant < -1 {
			t.Fatalf("accepted out-of-range values: %+v", a)
		}
		_, _ = ParseScrapeQuery(q, 10)
	})
}
