package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/limit"
)

// clientFrom is an HTTP client whose connections leave from the loopback address src.
func clientFrom(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}
}

// TestDirectoryRateLimits: past an address's burst, API and tracker requests get 429 with
// Retry-After and a problem body, other addresses are served, and the origin's bytes
// have no request rate.
func TestDirectoryRateLimits(t *testing.T) {
	tn := startTestDirectory(t, func(c *DirectoryConfig) {
		c.Limits.Requests = limit.Rate{PerSecond: 0.01, Burst: 3}
		c.Limits.Tracker = limit.Rate{PerSecond: 0.01, Burst: 2}
	})
	noisy, quiet := clientFrom("127.0.0.21"), clientFrom("127.0.0.22")
	get := func(c *http.Client, path string) *http.Response {
		t.Helper()
		resp, err := c.Get(tn.base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		return resp
	}
	for i := range 3 {
		if r := get(noisy, "/api/v1/artifacts"); r.StatusCode != http.StatusOK {
			t.Fatalf("API request %d within the burst: %s", i+1, r.Status)
		}
	}
	for _, path := range []string{"/api/v1/artifacts", "/r/x/y/1", "/m/x/y/1.meta4", "/healthz"} {
		r := get(noisy, path)
		body, _ := io.ReadAll(r.Body)
		if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" ||
			r.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), `"status":429`) {
			t.Fatalf("%s past the burst: %s, Retry-After %q, %s: %s", path, r.Status, r.Header.Get("Retry-After"),
				r.Header.Get("Content-Type"), body)
		}
	}
	if r := get(quiet, "/api/v1/artifacts"); r.StatusCode != http.StatusOK {
		t.Fatalf("another address: %s", r.Status)
	}

	// The tracker has its own buckets: the noisy address still announces, twice.
	announce := "/announce?info_hash=" + url.QueryEscape(strings.Repeat("\x01", 20)) + "&peer_id=" +
		url.QueryEscape(strings.Repeat("p", 20)) + "&port=6881&uploaded=0&downloaded=0&left=1"
	for i := range 2 {
		if r := get(noisy, announce); r.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("announce %d within the tracker's burst: %s", i+1, r.Status)
		}
	}
	if r := get(noisy, announce); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("announce past the tracker's burst: %s", r.Status)
	}
	// The origin's bytes are not rationed by request rate (a 404 here, not a 429).
	if r := get(noisy, "/ws/"+strings.Repeat("ab", 20)+"/f"); r.StatusCode == http.StatusTooManyRequests {
		t.Fatalf("/ws/ answered %s", r.Status)
	}
}

// TestDirectoryConnectionLimits: one address cannot hold more than its share of
// connections, /healthz answers another address meanwhile, and idle keep-alive
// connections are closed.
func TestDirectoryConnectionLimits(t *testing.T) {
	tn := startTestDirectory(t, func(c *DirectoryConfig) {
		c.Limits.MaxConnsPerAddr = 4
		c.Limits.IdleTimeout = time.Second
	})
	host := strings.TrimPrefix(tn.base, "http://")
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	dial := func(src string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		return c
	}
	for range 4 {
		dial("127.0.0.31")
	}
	c := dial("127.0.0.31")
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 429") {
		t.Fatalf("fifth connection from one address: %q, %v; want a 429 and close", line, err)
	}
	resp, err := clientFrom("127.0.0.32").Get(tn.base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz from another address: %v %v", resp, err)
	}
	resp.Body.Close()

	// An idle keep-alive connection is closed by the server after idle_timeout.
	idle := dial("127.0.0.33")
	idle.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("keep-alive request: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle keep-alive connection: read %v, want EOF (closed by the server)", err)
	}
}

// TestDirectoryUDPRateLimit: past an address's tracker burst, UDP packets get no answer
// (answering a maybe forged source would be traffic for an attacker to aim), while
// another address is answered.
func TestDirectoryUDPRateLimit(t *testing.T) {
	tn := startTestDirectory(t, func(c *DirectoryConfig) { c.Limits.Tracker = limit.Rate{PerSecond: 0.01, Burst: 2} })
	u, err := url.Parse(tn.udpTracker)
	if err != nil {
		t.Fatal(err)
	}
	server, err := net.ResolveUDPAddr("udp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	connect := []byte{0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 1, 2, 3, 4} // BEP 15 connect
	answered := func(src string) bool {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, server)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(connect); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second)) // an answer on loopback takes microseconds
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		return err == nil && n == 16
	}
	for i := range 2 {
		if !answered("127.0.0.41") {
			t.Fatalf("connect %d within the burst was not answered", i+1)
		}
	}
	if answered("127.0.0.41") {
		t.Fatal("a connect past the burst was answered")
	}
	if !answered("127.0.0.42") {
		t.Fatal("another address was not answered")
	}
}

// TestPublishUnderTheRequestRate: a publisher's declarations count against its
// address's bucket and `odi publish` waits out a 429 as told, while an upload's own
// requests (bytes, commit) are never refused halfway by the rate.
func TestPublishUnderTheRequestRate(t *testing.T) {
	// A declaration every 4 s: the next publish's comes sooner, however slow the machine.
	tn := startTestDirectory(t, func(c *DirectoryConfig) { c.Limits.Requests = limit.Rate{PerSecond: 0.25, Burst: 1} })
	var refusals []int
	tn.publisher.Waiting = func(e *apiclient.Error) { refusals = append(refusals, e.Status) }
	for _, v := range []string{"1", "2", "3"} {
		publishSmall(t, tn, v, 1000)
	}
	if !slices.Contains(refusals, http.StatusTooManyRequests) {
		t.Fatalf("three publishes in a row were never told to wait: refusals waited out %v", refusals)
	}
	for _, s := range refusals {
		if s != http.StatusTooManyRequests {
			t.Fatalf("refusals waited out: %v", refusals)
		}
	}
}
