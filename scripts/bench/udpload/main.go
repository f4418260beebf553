// Command udpload is the BEP 15 load generator of scripts/bench/tracker.sh: -workers
// goroutines announce in a loop with one request outstanding each, until -duration has
// passed. The load comes from -sources loopback addresses (127.2.0.1 onwards), a socket
// each, shared out among the workers, so a tracker's per-address limits see many users
// rather than one; each socket connects once (again every minute, as BEP 15 connection
// ids expire, or after an error answer). Announces cycle through -peers
// distinct peers (peer id and port vary), each always in the same swarm of the
// -infohashes file, so swarms fill up as they would with real re-announcing clients.
//
// It prints one line to stdout, for scripts to parse:
//
//	udp announces_per_sec=N announces=N requests=N connects=N errors=N timeouts=N p50_ms=F p90_ms=F p99_ms=F max_ms=F elapsed_s=F
//
// announces counts answered announces; errors counts error answers and malformed
// packets; timeouts counts requests left unanswered after -timeout. Latencies are those
// of answered announces. It exits 1 when no announce was answered.
//
// Only loopback targets are accepted: this is a benchmark, not a load test of a network.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// BEP 15.
const (
	protocolID     = 0x41727101980
	actionConnect  = 0
	actionAnnounce = 1
	actionError    = 3
	announceLen    = 98
	// connIDLife is how long a connection id is reused: BEP 15 lets a client use one
	// for a minute.
	connIDLife = 60 * time.Second
)

type config struct {
	target   *net.UDPAddr
	sources  int
	duration time.Duration
	timeout  time.Duration
	workers  int
	peers    int
	numWant  int
	ihs      [][20]byte
}

// result is one worker's tally.
type result struct {
	announces, requests, connects, errors, timeouts int
	latencies                                       []uint32 // microseconds
	firstErr                                        string
}

func main() {
	target := flag.String("target", "", "tracker address, 127.0.0.1:PORT or [::1]:PORT")
	duration := flag.Duration("duration", 20*time.Second, "how long to send announces")
	timeout := flag.Duration("timeout", 2*time.Second, "how long to wait for an answer")
	workers := flag.Int("workers", 50, "concurrent requests, one outstanding per worker")
	sources := flag.Int("sources", 50, "loopback source addresses (a socket each), at least -workers")
	ihFile := flag.String("infohashes", "", "file of hex infohashes, one a line")
	peers := flag.Int("peers", 100_000, "distinct peers (peer id and port) to cycle through")
	numWant := flag.Int("numwant", 50, "num_want of each announce")
	flag.Parse()

	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "udpload: "+format+"\n", args...)
		os.Exit(2)
	}
	switch {
	case *target == "":
		fail("-target is required")
	case *ihFile == "":
		fail("-infohashes is required")
	case *workers < 1 || *peers < 1 || *duration <= 0 || *timeout <= 0:
		fail("-workers, -peers, -duration and -timeout must be positive")
	case *sources < *workers || *sources > 250*250*250:
		fail("-sources must be between -workers (%d) and %d", *workers, 250*250*250)
	}
	ap, err := netip.ParseAddrPort(*target)
	if err != nil {
		fail("-target %q: %v (want a literal IP:PORT)", *target, err)
	}
	if !ap.Addr().Unmap().IsLoopback() {
		fail("-target %s is not a loopback address; udpload only loads local trackers", ap)
	}
	ihs, err := readInfohashes(*ihFile)
	if err != nil {
		fail("%v", err)
	}
	cfg := config{
		target: net.UDPAddrFromAddrPort(ap), sources: *sources, duration: *duration, timeout: *timeout,
		workers: *workers, peers: *peers, numWant: *numWant, ihs: ihs,
	}

	results := make([]result, cfg.workers)
	start := time.Now()
	end := start.Add(cfg.duration)
	var wg sync.WaitGroup
	for w := range cfg.workers {
		wg.Go(func() { results[w] = work(&cfg, w, end) })
	}
	wg.Wait()
	elapsed := time.Since(start)

	var total result
	for _, r := range results {
		total.announces += r.announces
		total.requests += r.requests
		total.connects += r.connects
		total.errors += r.errors
		total.timeouts += r.timeouts
		total.latencies = append(total.latencies, r.latencies...)
		if total.firstErr == "" {
			total.firstErr = r.firstErr
		}
	}
	slices.Sort(total.latencies)
	pct := func(p float64) float64 {
		if len(total.latencies) == 0 {
			return 0
		}
		i := int(p / 100 * float64(len(total.latencies)-1))
		return float64(total.latencies[i]) / 1000
	}
	fmt.Printf("udp announces_per_sec=%.0f announces=%d requests=%d connects=%d errors=%d timeouts=%d"+
		" p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f elapsed_s=%.3f\n",
		float64(total.announces)/elapsed.Seconds(), total.announces, total.requests, total.connects,
		total.errors, total.timeouts, pct(50), pct(90), pct(99), pct(100), elapsed.Seconds())
	if total.firstErr != "" {
		fmt.Fprintf(os.Stderr, "udpload: first error: %s\n", total.firstErr)
	}
	if total.announces == 0 {
		os.Exit(1)
	}
}

func readInfohashes(path string) ([][20]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][20]byte
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil || len(b) != 20 {
			return nil, fmt.Errorf("%s:%d: %q is not a 40-digit hex infohash", path, n, line)
		}
		out = append(out, [20]byte(b))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no infohashes", path)
	}
	return out, nil
}

// errTimeout is a request left unanswered.
var errTimeout = errors.New("timeout")

// worker is one request stream's state, over its share of the sockets.
type worker struct {
	cfg     *config
	conn    *net.UDPConn // the socket of the request in flight
	rng     *rand.Rand
	in, out []byte
	res     *result
}

// source is one socket, bound to its own loopback address, and its connection id.
type source struct {
	conn   *net.UDPConn
	connID uint64
	connAt time.Time
}

// sourceAddr is the g-th source address: 127.2.0.1 onwards, no octet 0 or 255.
func sourceAddr(g int) *net.UDPAddr {
	return &net.UDPAddr{IP: net.IPv4(127, byte(2+g/62500), byte(1+g/250%250), byte(1+g%250))}
}

// roundTrip sends w.out and waits for the answer to transaction tid, skipping late
// answers to earlier requests. It returns the answer's action and body.
func (w *worker) roundTrip(tid uint32) (uint32, []byte, error) {
	if _, err := w.conn.Write(w.out); err != nil {
		return 0, nil, err
	}
	deadline := time.Now().Add(w.cfg.timeout)
	w.conn.SetReadDeadline(deadline)
	for {
		n, err := w.conn.Read(w.in)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return 0, nil, errTimeout
			}
			return 0, nil, err
		}
		if n < 8 {
			return 0, nil, fmt.Errorf("%d-byte answer", n)
		}
		if binary.BigEndian.Uint32(w.in[4:8]) != tid {
			continue // the late answer to a request that timed out
		}
		return binary.BigEndian.Uint32(w.in[0:4]), w.in[8:n], nil
	}
}

// fail counts a failed request.
func (w *worker) fail(err error) {
	if errors.Is(err, errTimeout) {
		w.res.timeouts++
		return
	}
	w.res.errors++
	if w.res.firstErr == "" {
		w.res.firstErr = err.Error()
	}
}

// connect obtains a connection id, retrying until end.
func (w *worker) connect(end time.Time) (uint64, bool) {
	for time.Now().Before(end) {
		tid := w.rng.Uint32()
		w.out = binary.BigEndian.AppendUint64(w.out[:0], protocolID)
		w.out = binary.BigEndian.AppendUint32(w.out, actionConnect)
		w.out = binary.BigEndian.AppendUint32(w.out, tid)
		w.res.connects++
		action, body, err := w.roundTrip(tid)
		switch {
		case err != nil:
		case action == actionError:
			err = fmt.Errorf("connect refused: %s", body)
		case action != actionConnect || len(body) < 8:
			err = fmt.Errorf("bad connect answer: action %d, %d bytes", action, len(body))
		default:
			return binary.BigEndian.Uint64(body[:8]), true
		}
		w.fail(err)
	}
	return 0, false
}

func work(cfg *config, index int, end time.Time) result {
	var res result
	// Worker index takes sources index, index+workers, ...
	var srcs []*source
	for g := index; g < cfg.sources; g += cfg.workers {
		conn, err := net.DialUDP("udp", sourceAddr(g), cfg.target)
		if err != nil {
			res.errors++
			res.firstErr = err.Error()
			break
		}
		defer conn.Close()
		srcs = append(srcs, &source{conn: conn})
	}
	if len(srcs) == 0 {
		return res
	}
	w := &worker{
		cfg: cfg, rng: rand.New(rand.NewPCG(uint64(index), uint64(time.Now().UnixNano()))),
		in: make([]byte, 2048), out: make([]byte, 0, announceLen), res: &res,
	}
	res.latencies = make([]uint32, 0, 1<<16)

	for k := 0; ; k++ {
		now := time.Now()
		if !now.Before(end) {
			return res
		}
		// Peer p always announces in the same swarm, from its own port and address.
		p := (index + k*cfg.workers) % cfg.peers
		src := srcs[p/cfg.workers%len(srcs)]
		w.conn = src.conn
		if src.connAt.IsZero() || now.Sub(src.connAt) >= connIDLife {
			var ok bool
			if src.connID, ok = w.connect(end); !ok {
				return res
			}
			src.connAt = time.Now()
		}
		connID := src.connID
		ih := &cfg.ihs[p%len(cfg.ihs)]
		port := uint16(1024 + (p/len(cfg.ihs))%64000)
		var left uint64 = 1 << 30 // most peers are leechers; one in ten seeds
		if p%10 == 0 {
			left = 0
		}
		tid := w.rng.Uint32()
		b := w.out[:0]
		b = binary.BigEndian.AppendUint64(b, connID)
		b = binary.BigEndian.AppendUint32(b, actionAnnounce)
		b = binary.BigEndian.AppendUint32(b, tid)
		b = append(b, ih[:]...)
		b = fmt.Appendf(b, "-UL0001-%012d", p)     // peer id: 20 bytes
		b = binary.BigEndian.AppendUint64(b, 0)    // downloaded
		b = binary.BigEndian.AppendUint64(b, left) // left
		b = binary.BigEndian.AppendUint64(b, 0)    // uploaded
		b = binary.BigEndian.AppendUint32(b, 0)    // event: none
		b = binary.BigEndian.AppendUint32(b, 0)    // ip: the sender's
		b = binary.BigEndian.AppendUint32(b, uint32(p))
		b = binary.BigEndian.AppendUint32(b, uint32(int32(cfg.numWant)))
		b = binary.BigEndian.AppendUint16(b, port)
		w.out = b

		res.requests++
		t0 := time.Now()
		action, body, err := w.roundTrip(tid)
		switch {
		case err != nil:
		case action == actionError:
			err = fmt.Errorf("announce refused: %s", body)
			src.connAt = time.Time{} // maybe an expired connection id: connect again
		case action != actionAnnounce || len(body) < 12:
			err = fmt.Errorf("bad announce answer: action %d, %d bytes", action, len(body))
		default:
			res.announces++
			res.latencies = append(res.latencies, uint32(min(time.Since(t0).Microseconds(), 1<<32-1)))
			continue
		}
		w.fail(err)
	}
}
