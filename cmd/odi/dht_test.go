package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/int160"
	"github.com/anacrolix/torrent/metainfo"
	trclient "github.com/anacrolix/torrent/tracker"

	"github.com/opendist/odi/internal/catalogapi"
)

// dhtNet is a directory and two relays holding an artifact, each with its DHT node, and
// the artifact's torrent as a user saved it: with the nodes of the directory and the
// relays, and without web seeds, so that only peers found through the DHT or the
// tracker can bring its bytes.
type dhtNet struct {
	tn      *testNet
	a       *catalogapi.Artifact
	relays  []*testRelay
	torrent string // the saved .torrent
	mi      *metainfo.MetaInfo
}

func newDHTNet(t *testing.T) *dhtNet {
	t.Helper()
	n := &dhtNet{tn: startTestDirectory(t, relayDirectory)}
	n.a = publishSmall(t, n.tn, "1", 3<<20+7)
	for range 2 {
		r := startTestRelay(t, n.tn)
		waitServes(t, n.tn, 30*time.Second, r.id, n.a.InfoHash)
		n.relays = append(n.relays, r)
	}
	waitFor(t, 20*time.Second, "the torrent names the directory's and both relays' DHT nodes", func() bool {
		_, body := get(t, n.tn.base+"/t/"+n.a.ID+".torrent")
		mi, err := metainfo.Load(bytes.NewReader(body))
		if err != nil || len(mi.Nodes) != 3 {
			return false
		}
		n.mi = mi
		return true
	})
	// The relays announce their holdings to the DHT: the directory's node lists both.
	ih := infoHash(t, n.a.InfoHash)
	waitFor(t, 30*time.Second, "the directory's DHT node lists both relays as peers", func() bool {
		return len(dhtPeers(t, string(n.mi.Nodes[0]), ih)) >= 2
	})
	n.mi.UrlList = nil
	n.torrent = filepath.Join(t.TempDir(), "saved.torrent")
	f, err := os.Create(n.torrent)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.mi.Write(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return n
}

// dhtPeers asks the DHT node at addr for the peers of ih with a get_peers query of an
// anacrolix DHT client of its own (BEP 5): what any DHT client would be told.
func dhtPeers(t *testing.T, addr string, ih metainfo.Hash) []string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := dht.NewDefaultServerConfig()
	cfg.Conn, cfg.NoSecurity, cfg.Passive = pc, true, true
	cfg.StartingNodes = func() ([]dht.Addr, error) { return nil, nil }
	s, err := dht.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := s.GetPeers(ctx, dht.NewAddr(ua), int160.FromByteArray(ih), false, dht.QueryRateLimiting{})
	if res.Err != nil || res.Reply.R == nil {
		return nil
	}
	var out []string
	for _, p := range res.Reply.R.Values {
		out = append(out, p.String())
	}
	return out
}

// With the directory gone, odi fetch of a saved torrent finds the relays through the
// DHT nodes the torrent names, and takes every byte from them as peers.
func TestDHTWithoutDirectory(t *testing.T) {
	n := newDHTNet(t)
	n.tn.stop()
	out := t.TempDir()
	res, stderr, err := runFetch(context.Background(), n.tn, "--torrent", n.torrent, "-o", out, "--stall-timeout", "30s")
	if err != nil {
		t.Fatalf("fetch of the saved torrent with the directory gone: %v\n%s", err, stderr)
	}
	checkFetched(t, n.a, out, res)
	if !res.PiecesOnly || res.Fetched.Peers != n.a.Size {
		t.Errorf("fetched %+v (pieces only %t), want all %d bytes from peers, checked against the torrent's pieces", res.Fetched, res.PiecesOnly, n.a.Size)
	}
}

// deadTracker points the saved torrent at a tracker that refuses every connection, and
// keeps of its DHT nodes only keep (all with nil).
func (n *dhtNet) deadTracker(t *testing.T, keep []metainfo.Node) {
	t.Helper()
	dead := "http://" + freePort(t) + "/announce"
	n.mi.Announce, n.mi.AnnounceList = dead, metainfo.AnnounceList{{dead}}
	if keep != nil {
		n.mi.Nodes = keep
	}
	var b bytes.Buffer
	if err := n.mi.Write(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(n.torrent, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// With the directory up and its tracker unreachable (the torrent names a dead one),
// the same: the DHT finds the relays, and the directory's catalog verifies the files.
func TestDHTWithoutTracker(t *testing.T) {
	n := newDHTNet(t)
	n.deadTracker(t, nil)
	out := t.TempDir()
	res, stderr, err := runFetch(context.Background(), n.tn, "--torrent", n.torrent, "-o", out)
	if err != nil {
		t.Fatalf("fetch with the tracker unreachable: %v\n%s", err, stderr)
	}
	checkFetched(t, n.a, out, res)
	if res.PiecesOnly || res.Fetched.Peers != n.a.Size {
		t.Errorf("fetched %+v (pieces only %t), want all %d bytes from peers, checked against the catalog", res.Fetched, res.PiecesOnly, n.a.Size)
	}
}

// A stock client with DHT on and only a relay's node to start from, the torrent's
// tracker dead and no web seeds: aria2c finds the relays through the DHT.
func TestAria2cThroughDHT(t *testing.T) {
	aria2c, err := exec.LookPath("aria2c")
	if err != nil {
		t.Skip("aria2c is not installed (.ci/run installs it)")
	}
	n := newDHTNet(t)
	relayNode := string(n.mi.Nodes[len(n.mi.Nodes)-1]) // the directory's comes first
	n.deadTracker(t, []metainfo.Node{})
	dl := t.TempDir()
	logFile := filepath.Join(t.TempDir(), "aria2c.log")
	_, dhtPort, _ := net.SplitHostPort(freeUDPAddr(t))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, aria2c, "--interface=127.0.0.1", "--enable-dht=true", "--enable-dht6=false",
		"--dht-entry-point="+relayNode, "--dht-listen-port="+dhtPort, "--dht-file-path="+filepath.Join(t.TempDir(), "dht.dat"),
		"--bt-enable-lpd=false", "--enable-peer-exchange=false", "--seed-time=0", "--file-allocation=none",
		"--listen-port=20000-32000", "--bt-tracker-connect-timeout=2", "--console-log-level=warn", "--summary-interval=0",
		"--log="+logFile, "--log-level=info", "-d", dl, n.torrent).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("aria2c through the DHT: %v\n%s\naria2c's log:\n%s", err, out, log)
	}
	got, err := os.ReadFile(filepath.Join(dl, n.a.Root))
	if sum := sha256.Sum256(got); err != nil || hex.EncodeToString(sum[:]) != n.a.Files[0].SHA256 {
		t.Errorf("aria2c's download (%d bytes, %v) differs from the artifact", len(got), err)
	}
}

// freeUDPAddr is a loopback UDP address free a moment ago.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().String()
}

// The directory's DHT node, named first in every torrent, answers get_peers for a
// catalog artifact with the peers its tracker lists, so that DHT-only clients see the
// same swarm; for an infohash outside the catalog it knows none.
func TestDirectoryDHTNode(t *testing.T) {
	tn := startTestDirectory(t)
	a := publishSmall(t, tn, "1", 64<<10)
	_, body := get(t, tn.base+"/t/"+a.ID+".torrent")
	mi, err := metainfo.Load(bytes.NewReader(body))
	if err != nil || len(mi.Nodes) != 1 {
		t.Fatalf("the torrent names DHT nodes %q (%v), want the directory's", mi.Nodes, err)
	}
	ih := infoHash(t, a.InfoHash)
	newAnnouncer(t, tn.base+"/announce", ih).mustAnnounce(6001, 0, trclient.Started, 0)
	if got := dhtPeers(t, string(mi.Nodes[0]), ih); !slices.Contains(got, "127.0.0.1:6001") {
		t.Errorf("the directory's DHT node answers get_peers with %q, want the tracker's seeder 127.0.0.1:6001", got)
	}
	if got := dhtPeers(t, string(mi.Nodes[0]), metainfo.Hash{1}); len(got) != 0 {
		t.Errorf("peers %q for an infohash outside the catalog", got)
	}
}
