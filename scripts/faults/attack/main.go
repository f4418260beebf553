// Command attack holds the attacks of scripts/faults.sh that bash cannot make well. Each
// subcommand prints one line of figures (key=value) to stdout for the script to show, and
// exits 1 when the directory failed the case's bound, 2 on a usage or setup error.
//
//	attack watch   -pid PID -url URL -from IP [-max-rss 256MiB] [-max-health 1s]
//	    samples PID's VmRSS and open fds and GETs URL/healthz from IP every 100 ms until
//	    SIGTERM; fails when RSS went over -max-rss or a /healthz took longer than
//	    -max-health (or failed).
//	attack flood   -url DIR -from IP [-n 16] [-size 32MiB]
//	    n concurrent POST /api/v1/uploads of size bytes, signed by a key no one trusts.
//	attack sockets -url DIR -from IP [-n 10000] [-hold 10s]
//	    opens n TCP connections from IP, each sends one keep-alive request and then sits
//	    idle for -hold; counts those the directory answered, refused and closed.
//	attack sybil   -url DIR [-n 3000]
//	    n relay registrations of new keys, 10 from each of n/10 addresses 127.1.x.y.
//	attack announce -url DIR -ih HEX -n N [-from IP | -spread BASE]
//	    N announces of a leecher: one peer from one address, or (-spread 127.4.0) N peers
//	    from N addresses.
//	attack replay  -a DIRA -b DIRB -key ADMIN.key -artifact C/N/V
//	    signs an expunge for DIRA and sends it to DIRB; prints the status.
//	attack overflow -url DIR -key PUB.key -catalog C
//	    declares manifests whose sizes overflow int64 and prints each answer's status.
//	attack lie     -listen IP:0 -to HOSTPORT -honest-pid PID
//	    a reverse proxy in front of a relay that flips bytes of every answer body, except
//	    for connections that belong to process PID (the directory).
//
// Only loopback targets are accepted.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"aead.dev/minisign"

	"github.com/opendist/odi/internal/bytesize"
	"github.com/opendist/odi/internal/relayapi"
	"github.com/opendist/odi/internal/sign"
)

func main() {
	if len(os.Args) < 2 {
		usage("a subcommand is missing")
	}
	cmds := map[string]func([]string) error{
		"watch": watch, "flood": flood, "sockets": sockets, "sybil": sybil,
		"announce": announce, "replay": replay, "overflow": overflow, "lie": lie,
	}
	run, ok := cmds[os.Args[1]]
	if !ok {
		usage("unknown subcommand " + os.Args[1])
	}
	err := run(os.Args[2:])
	var f failed
	switch {
	case errors.As(err, &f):
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "attack:", err)
		os.Exit(2)
	}
}

func usage(msg string) {
	fmt.Fprintln(os.Stderr, "attack:", msg, "(see the package comment)")
	os.Exit(2)
}

// failed is a case that ran and failed its bound: the figures are already printed.
type failed struct{}

func (failed) Error() string { return "failed" }

func verdict(ok bool) error {
	if ok {
		return nil
	}
	return failed{}
}

// loopback refuses anything but a loopback URL or address.
func loopback(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address", hostport)
	}
	return nil
}

func loopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", raw, err)
	}
	return u, loopback(u.Host)
}

// client is an HTTP client whose connections come from the local address from.
func client(from string, timeout time.Duration) (*http.Client, error) {
	if err := loopback(from); err != nil {
		return nil, err
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: d.DialContext, MaxIdleConnsPerHost: 64,
	}}, nil
}

// --- watch ----------------------------------------------------------------------------

func watch(args []string) error {
	fs := flag.NewFlagSet("watch", flag.ExitOnError)
	pid := fs.Int("pid", 0, "process to sample")
	base := fs.String("url", "", "the directory's base URL")
	from := fs.String("from", "127.0.0.3", "local address of the /healthz checks")
	maxRSS := bytesize.Size(256 << 20)
	fs.Var(&maxRSS, "max-rss", "bound on VmRSS")
	maxHealth := fs.Duration("max-health", time.Second, "bound on a /healthz answer")
	fs.Parse(args)
	if _, err := loopbackURL(*base); err != nil {
		return err
	}
	c, err := client(*from, 5*time.Second)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	var rssMax, fdsMax, samples, healthFails int64
	var healthMax time.Duration
	var last [2]int64
	for tick := time.NewTicker(100 * time.Millisecond); ; {
		if rss, err := vmRSS(*pid); err == nil {
			rssMax, last[0] = max(rssMax, rss), rss
		}
		if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", *pid)); err == nil {
			fdsMax, last[1] = max(fdsMax, int64(len(fds))), int64(len(fds))
		}
		t0 := time.Now()
		resp, err := c.Get(*base + "/healthz")
		took := time.Since(t0)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		if err != nil && ctx.Err() == nil {
			healthFails++
			fmt.Fprintln(os.Stderr, "healthz:", err)
		}
		healthMax = max(healthMax, took)
		samples++
		select {
		case <-ctx.Done():
			tick.Stop()
			ok := rssMax <= int64(maxRSS) && healthMax <= *maxHealth && healthFails == 0
			fmt.Printf("rss_max_mib=%.1f rss_end_mib=%.1f fds_max=%d fds_end=%d healthz_max_ms=%d healthz_failed=%d samples=%d\n",
				float64(rssMax)/(1<<20), float64(last[0])/(1<<20), fdsMax, last[1], healthMax.Milliseconds(), healthFails, samples)
			return verdict(ok)
		case <-tick.C:
		}
	}
}

func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// --- flood ----------------------------------------------------------------------------

// zeros reads as many zero bytes as asked.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func flood(args []string) error {
	fs := flag.NewFlagSet("flood", flag.ExitOnError)
	base := fs.String("url", "", "the directory's base URL")
	from := fs.String("from", "127.0.0.2", "local address")
	n := fs.Int("n", 16, "concurrent requests")
	size := bytesize.Size(32 << 20)
	fs.Var(&size, "size", "body size")
	fs.Parse(args)
	if _, err := loopbackURL(*base); err != nil {
		return err
	}
	c, err := client(*from, 2*time.Minute)
	if err != nil {
		return err
	}
	_, key, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	signer := sign.NewSigner(key, nil)
	h := sha256.New()
	io.CopyN(h, zeros{}, int64(size))
	digest := [sha256.Size]byte(h.Sum(nil))

	statuses := make([]string, *n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range *n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, *base+"/api/v1/uploads", io.LimitReader(zeros{}, int64(size)))
			req.ContentLength = int64(size)
			req.Header.Set("Content-Type", "application/json")
			if err := signer.Sign(req, digest); err != nil {
				statuses[i] = "sign-error"
				return
			}
			resp, err := c.Do(req)
			if err != nil {
				statuses[i] = "conn-error"
				return
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			statuses[i] = strconv.Itoa(resp.StatusCode)
		})
	}
	wg.Wait()
	// Every request must be refused, with a 4xx, or cut off: none accepted.
	ok := true
	for _, s := range statuses {
		ok = ok && (s == "conn-error" || strings.HasPrefix(s, "4"))
	}
	fmt.Printf("requests=%d statuses=%s took_ms=%d\n", *n, tally(statuses), time.Since(t0).Milliseconds())
	return verdict(ok)
}

// tally counts equal strings: "401:16,conn-error:2".
func tally(xs []string) string {
	counts := map[string]int{}
	for _, x := range xs {
		counts[x]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%s:%d", k, counts[k]))
	}
	return strings.Join(out, ",")
}

// --- sockets --------------------------------------------------------------------------

func sockets(args []string) error {
	fs := flag.NewFlagSet("sockets", flag.ExitOnError)
	base := fs.String("url", "", "the directory's base URL")
	from := fs.String("from", "127.0.0.2", "local address")
	n := fs.Int("n", 10000, "connections")
	hold := fs.Duration("hold", 10*time.Second, "how long they stay idle")
	fs.Parse(args)
	u, err := loopbackURL(*base)
	if err != nil {
		return err
	}
	if err := loopback(*from); err != nil {
		return err
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(*from)}, Timeout: 5 * time.Second}
	var answered, refused, dialErrs, closed atomic.Int64
	conns := make([]net.Conn, *n)
	req := []byte("GET /healthz HTTP/1.1\r\nHost: " + u.Host + "\r\nConnection: keep-alive\r\n\r\n")
	jobs := make(chan int)
	var wg sync.WaitGroup
	t0 := time.Now()
	for range 256 {
		wg.Go(func() {
			buf := make([]byte, 4096)
			for i := range jobs {
				conn, err := d.Dial("tcp", u.Host)
				if err != nil {
					dialErrs.Add(1)
					continue
				}
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				k, err := conn.Write(req)
				if err == nil && k == len(req) {
					k, err = conn.Read(buf)
				}
				conn.SetDeadline(time.Time{})
				switch {
				case err != nil:
					closed.Add(1)
					conn.Close()
				case bytes.HasPrefix(buf[:k], []byte("HTTP/1.1 200")):
					answered.Add(1)
					conns[i] = conn
				default:
					refused.Add(1)
					conns[i] = conn // the directory decides when to close it
				}
			}
		})
	}
	for i := range *n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	opened := time.Since(t0)
	time.Sleep(*hold)
	// Those the directory closed while idle read EOF at once; the others time out.
	var still atomic.Int64
	for i := range conns {
		if conns[i] == nil {
			continue
		}
		wg.Go(func() {
			conns[i].SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			var b [1]byte
			if _, err := conns[i].Read(b[:]); errors.Is(err, os.ErrDeadlineExceeded) {
				still.Add(1)
			}
			conns[i].Close()
		})
		if i%256 == 255 {
			wg.Wait()
		}
	}
	wg.Wait()
	fmt.Printf("sockets=%d answered=%d refused=%d closed_at_once=%d dial_errors=%d open_after_hold=%d open_s=%.1f\n",
		*n, answered.Load(), refused.Load(), closed.Load(), dialErrs.Load(), still.Load(), opened.Seconds())
	return nil
}

// --- sybil ----------------------------------------------------------------------------

func sybil(args []string) error {
	fs := flag.NewFlagSet("sybil", flag.ExitOnError)
	base := fs.String("url", "", "the directory's base URL")
	n := fs.Int("n", 3000, "registrations")
	fs.Parse(args)
	if _, err := loopbackURL(*base); err != nil {
		return err
	}
	statuses := make([]string, *n)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range jobs {
				statuses[i] = registerOnce(*base, i)
			}
		})
	}
	t0 := time.Now()
	for i := range *n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	fmt.Printf("registrations=%d statuses=%s took_s=%.1f\n", *n, tally(statuses), time.Since(t0).Seconds())
	return nil
}

// registerOnce registers relay i, a new key, from 127.1.x.y (ten relays an address).
func registerOnce(base string, i int) string {
	a := i / 10
	from := fmt.Sprintf("127.1.%d.%d", a/250, a%250+1)
	c, err := client(from, 30*time.Second)
	if err != nil {
		return "client-error"
	}
	defer c.CloseIdleConnections()
	_, key, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return "key-error"
	}
	body, _ := json.Marshal(relayapi.Register{
		PublicURL:  fmt.Sprintf("http://127.3.%d.%d:%d", i/250%250, i%250+1, 1024+i),
		QuotaBytes: 1 << 40, FreeBytes: 1 << 40, Version: "sybil",
	})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/relays/register", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if err := sign.NewSigner(key, nil).SignBody(req, body); err != nil {
		return "sign-error"
	}
	resp, err := c.Do(req)
	if err != nil {
		return "conn-error"
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return strconv.Itoa(resp.StatusCode)
}

// --- announce -------------------------------------------------------------------------

func announce(args []string) error {
	fs := flag.NewFlagSet("announce", flag.ExitOnError)
	base := fs.String("url", "", "the directory's base URL")
	ih := fs.String("ih", "", "infohash, hex")
	n := fs.Int("n", 5000, "announces")
	from := fs.String("from", "", "one peer from this address")
	spread := fs.String("spread", "", "n peers, each from its own address BASE.1, BASE.2...")
	fs.Parse(args)
	if _, err := loopbackURL(*base); err != nil {
		return err
	}
	raw, err := hex.DecodeString(*ih)
	if err != nil || len(raw) != 20 {
		return fmt.Errorf("-ih %q: not 40 hex digits", *ih)
	}
	if (*from == "") == (*spread == "") {
		return errors.New("give -from or -spread")
	}
	statuses := make([]string, *n)
	jobs := make(chan int)
	var wg sync.WaitGroup
	var one *http.Client
	if *from != "" {
		if one, err = client(*from, 10*time.Second); err != nil {
			return err
		}
	}
	for range 8 {
		wg.Go(func() {
			for i := range jobs {
				c, peer, port := one, "-FA0001-inflate00000", 20000
				if c == nil {
					var err error
					if c, err = client(fmt.Sprintf("%s.%d", *spread, i%250+1), 10*time.Second); err != nil {
						statuses[i] = "client-error"
						continue
					}
					peer, port = fmt.Sprintf("-FA0001-real%08d", i), 20000+i
				}
				q := url.Values{"peer_id": {peer}, "port": {strconv.Itoa(port)}, "uploaded": {"0"},
					"downloaded": {"0"}, "left": {"1000"}, "compact": {"1"}}
				if i == 0 || c != one {
					q.Set("event", "started")
				}
				u := *base + "/announce?info_hash=" + url.QueryEscape(string(raw)) + "&" + q.Encode()
				resp, err := c.Get(u)
				if err != nil {
					statuses[i] = "conn-error"
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[i] = strconv.Itoa(resp.StatusCode)
				if c != one {
					c.CloseIdleConnections()
				}
			}
		})
	}
	for i := range *n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	fmt.Printf("announces=%d statuses=%s\n", *n, tally(statuses))
	return nil
}

// --- replay ---------------------------------------------------------------------------

func replay(args []string) error {
	fs := flag.NewFlagSet("replay", flag.ExitOnError)
	a := fs.String("a", "", "directory A, which the expunge is signed for")
	b := fs.String("b", "", "directory B, which it is sent to")
	keyFile := fs.String("key", "", "an admin key both directories trust")
	artifact := fs.String("artifact", "", "catalog/name/version")
	fs.Parse(args)
	ua, err := loopbackURL(*a)
	if err != nil {
		return err
	}
	ub, err := loopbackURL(*b)
	if err != nil {
		return err
	}
	key, err := sign.LoadPrivateKey(*keyFile)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]string{"artifact": *artifact, "reason": "replayed from another directory"})
	req, _ := http.NewRequest(http.MethodPost, ua.String()+"/api/v1/admin/expunge", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if err := sign.NewSigner(key, nil).SignBody(req, body); err != nil {
		return err
	}
	// The same request, byte for byte, to B.
	req.URL.Host, req.Host = ub.Host, ub.Host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	var problem struct{ Detail string }
	json.Unmarshal(msg, &problem)
	fmt.Printf("status=%d detail=%.140q\n", resp.StatusCode, problem.Detail)
	return verdict(resp.StatusCode == http.StatusUnauthorized)
}

// --- overflow -------------------------------------------------------------------------

func overflow(args []string) error {
	fs := flag.NewFlagSet("overflow", flag.ExitOnError)
	base := fs.String("url", "", "the directory's base URL")
	keyFile := fs.String("key", "", "a publisher key the directory trusts")
	catalog := fs.String("catalog", "", "a catalog the key publishes into")
	fs.Parse(args)
	if _, err := loopbackURL(*base); err != nil {
		return err
	}
	key, err := sign.LoadPrivateKey(*keyFile)
	if err != nil {
		return err
	}
	signer := sign.NewSigner(key, nil)
	cases := []struct {
		name       string
		files      int
		size, last int64
	}{
		{"16384x2^50", 16384, 1 << 50, 100},   // sums to 100 B modulo 2^64
		{"8193x2^50", 8192, 1 << 50, 1 << 50}, // wraps negative
		{"2xMaxInt64", 1, math.MaxInt64, math.MaxInt64},
		{"negative", 1, 10, -5},
	}
	ok := true
	var out []string
	for i, c := range cases {
		var b strings.Builder
		fmt.Fprintf(&b, `{"catalog":%q,"name":"overflow","version":"%d","root":"p","files":[`, *catalog, i)
		for j := range c.files {
			fmt.Fprintf(&b, `{"path":"f%05d","size":%d},`, j, c.size)
		}
		fmt.Fprintf(&b, `{"path":"z","size":%d}]}`, c.last)
		body := []byte(b.String())
		req, _ := http.NewRequest(http.MethodPost, *base+"/api/v1/uploads", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if err := signer.SignBody(req, body); err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out = append(out, c.name+"=conn-error")
			ok = false
			continue
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		out = append(out, fmt.Sprintf("%s=%d", c.name, resp.StatusCode))
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			ok = false
			fmt.Fprintf(os.Stderr, "%s: %d %s\n", c.name, resp.StatusCode, msg)
		}
	}
	fmt.Println(strings.Join(out, " "))
	return verdict(ok)
}

// --- lie ------------------------------------------------------------------------------

type honestKey struct{}

func lie(args []string) error {
	fs := flag.NewFlagSet("lie", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.9:0", "proxy address")
	to := fs.String("to", "", "the relay's host:port")
	honestPID := fs.Int("honest-pid", 0, "the process told the truth (the directory)")
	fs.Parse(args)
	if err := loopback(*listen); err != nil {
		return err
	}
	if err := loopback(*to); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	var lies, truths atomic.Int64
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", *to
			r.Out.Host = r.In.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			if honest, _ := resp.Request.Context().Value(honestKey{}).(bool); honest {
				truths.Add(1)
				return nil
			}
			lies.Add(1)
			resp.Body = &flipper{r: resp.Body}
			return nil
		},
	}
	srv := &http.Server{
		Handler:           rp,
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, honestKey{}, owns(*honestPID, c.RemoteAddr(), c.LocalAddr()))
		},
	}
	fmt.Printf("lying proxy listening on http://%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Printf("lies=%d truths=%d\n", lies.Load(), truths.Load())
	return nil
}

// flipper inverts one byte in every 16 KiB of a body: every piece it carries is bad.
type flipper struct {
	r   io.ReadCloser
	off int64
}

func (f *flipper) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	for i := range n {
		if (f.off+int64(i))%(16<<10) == 100 {
			p[i] ^= 0xff
		}
	}
	f.off += int64(n)
	return n, err
}

func (f *flipper) Close() error { return f.r.Close() }

// owns tells whether the client end of a loopback connection (remote, as the proxy sees
// it) is a socket of process pid: on loopback every process dials from 127.0.0.1, so
// the address alone cannot tell the directory from the other relays. The kernel's
// /proc/net/tcp names the socket's inode, and pid's /proc/PID/fd its sockets.
func owns(pid int, remote, local net.Addr) bool {
	inode := socketInode(remote.String(), local.String())
	if inode == "" || pid == 0 {
		return false
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	want := "socket:[" + inode + "]"
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name())); err == nil && l == want {
			return true
		}
	}
	return false
}

// socketInode finds the inode of the TCP socket whose local address is src and remote
// dst, in /proc/net/tcp (IPv4, addresses in host byte order).
func socketInode(src, dst string) string {
	hexAddr := func(s string) string {
		ap, err := netip.ParseAddrPort(s)
		if err != nil || !ap.Addr().Unmap().Is4() {
			return ""
		}
		b := ap.Addr().Unmap().As4()
		return fmt.Sprintf("%02X%02X%02X%02X:%04X", b[3], b[2], b[1], b[0], ap.Port())
	}
	s, d := hexAddr(src), hexAddr(dst)
	f, err := os.Open("/proc/net/tcp")
	if err != nil || s == "" || d == "" {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 9 && fields[1] == s && fields[2] == d {
			return fields[9]
		}
	}
	return ""
}
