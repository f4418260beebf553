package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/pieces"
	"github.com/opendist/odi/internal/warmfill"
)

// viaTorrent downloads the missing pieces with an anacrolix client writing into the
// partial state, until done or ctx ends. HTTP comes first: warm fill (internal/warmfill)
// takes the pieces from the torrent's web seeds in order, and the client downloads from
// peers only the pieces warm fill could not get (busy, failed, or wrong bytes), or
// everything when there is no web seed. Pieces from relays over ranged HTTP cost both
// machines a fraction of the CPU of the peer protocol's 16 KiB blocks, and with the
// client fetching every piece as well the download was slower and its time less steady
// (scripts/bench/fetch.sh). The client seeds what it has throughout.
// A rationing origin's 503 is no failure: its pieces are in the swarm, and warm fill
// asks again on its next pass. When no source has brought a useful byte for
// StallTimeout, the client takes every piece and odi also takes the redirector's HTTP
// source (a relay, or the origin's plain download); it gives up when that made no
// difference for another StallTimeout.
func (f *fetcher) viaTorrent(ctx context.Context) error {
	ln, err := net.Listen("tcp", f.opts.BTListen)
	if err != nil {
		return fmt.Errorf("bt-listen: %w", err)
	}
	defer ln.Close()
	// The DHT node outlives the client, which may use it while it closes.
	node, err := f.startDHT(ctx)
	if err != nil {
		return err
	}
	defer node.stop()
	tc := torrent.NewDefaultClientConfig()
	tc.DataDir = f.part
	recs := newStorageRecords(f.pc)
	// Files keep their final names while incomplete (warm fill needs that), so the HTTP
	// path writes where anacrolix does and either can resume the other.
	tc.DefaultStorage = warmfill.NewStorage(storage.NewFileClientOpts{
		ClientBaseDir:   f.part,
		TorrentDirMaker: func(base string, _ *metainfo.Info, _ metainfo.Hash) string { return base },
		PieceCompletion: recs,
		Logger:          f.tlog,
	})
	// Upload while downloading, to any peer that asks: anacrolix's other rule (a peer
	// gets pieces only while it has pieces we want, and no more than it gave) keeps a
	// piece from the origin away from the crowd's empty clients, where a flash crowd
	// needs it most. odi stops seeding when the download is complete.
	tc.Seed = true
	// The socket is ours (bound to BTListen): no other TCP, uTP or DHT sockets, and
	// never UPnP, which would send packets off the machine.
	tc.DisableTCP, tc.DisableUTP, tc.NoDHT = true, true, true
	tc.NoDefaultPortForwarding = true
	tc.Slogger = f.tlog
	dialer := f.opts.Bind.Torrent(tc)
	cl, err := torrent.NewClient(tc)
	if err != nil {
		return fmt.Errorf("bittorrent client: %w", err)
	}
	defer cl.Close()
	cl.AddListener(ln)
	cl.AddDialer(dialer)
	node.attach(cl)
	spec, err := torrent.TorrentSpecFromMetaInfoErr(f.mi)
	if err != nil {
		return fmt.Errorf("torrent of %s: %w", f.m.ID(), err)
	}
	t, _, err := cl.AddTorrentSpec(spec)
	if err != nil {
		return fmt.Errorf("torrent of %s: %w", f.m.ID(), err)
	}
	var warmUsed, httpUsed atomic.Int64
	before := f.completeBytes()
	defer func() {
		st := t.Stats()
		got := bySource(f.completeBytes()-before, warmUsed.Load(), httpUsed.Load(),
			st.PeerConns.BytesReadUsefulData.Int64(), st.WebSeeds.BytesReadUsefulData.Int64())
		f.fetched.Peers += got.Peers
		f.fetched.WebSeeds += got.WebSeeds
		f.fetched.HTTP += got.HTTP
	}()
	// What completed is recorded before it is counted above, and before a resume.
	committed := make(chan struct{})
	commitCtx, stopCommitting := context.WithCancel(ctx)
	go func() {
		defer close(committed)
		f.keepCommitting(commitCtx, recs)
	}()
	defer func() {
		stopCommitting()
		<-committed
		if err := recs.commit(f.syncFiles); err != nil {
			f.rep.Note("could not record the pieces that arrived last (a resume fetches them again): %v", err)
		}
	}()
	<-t.GotInfo()
	seeds := &seedList{isDir: t.Info().IsDir()}
	seeds.add(f.mi.UrlList)
	if len(seeds.list()) == 0 {
		t.DownloadAll()
	}
	fillCtx, stopFilling := context.WithCancel(ctx)
	filled := make(chan struct{})
	go func() {
		defer close(filled)
		f.keepFilling(fillCtx, t, seeds, &warmUsed)
	}()
	var fallback chan struct{} // closed when the HTTP fallback's fill returns
	var asking atomic.Bool     // the fallback waits for the redirector's answer
	defer func() {
		stopFilling()
		<-filled
		if fallback != nil {
			<-fallback
		}
		f.reportBadPieces(ctx)
	}()
	hctx, stopHashing := context.WithCancel(ctx)
	var sums []string
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		sums = f.streamHash(hctx, t)
	}()
	// No read of the files may outlive the client, closed by a deferred call above.
	defer func() {
		stopHashing()
		<-hashed
	}()

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	last, since := int64(-1), time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.Complete().On():
			f.rep.Set(t.Length(), "")
			// What is left to hash is on disk and in the page cache: a moment's work.
			<-hashed
			f.streamed = sums
			return nil
		case <-tick.C:
		}
		nseeds, peers := len(seeds.list()), len(t.PeerConns())
		desc := fmt.Sprintf("HTTP from %d web seed%s, BitTorrent with %d peer%s", nseeds, plural(nseeds), peers, plural(peers))
		if fallback != nil {
			desc += ", and HTTP"
		}
		f.rep.Set(t.BytesCompleted(), desc)
		// Progress is any useful byte, not a completed piece: in a crowd on a new artifact
		// a piece can take a while to come together from many peers.
		st := t.Stats()
		if n := st.BytesReadUsefulData.Int64() + warmUsed.Load() + httpUsed.Load(); n > last {
			last, since = n, time.Now()
			continue
		}
		if asking.Load() {
			// The redirector holds the question until a relay has the artifact: the
			// fallback's time starts with its answer.
			since = time.Now()
			continue
		}
		if time.Since(since) < f.opts.StallTimeout {
			continue
		}
		if f.opts.TorrentOnly || fallback != nil {
			return fmt.Errorf("bittorrent: %w for %s", ErrStalled, f.opts.StallTimeout)
		}
		t.DownloadAll()
		fallback, since = make(chan struct{}), time.Now()
		asking.Store(true)
		go func() {
			defer close(fallback)
			base, err := f.redirectedBase(fillCtx)
			asking.Store(false)
			if err != nil {
				f.rep.Note("no progress for %s, and no HTTP source: %v", f.opts.StallTimeout, err)
				return
			}
			f.rep.Note("no progress for %s; taking HTTP from %s as well", f.opts.StallTimeout, base)
			warmfill.Fill(fillCtx, t, f.fillOptions(t, []string{base}, &httpUsed, nil))
		}()
	}
}

// commitEvery is how often the pieces completed are recorded: at most this much of a
// download is fetched again after a crash.
const commitEvery = time.Second

// keepCommitting records the completed pieces every commitEvery until ctx ends. A failed
// commit is tried again at the next.
func (f *fetcher) keepCommitting(ctx context.Context, recs *storageRecords) {
	tick := time.NewTicker(commitEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_ = recs.commit(f.syncFiles)
		}
	}
}

// bySource shares the bytes of the pieces a BitTorrent run completed, gained, among
// their sources. Warm fill counts the pieces it completes from web seeds (warm) and
// from the redirector's source (fromHTTP) exactly; the rest came through the
// BitTorrent client, whose own counts of useful bytes (clientPeers, clientSeeds) also
// take in chunks of pieces that warm fill completed first or that failed their hash,
// so they only say how to share the rest between peers and web seeds. The sources add
// up to gained: no more than arrived.
func bySource(gained, warm, fromHTTP, clientPeers, clientSeeds int64) FetchedBytes {
	gained = max(0, gained)
	fromHTTP = min(max(0, fromHTTP), gained)
	warm = min(max(0, warm), gained-fromHTTP)
	rest := gained - fromHTTP - warm
	var viaSeeds int64
	if clientPeers+clientSeeds > 0 {
		viaSeeds = int64(float64(rest) * float64(clientSeeds) / float64(clientPeers+clientSeeds))
	}
	return FetchedBytes{Peers: rest - viaSeeds, WebSeeds: warm + viaSeeds, HTTP: fromHTTP}
}

// refillPause is how long warm fill rests between passes over the missing pieces: a
// rationing origin's Retry-After is often about as short (relays first, RelayQuiet), and
// a new relay takes about that long to be listed once it holds the artifact.
const refillPause = 3 * time.Second

// fetchBusyLimit is how many busy answers in a row end a warm fill pass's use of a web
// seed (warmfill.Options.BusyLimit).
const fetchBusyLimit = 8

// keepFilling fills t from its web seeds, pass after pass, until t is complete or ctx
// ends, adding before each pass the web seeds the directory lists by then (relays that
// took the artifact meanwhile). They are warm fill's alone: one of 50 clients in a crowd
// panicked in an assertion of anacrolix v1.61.0's web-seed scheduler
// (webseed-requesting.go; which one was lost with the log), and web seeds added to a
// running download were the one new way into it odi had taken.
func (f *fetcher) keepFilling(ctx context.Context, t *torrent.Torrent, seeds *seedList, used *atomic.Int64) {
	warmfill.Fill(ctx, t, f.fillOptions(t, seeds.list(), used, func(ctx context.Context) []string {
		var a catalogapi.Artifact
		if f.api == nil {
			return nil // a torrent fetched without its directory (FetchTorrent)
		}
		if err := f.api.Call(ctx, http.MethodGet, "/api/v1/artifacts/"+f.m.ID(), nil, &a); err != nil {
			return nil
		}
		return seeds.add(a.WebSeeds)
	}))
}

// fillOptions are warm fill's options for seeds, counting the bytes of the pieces it
// completes in used; the pieces it cannot get go to t's client.
func (f *fetcher) fillOptions(t *torrent.Torrent, seeds []string, used *atomic.Int64, more func(context.Context) []string) warmfill.Options {
	return warmfill.Options{
		Seeds: seeds, HTTP: f.warmHTTP, Slots: make(chan struct{}, fetchWarmWorkers),
		Used: used, Log: f.tlog, Name: f.m.ID(),
		Again: refillPause, MoreSeeds: more, BusyLimit: fetchBusyLimit,
		BadPiece: f.bad.add,
		Missed:   func(i int) { t.Piece(i).SetPriority(torrent.PiecePriorityNormal) },
		// In order, for streamHash, unless the directory's rationing origin is all there
		// is: a crowd's fills then start at different pieces (see warmfill.Options).
		InOrder: slices.ContainsFunc(seeds, func(u string) bool { return f.api == nil || !strings.HasPrefix(u, f.api.Base+"/ws/") }),
		// verify checks every file against the catalog's sha256, or every piece again
		// for a torrent without one, before anything is put in place.
		MarkWritten: true,
	}
}

// seedList is the web seeds warm fill may use: the torrent's url-list and those the
// directory lists later, each once, in the order they came.
type seedList struct {
	isDir bool
	mu    sync.Mutex
	urls  []string
}

// add adds the usable ones of urls not there yet, and returns those.
func (s *seedList) add(urls []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var added []string
	for _, u := range warmfill.WebSeeds(urls, "", s.isDir) {
		if !slices.Contains(s.urls, u) {
			s.urls = append(s.urls, u)
			added = append(added, u)
		}
	}
	return added
}

func (s *seedList) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.urls)
}

// redirectedBase asks the redirector where a plain HTTP user gets the artifact's first
// file, and returns that copy's BEP 19 base URL (the location less the file's path): a
// relay's /ws/, or the origin's unrationed /dl/ when no relay holds it.
func (f *fetcher) redirectedBase(ctx context.Context) (string, error) {
	src := f.httpSources()[0]
	u := src.url(0)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return "", err
	}
	// In a crowd the redirector holds the question until a relay has the artifact (up to
	// the origin's relay_first, minutes), longer than the usual header timeout.
	tr := f.http.Transport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 0
	noFollow := &http.Client{
		Transport:     tr,
		Timeout:       maxRedirectHold,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer tr.CloseIdleConnections()
	resp, err := noFollow.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode/100 != 3 || err != nil {
		return "", &statusError{url: u, status: resp.StatusCode}
	}
	suffix := "/" + names.EscapePath(f.m.LocalPath(0))
	base, ok := strings.CutSuffix(loc.String(), suffix)
	if !ok {
		return "", fmt.Errorf("HEAD %s: redirected to %s, which does not end in %s", u, loc, suffix)
	}
	return base + "/", nil
}

// streamHash hashes the files in order as their pieces complete, reading what the client
// wrote, and returns each file's hex sha256, or nil when ctx ends or a read fails first.
// Warm fill takes the pieces in order, so the hashes are ready about when the last piece
// arrives, where a pass over the whole download after it cost about a second per GiB;
// syncing each stretch once hashed leaves the final fsync little to write. The files
// are read, not the torrent: a torrent reader makes the client fetch the pieces ahead of
// it from peers, which warm fill is fetching already.
func (f *fetcher) streamHash(ctx context.Context, t *torrent.Torrent) []string {
	changes := t.SubscribePieceStateChanges()
	defer changes.Close()
	// A piece warm fill marks (warmfill.Options.MarkWritten) completes without a state
	// change the subscription hears of: look again now and then as well.
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	s := newStreamSums(f.localPath, f.layout, f.m.Files)
	defer s.close()
	for p := range f.layout.NumPieces() {
		for !t.Piece(p).State().Complete {
			select {
			case <-changes.Values:
			case <-poll.C:
			case <-ctx.Done():
				return nil
			}
		}
		if err := s.piece(p); err != nil {
			f.tlog.Warn("sha256 while downloading: left to the check after", "err", err)
			return nil
		}
	}
	sums, err := s.finish()
	if err != nil {
		f.tlog.Warn("sha256 while downloading: left to the check after", "err", err)
	}
	return sums
}

// streamSums hashes a download's files from their pieces, given in order, and syncs
// each file every streamSyncEvery bytes and at its end.
type streamSums struct {
	path   func(file int) string
	layout pieces.Layout
	files  []manifest.File
	sums   []string
	file   int // the file being hashed: the earlier ones are done
	h      hash.Hash
	fh     *os.File
	done   int64 // bytes of the file hashed
	synced int64
	buf    []byte
}

func newStreamSums(path func(int) string, layout pieces.Layout, files []manifest.File) *streamSums {
	return &streamSums{path: path, layout: layout, files: files, sums: make([]string, len(files)), h: sha256.New(), buf: make([]byte, 1<<20)}
}

// piece hashes the bytes of piece p, the one after the last given.
func (s *streamSums) piece(p int) error {
	off, n := s.layout.Piece(p)
	for _, sp := range s.layout.Spans(off, off+n) {
		if err := s.finishUpTo(sp.File); err != nil {
			return err
		}
		if s.fh == nil {
			fh, err := os.Open(s.path(sp.File))
			if err != nil {
				return err
			}
			s.fh = fh
		}
		got, err := io.CopyBuffer(s.h, io.NewSectionReader(s.fh, sp.Off, sp.N), s.buf)
		if err == nil && got < sp.N {
			err = fmt.Errorf("%s: %d bytes at %d, want %d", s.path(sp.File), got, sp.Off, sp.N)
		}
		if err != nil {
			return err
		}
		s.done += sp.N
		if s.done-s.synced >= streamSyncEvery {
			if err := s.fh.Sync(); err != nil {
				return err
			}
			s.synced = s.done
		}
	}
	return nil
}

// finishUpTo completes the files before file i: each is whole once the pieces after it
// begin (empty files have no pieces at all).
func (s *streamSums) finishUpTo(i int) error {
	for s.file < i {
		if s.done != s.files[s.file].Size {
			return fmt.Errorf("%s: hashed %d bytes of %d", s.path(s.file), s.done, s.files[s.file].Size)
		}
		if s.fh != nil {
			err := s.fh.Sync()
			s.fh.Close()
			s.fh = nil
			if err != nil {
				return err
			}
		}
		s.sums[s.file] = hex.EncodeToString(s.h.Sum(nil))
		s.h.Reset()
		s.file, s.done, s.synced = s.file+1, 0, 0
	}
	return nil
}

// finish completes the files left and returns every file's sha256.
func (s *streamSums) finish() ([]string, error) {
	if err := s.finishUpTo(len(s.files)); err != nil {
		return nil, err
	}
	return s.sums, nil
}

func (s *streamSums) close() {
	if s.fh != nil {
		s.fh.Close()
	}
}

const (
	// fetchWarmWorkers is how many pieces odi fetch takes over HTTP from web seeds at once
	// besides what the BitTorrent client fetches.
	fetchWarmWorkers = 4
	// streamSyncEvery is how much hashed data streamHash leaves unsynced at most.
	streamSyncEvery = 64 << 20
)
