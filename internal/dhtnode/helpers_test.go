package dhtnode

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// testConfig is DefaultConfig on host (a loopback address), port picked by the system.
func testConfig(host string) Config {
	cfg := DefaultConfig()
	cfg.Listen = net.JoinHostPort(host, "0")
	return cfg
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// mustRun starts n and stops it at the test's end, failing if Run fails.
func mustRun(tb testing.TB, n *Node) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
}

// mustNode makes a node of cfg and deps and runs it for the test.
func mustNode(tb testing.TB, cfg Config, deps Deps) *Node {
	tb.Helper()
	n, err := New(cfg, deps, quietLog())
	if err != nil {
		tb.Fatal(err)
	}
	mustRun(tb, n)
	return n
}

// waitFor polls cond until it holds; a condition, not a timing, decides the test.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatalf("timed out waiting for %s", what)
}

// rawClient is a UDP socket on host that speaks KRPC by hand, as a forger would.
type rawClient struct {
	tb   testing.TB
	conn *net.UDPConn
	id   krpc.ID
}

func newRawClient(tb testing.TB, host string) *rawClient {
	tb.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(host), 0)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	var id krpc.ID
	rand.Read(id[:])
	return &rawClient{tb: tb, conn: c, id: id}
}

// encode is a query message as bytes.
func encodeQuery(q, t string, a *krpc.MsgArgs) []byte {
	return bencode.MustMarshal(krpc.Msg{Y: "q", Q: q, T: t, A: a})
}

// send writes raw bytes to n.
func (c *rawClient) send(to netip.AddrPort, b []byte) {
	c.tb.Helper()
	if _, err := c.conn.WriteToUDPAddrPort(b, to); err != nil {
		c.tb.Fatal(err)
	}
}

// read returns the next datagram as bytes and decoded.
func (c *rawClient) read() ([]byte, krpc.Msg) {
	c.tb.Helper()
	buf := make([]byte, 65536)
	c.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, _, err := c.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		c.tb.Fatalf("read reply: %v", err)
	}
	var m krpc.Msg
	if err := bencode.Unmarshal(buf[:n], &m); err != nil {
		c.tb.Fatalf("reply %q: %v", buf[:n], err)
	}
	return buf[:n], m
}

// query sends a query with our id and returns the reply to it (bytes and decoded); replies
// to other transactions are skipped.
func (c *rawClient) query(to netip.AddrPort, q, t string, a krpc.MsgArgs) ([]byte, krpc.Msg) {
	c.tb.Helper()
	a.ID = c.id
	c.send(to, encodeQuery(q, t, &a))
	for {
		b, m := c.read()
		if m.T == t {
			return b, m
		}
	}
}

func randomHash() metainfo.Hash {
	var h metainfo.Hash
	rand.Read(h[:])
	return h
}
