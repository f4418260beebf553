package limit

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.5", "127.0.0.5"},
		{"::ffff:10.1.2.3", "10.1.2.3"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"},
		{"2001:db8:1:2::1", "2001:db8:1:2::"},
		{"fe80::1%eth0", "fe80::"},
		{"::1", "::"},
	} {
		if got := AddrKey(netip.MustParseAddr(tc.in)); got != netip.MustParseAddr(tc.want) {
			t.Errorf("AddrKey(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := AddrKey(netip.Addr{}); got.IsValid() {
		t.Errorf("AddrKey(zero) = %s, want zero", got)
	}
}

func TestRates(t *testing.T) {
	rs := NewRates(Rate{PerSecond: 2, Burst: 3}, 1024)
	now := time.Unix(1_000_000, 0)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i := range 3 {
		if ok, _ := rs.Allow(a, now); !ok {
			t.Fatalf("request %d within the burst refused", i+1)
		}
	}
	ok, wait := rs.Allow(a, now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("past the burst: ok=%v wait=%s, want refused for 500ms", ok, wait)
	}
	if ok, _ := rs.Allow(b, now); !ok {
		t.Fatal("another address was refused by a's bucket")
	}
	if ok, _ := rs.Allow(netip.MustParseAddr("::ffff:192.0.2.1"), now); ok {
		t.Fatal("a's IPv4-mapped form has a bucket of its own")
	}
	if ok, _ := rs.Allow(a, now.Add(500*time.Millisecond)); !ok {
		t.Fatal("refused after the Retry-After it was given")
	}
	if RetryAfterSeconds(wait) != 1 || RetryAfterSeconds(1500*time.Millisecond) != 2 {
		t.Fatal("Retry-After seconds are not rounded up")
	}
	if NewRates(Rate{}, 10) != nil {
		t.Fatal("a zero rate is not off")
	}
	var off *Rates
	if ok, _ := off.Allow(a, now); !ok {
		t.Fatal("nil Rates refused")
	}
}

// TestRatesBounded: more addresses than the bound share one bucket instead of growing the
// map, and full buckets are swept to make room.
func TestRatesBounded(t *testing.T) {
	rs := NewRates(Rate{PerSecond: 1, Burst: 1}, rateShards) // one bucket per shard
	now := time.Unix(1_000_000, 0)
	refused := 0
	for i := range 10_000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if ok, _ := rs.Allow(a, now); !ok {
			refused++
		}
	}
	n := 0
	for i := range rs.shards {
		n += len(rs.shards[i].buckets)
		if len(rs.shards[i].buckets) > rs.perShard {
			t.Fatalf("shard %d holds %d buckets, bound %d", i, len(rs.shards[i].buckets), rs.perShard)
		}
	}
	if n > rateShards || refused < 9_000 {
		t.Fatalf("%d buckets for 10,000 addresses, %d refused: want at most %d buckets and the rest sharing one", n, refused, rateShards)
	}
	// Two seconds on, every bucket has refilled: new addresses get buckets of their own.
	later := now.Add(2 * time.Second)
	for i := range 200 {
		a := netip.AddrFrom4([4]byte{172, 16, byte(i >> 8), byte(i)})
		rs.Allow(a, later)
	}
	fresh := 0
	for i := range rs.shards {
		for k := range rs.shards[i].buckets {
			if k.As4()[0] == 172 {
				fresh++
			}
		}
	}
	if fresh == 0 {
		t.Fatal("refilled buckets were not swept for new addresses")
	}
}

func TestHandler(t *testing.T) {
	rs := NewRates(Rate{PerSecond: 0.5, Burst: 1}, 1024)
	h := Handler(rs, func(r *http.Request) netip.Addr { return netip.MustParseAddr(r.Header.Get("X-Test-Addr")) },
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv, _ := serve(t, DefaultConfig(), h)
	get := func(addr string) *http.Response {
		req, _ := http.NewRequest("GET", "http://"+srv+"/", nil)
		req.Header.Set("X-Test-Addr", addr)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if r := get("192.0.2.1"); r.StatusCode != 200 {
		t.Fatalf("first request: %s", r.Status)
	}
	r := get("192.0.2.1")
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != 429 || r.Header.Get("Retry-After") != "2" || r.Header.Get("Content-Type") != "application/problem+json" ||
		!bytes.Contains(body, []byte(`"status":429`)) {
		t.Fatalf("second request: %s, Retry-After %q, %s %s", r.Status, r.Header.Get("Retry-After"), r.Header.Get("Content-Type"), body)
	}
	if r := get("192.0.2.9"); r.StatusCode != 200 {
		t.Fatalf("another address: %s", r.Status)
	}
}

// serve runs an http.Server on a limited listener on 127.0.0.1 until the test ends.
func serve(t *testing.T, cfg Config, h http.Handler, proxies ...netip.Prefix) (string, *Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: cfg.HeaderTimeout, IdleTimeout: cfg.IdleTimeout}
	lim := NewListener(ln, cfg, proxies)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(lim) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return ln.Addr().String(), lim
}

// dialFrom opens a connection to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// status sends a GET on c and returns the answer's status line.
func status(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSpace(line)
}

func TestListenerCaps(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxConns, cfg.MaxConnsPerAddr = 5, 2
	addr, ln := serve(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		netip.MustParsePrefix("127.0.0.9/32"))

	a1, a2 := dialFrom(t, "127.0.0.2", addr), dialFrom(t, "127.0.0.2", addr)
	for _, c := range []net.Conn{a1, a2} {
		if s := status(t, c); s != "HTTP/1.1 200 OK" {
			t.Fatalf("within the per-address cap: %q", s)
		}
	}
	if s := status(t, dialFrom(t, "127.0.0.2", addr)); s != "HTTP/1.1 429 Too Many Requests" {
		t.Fatalf("third connection from one address: %q, want 429", s)
	}
	// A trusted proxy's connections have no per-address cap.
	for _, src := range []string{"127.0.0.9", "127.0.0.9", "127.0.0.9"} {
		if s := status(t, dialFrom(t, src, addr)); s != "HTTP/1.1 200 OK" {
			t.Fatalf("connection from %s: %q", src, s)
		}
	}
	if s := status(t, dialFrom(t, "127.0.0.5", addr)); s != "HTTP/1.1 503 Service Unavailable" {
		t.Fatalf("sixth connection in all: %q, want 503", s)
	}
	if full, perAddr := ln.Refusals(); full != 1 || perAddr != 1 {
		t.Fatalf("refusals counted: %d full, %d per address; want 1 and 1", full, perAddr)
	}
	// A closed connection gives its place back.
	a1.Close()
	var s string
	for range 100 { // the server notices the close asynchronously
		if s = status(t, dialFrom(t, "127.0.0.2", addr)); s == "HTTP/1.1 200 OK" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s != "HTTP/1.1 200 OK" {
		t.Fatalf("after a close, a new connection from that address: %q", s)
	}
}

// TestListenerStall: a client that stops reading a long answer is cut off at the stall
// deadline, and its connection's place is given back.
func TestListenerStall(t *testing.T) {
	cfg := DefaultConfig()
	cfg.StallTimeout, cfg.MaxConnsPerAddr = 300*time.Millisecond, 1
	writeErr := make(chan error, 1)
	addr, _ := serve(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		block := make([]byte, 1<<20)
		for {
			if _, err := w.Write(block); err != nil {
				writeErr <- err
				return
			}
		}
	}))
	c := dialFrom(t, "127.0.0.2", addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	select {
	case <-writeErr:
	case <-time.After(30 * time.Second):
		t.Fatal("the handler's write to a client that reads nothing never failed")
	}
	var s string
	for range 100 {
		c2 := dialFrom(t, "127.0.0.2", addr)
		c2.SetDeadline(time.Now().Add(2 * time.Second))
		io.WriteString(c2, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		s, _ = bufio.NewReader(c2).ReadString('\n')
		c2.Close()
		if strings.HasPrefix(s, "HTTP/1.1 200") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.HasPrefix(s, "HTTP/1.1 200") {
		t.Fatalf("the stalled connection's place was not given back: %q", s)
	}
}

// TestListenerServeContent: files still reach the client whole through ReadFrom's chunks,
// whole and in ranges, across several chunks.
func TestListenerServeContent(t *testing.T) {
	data := make([]byte, 3*readFromChunk+12345)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	addr, _ := serve(t, DefaultConfig(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(path)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		http.ServeContent(w, r, "f", time.Time{}, f)
	}))
	for _, rg := range []struct {
		header     string
		start, end int
	}{{"", 0, len(data)}, {"bytes=100-2200000", 100, 2200001}, {"bytes=-5", len(data) - 5, len(data)}} {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		if rg.header != "" {
			req.Header.Set("Range", rg.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, data[rg.start:rg.end]) {
			t.Fatalf("Range %q: %d bytes (%v), want %d matching", rg.header, len(got), err, rg.end-rg.start)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Config{MaxConns: 0, MaxConnsPerAddr: 5, IdleTimeout: time.Millisecond}
	err := bad.Validate()
	for _, want := range []string{"max_conns:", "max_conns_per_addr:", "header_timeout:", "idle_timeout:", "stall_timeout:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(%+v) = %v, want it to name %s", bad, err, want)
		}
	}
	for _, tc := range []struct {
		r  Rate
		ok bool
	}{{Rate{}, true}, {Rate{PerSecond: 1, Burst: 1}, true}, {Rate{PerSecond: -1}, false}, {Rate{PerSecond: 1}, false}} {
		if err := tc.r.Validate("x"); (err == nil) != tc.ok {
			t.Errorf("Rate%+v.Validate() = %v", tc.r, err)
		}
	}
}

// TestListenerQuietClientKeepsContext: a client that sends nothing while its answer is
// prepared (a held redirect, a long download) is not a stalled one: net/http's background
// read must not time out and cancel the request's context.
func TestListenerQuietClientKeepsContext(t *testing.T) {
	cfg := DefaultConfig()
	cfg.StallTimeout = 200 * time.Millisecond
	addr, _ := serve(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			http.Error(w, "context cancelled", http.StatusServiceUnavailable)
		case <-time.After(4 * cfg.StallTimeout):
			io.WriteString(w, "ok")
		}
	}))
	if s := status(t, dialFrom(t, "127.0.0.2", addr)); s != "HTTP/1.1 200 OK" {
		t.Fatalf("a quiet client's request: %q, want 200 (its context was cancelled)", s)
	}
}

// TestStallBodies: a body that stops arriving fails the handler's read at the stall
// deadline; a whole body reads as it is.
func TestStallBodies(t *testing.T) {
	cfg := DefaultConfig()
	cfg.StallTimeout = 200 * time.Millisecond
	readErr := make(chan error, 2)
	addr, _ := serve(t, cfg, StallBodies(cfg.StallTimeout, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		readErr <- err
		if err == nil {
			w.Write(b)
		}
	})))
	c := dialFrom(t, "127.0.0.2", addr)
	io.WriteString(c, "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789") // and no more
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("a body that stopped after 10 of 100 bytes read without error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the read of a stalled body never failed")
	}
	resp, err := http.Post("http://"+addr+"/", "text/plain", strings.NewReader("whole"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "whole" || <-readErr != nil {
		t.Fatalf("a whole body: %q", got)
	}
}

// BenchmarkRatesAllow is what the rate check adds to a request (an announce or a
// redirect): many addresses, in parallel, as a busy directory sees them.
func BenchmarkRatesAllow(b *testing.B) {
	rs := NewRates(Rate{PerSecond: 50, Burst: 200}, 1<<16)
	addrs := make([]netip.Addr, 10_000)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			rs.Allow(addrs[i%len(addrs)], time.Now())
			i++
		}
	})
}
