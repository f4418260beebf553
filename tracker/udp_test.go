package tracker

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/anacrolix/torrent/tracker/udp"
)

// serveUDP runs tr's BEP 15 socket on loopback until the test ends and returns a client
// socket connected to it.
func serveUDP(t *testing.T, tr *Tracker) *net.UDPConn {
	t.Helper()
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.ServeUDP(ctx, srv, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeUDP: %v", err)
		}
	})
	cl, err := net.DialUDP("udp4", nil, srv.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// udpExchange sends req and returns the answer that carries txid. Any other answer fails
// the test: every earlier request's answer has been read by then.
func udpExchange(t *testing.T, cl *net.UDPConn, req []byte, txid uint32) []byte {
	t.Helper()
	if _, err := cl.Write(req); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	cl.SetReadDeadline(time.Now().Add(10 * time.Second)) // a guard against a hang, not a measure
	n, err := cl.Read(buf)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if n < 8 || binary.BigEndian.Uint32(buf[4:8]) != txid {
		t.Fatalf("answer %x is not for transaction %d", buf[:n], txid)
	}
	return buf[:n]
}

// udpRequest is a BEP 15 request with the given header and body.
func udpRequest(connID uint64, action udp.Action, txid uint32, body []byte) []byte {
	b := binary.BigEndian.AppendUint64(nil, connID)
	b = binary.BigEndian.AppendUint32(b, uint32(action))
	b = binary.BigEndian.AppendUint32(b, txid)
	return append(b, body...)
}

// TestUDPNoAmplification sends every kind of bad request, with and without a valid
// connection id, over a real socket: no answer is longer than its request, so a forged
// source address gains nothing by aiming the tracker at a victim.
func TestUDPNoAmplification(t *testing.T) {
	cl := serveUDP(t, mustNewTracker(t, DefaultConfig(), testIH))
	connect := udpRequest(udp.ConnectRequestConnectionId, udp.ActionConnect, 1, nil)
	ans := udpExchange(t, cl, connect, 1)
	if len(ans) != 16 || len(ans) > len(connect) {
		t.Fatalf("connect answer of %d bytes to a %d-byte request", len(ans), len(connect))
	}
	valid := binary.BigEndian.Uint64(ans[8:])
	const forged = 42

	var unknownIH [20]byte
	unknownIH[0] = 0xee
	otherIH := udpAnnounceBody(0, 50, 6881, 10)
	copy(otherIH, unknownIH[:])
	tests := []struct {
		name   string
		connID uint64
		action udp.Action
		body   []byte
	}{
		{"connect with a wrong protocol id", forged, udp.ActionConnect, nil},
		{"announce, unknown connection id", forged, udp.ActionAnnounce, udpAnnounceBody(2, -1, 6881, 10)},
		{"announce header, unknown connection id", forged, udp.ActionAnnounce, nil},
		{"scrape, unknown connection id", forged, udp.ActionScrape, testIH[:]},
		{"unknown action, unknown connection id", forged, 9, nil},
		{"unknown action", valid, 1 << 30, nil},
		{"announce shorter than 98 bytes", valid, udp.ActionAnnounce, make([]byte, 4)},
		{"announce with a bad event", valid, udp.ActionAnnounce, udpAnnounceBody(9, -1, 6881, 10)},
		{"announce with port 0", valid, udp.ActionAnnounce, udpAnnounceBody(0, -1, 0, 10)},
		{"announce outside the catalog", valid, udp.ActionAnnounce, otherIH},
		{"scrape without infohashes", valid, udp.ActionScrape, nil},
		{"scrape of a partial infohash", valid, udp.ActionScrape, testIH[:19]},
		{"scrape of 75 infohashes", valid, udp.ActionScrape, make([]byte, 75*20)},
	}
	for i, tt := range tests {
		txid := uint32(100 + i)
		req := udpRequest(tt.connID, tt.action, txid, tt.body)
		ans := udpExchange(t, cl, req, txid)
		if len(ans) > len(req) {
			t.Errorf("%s: %d-byte answer %q to a %d-byte request", tt.name, len(ans), ans, len(req))
		}
		if udp.Action(binary.BigEndian.Uint32(ans)) != udp.ActionError || !utf8.Valid(ans[8:]) {
			t.Errorf("%s: answer %q is not an error with a text", tt.name, ans)
		}
	}

	// Shorter than a header: no transaction id to answer to, so no answer. The connect
	// sent after it is answered, and nothing before it.
	for _, n := range []int{0, 1, 15} {
		if _, err := cl.Write(make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		udpExchange(t, cl, udpRequest(udp.ConnectRequestConnectionId, udp.ActionConnect, 200, nil), 200)
	}

	// A connected client's announce answer may be longer than its request: its address
	// is proven.
	if ans := udpExchange(t, cl, udpRequest(valid, udp.ActionAnnounce, 300, udpAnnounceBody(2, -1, 6881, 10)), 300); udp.Action(binary.BigEndian.Uint32(ans)) != udp.ActionAnnounce {
		t.Fatalf("valid announce: %q", ans)
	}
}

func TestUDPErrorLength(t *testing.T) {
	req := UDPRequest{TransactionID: 7}
	tests := []struct {
		msg    string
		reqLen int
		want   string
	}{
		{"short", 98, "short"},
		{"exactly eight", 16, "exactly "},
		{strings.Repeat("x", 200), 98, strings.Repeat("x", 90)},
		{"héllo", 10, "h"},  // é is two bytes: cut before it, not through it
		{"héllo", 11, "hé"}, // room for all of it
		{"日本", 10, ""},      // no room for a whole three-byte character
		{"anything", 4, ""}, // shorter than a header never gets here; still no overflow
		{"", 16, ""},
	}
	for _, tt := range tests {
		got := udpError(nil, req, tt.reqLen, errors.New(tt.msg))
		if string(got[udpErrorHeader:]) != tt.want || binary.BigEndian.Uint32(got[4:]) != 7 {
			t.Errorf("udpError(%q, request of %d bytes) = %q, want message %q", tt.msg, tt.reqLen, got, tt.want)
		}
		if tt.reqLen >= udpHeaderLen && len(got) > tt.reqLen {
			t.Errorf("udpError(%q): %d bytes answer a %d-byte request", tt.msg, len(got), tt.reqLen)
		}
	}
}

// FuzzHandleUDP checks the amplification bound on any packet: no answer to a sender
// without a valid connection id, and no error answer at all, is longer than its packet.
// With connected set, the packet's first 8 bytes are replaced by a valid connection id.
func FuzzHandleUDP(f *testing.F) {
	tr := mustNewTracker(f, DefaultConfig(), testIH)
	from := addr("192.0.2.1:6881")
	f.Add(udpPacket(udp.ActionAnnounce, udpAnnounceBody(2, -1, 6881, 5)), true)
	f.Add(udpPacket(udp.ActionAnnounce, udpAnnounceBody(2, -1, 6881, 5)), false)
	f.Add(udpPacket(udp.ActionScrape, testIH[:]), true)
	f.Add(udpRequest(udp.ConnectRequestConnectionId, udp.ActionConnect, 1, nil), false)
	f.Add(udpRequest(0, 9, 1, nil), true)
	f.Fuzz(func(t *testing.T, b []byte, connected bool) {
		if connected && len(b) >= 8 {
			id := tr.connID(from.Addr(), tr.now().Unix()/int64(connIDWindow.Seconds()))
			b = append(binary.BigEndian.AppendUint64(make([]byte, 0, len(b)), id), b[8:]...)
		}
		out, _ := tr.handleUDP(b, from, nil, nil)
		if len(out) <= len(b) {
			return
		}
		if !connected || udp.Action(binary.BigEndian.Uint32(out)) == udp.ActionError {
			t.Fatalf("%d-byte answer %q to %d bytes %x (connected %v)", len(out), out, len(b), b, connected)
		}
	})
}
