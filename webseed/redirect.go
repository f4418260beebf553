package webseed

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/names"
	"github.com/opendist/odi/internal/problem"
)

// Resolver finds the artifact a /r/ or /m/ URL names. It is asked on every request, so it
// answers from memory, never from a database.
type Resolver interface {
	// Resolve returns the artifact catalog/name/version, where version may be names.Latest.
	// Errors wrap ErrNotFound, or ErrGone with the reason the artifact was expunged.
	Resolve(catalog, name, version string) (*Target, error)
}

// Target is an artifact and where its bytes are. Handlers only read it, so a Resolver may
// hand the same Target to concurrent requests.
type Target struct {
	// Manifest names the artifact; its Files are sorted by path, as a valid manifest's are,
	// and carry their hex sha256.
	manifest.Manifest
	InfoHash metainfo.Hash
	// PieceLength and Pieces (the concatenated SHA-1 of each piece) are the v1 info dict's.
	PieceLength int64
	Pieces      []byte
	// TorrentURL is where the .torrent is, or "".
	TorrentURL string
	// Mirrors are the healthy relays holding the artifact, in no particular order.
	Mirrors []Mirror
	// Origin is the BEP 19 base URL of the directory's copy, ending in "/"
	// (<directory>/ws/<infohash>/): the last of the duplicates and metalink URLs.
	Origin string
	// OriginDownload is where plain HTTP users go when no mirror can take them: the same
	// copy as Origin, under a base URL the origin never rations (Handler.Ration); ""
	// sends them to Origin.
	OriginDownload string
	// Redirects, when not nil, counts the GET redirects answered from the Target: demand
	// for the artifact, which whoever made the Target hands on. Copies of a Target may
	// share one counter.
	Redirects *atomic.Int64

	prep  *prepared // set by Prepare, shared by copies of the Target
	plain *plainAnswers
}

// prepared is what every redirect to a Target's files sends, computed once.
type prepared struct {
	suffix             []string   // per file: what follows a base URL (fileSuffix)
	digest, reprDigest [][]string // per file: header values, nil for a malformed sum
	describedBy        string     // the Link to the torrent, "" without one
}

// plainAnswers are the whole answers for a single file to the users the Locator does not
// place (all of them, without a Locator): one per copy they may be sent to, so that such
// a redirect only draws one.
type plainAnswers struct {
	rk ranker
	// byCopy holds the answer sending users to each mirror, then the origin's.
	byCopy []answer
}

// answer is where a redirect sends a user, as the header values it writes. net/http only
// reads header values, so answers may be shared by concurrent requests.
type answer struct {
	location           []string // nil: no copy can take the user
	links              []string
	digest, reprDigest []string // nil for a malformed sum
}

// Prepare computes once what redirects to t's files send (escaped paths, digest headers,
// the link to the torrent, and for a single file the whole answer for each of its copies),
// so that a Resolver handing out t spares each redirect that work. Call it before sharing
// t, and again on a copy given other Mirrors: the copy keeps what does not depend on them.
// A Target not prepared is prepared on each request.
func (t *Target) Prepare() {
	if t.prep == nil {
		t.prep = t.prepare()
	}
	t.plain = nil
	if t.SingleFile() {
		t.plain = t.plainAnswers()
	}
}

func (t *Target) prepared() *prepared {
	if t.prep != nil {
		return t.prep
	}
	return t.prepare()
}

func (t *Target) prepare() *prepared {
	p := &prepared{
		suffix:     make([]string, len(t.Files)),
		digest:     make([][]string, len(t.Files)),
		reprDigest: make([][]string, len(t.Files)),
	}
	for i, f := range t.Files {
		p.suffix[i] = fileSuffix(t.Root, f.Path)
		if digest, reprDigest := digestValues(f.SHA256); digest != "" {
			p.digest[i], p.reprDigest[i] = []string{digest}, []string{reprDigest}
		}
	}
	if t.TorrentURL != "" {
		p.describedBy = "<" + t.TorrentURL + `>; rel=describedby; type="application/x-bittorrent"`
	}
	return p
}

func (t *Target) plainAnswers() *plainAnswers {
	p := &plainAnswers{rk: newRanker(t.Mirrors, "", ""), byCopy: make([]answer, len(t.Mirrors)+1)}
	for chosen := range t.Mirrors {
		p.byCopy[chosen] = t.answer(&p.rk, 0, chosen)
	}
	p.byCopy[len(t.Mirrors)] = t.answer(&p.rk, 0, -1)
	return p
}

// Mirror is one relay holding a Target.
type Mirror struct {
	// Base is the relay's BEP 19 base URL, ending in "/" (<relay>/ws/<infohash>/): a file's
	// URL is Base, the escaped torrent name, and for packages "/" and the file's escaped path.
	Base string
	// Country is the relay's ISO 3166-1 alpha-2 code ("DE"), and Continent its continent
	// code as GeoIP has them (AF AN AS EU NA OC SA); either may be "".
	Country, Continent string
	// CapacityBytes is the relay's upload rate in bytes/s, 0 when unknown.
	CapacityBytes float64
	// Load is the fraction of CapacityBytes in use, 0 to 1; a relay at 1 gets no users.
	Load float64
	// Redirects, when not nil, counts the GETs sent to this mirror (for metrics).
	Redirects *atomic.Int64
}

// Locator places a client, so that users go to relays near them.
type Locator interface {
	// Locate returns addr's ISO 3166-1 alpha-2 country and continent code, "" when unknown.
	Locate(addr netip.Addr) (country, continent string)
}

// RedirectorOptions are the Redirector's optional parts; the zero value is usable.
type RedirectorOptions struct {
	// Locator places clients; nil prefers no mirror for its place.
	Locator Locator
	// Rand draws the mirror; nil uses the runtime's generator. It is called under a lock,
	// so a seeded rand.PCG gives tests a fixed sequence.
	Rand rand.Source
	// ClientAddr says who asks, for the Locator; nil takes the connection's address. Behind
	// a reverse proxy, give one that believes the proxy's X-Forwarded-For.
	ClientAddr func(*http.Request) netip.Addr
	// Hold, when set, says whether a user the redirector would send to the origin should
	// wait for a relay instead: relays are filling the artifact in a crowd, and the
	// crowd's plain HTTP users are to take it from them, not a copy each from the origin.
	// The redirector then holds the request, looking again every holdPoll, until a relay
	// holds the artifact, Hold says no more, or MaxHold has passed; then it answers.
	Hold    func(ih metainfo.Hash) bool
	MaxHold time.Duration
	// Blobs finds files by their sha256 for the Blob handler; nil: every hash is unknown.
	Blobs BlobResolver
	// Prefix is the path the redirector is mounted under ("/r"), which it cuts off itself:
	// http.StripPrefix copies every request, a cost on this hot path. "" when mounted
	// with the prefix stripped already.
	Prefix string
}

// Redirector sends plain HTTP users to a copy of an artifact's file: a relay, chosen at
// random weighted by spare capacity among the nearest that have any, else the origin.
// Mount it under RedirectorOptions.Prefix, or with its prefix stripped
// (http.StripPrefix("/r", rd)); its Metalink handler, with its prefix stripped, serves
// the same artifacts as RFC 5854 documents.
type Redirector struct {
	res     Resolver
	opts    RedirectorOptions
	log     *slog.Logger
	mu      sync.Mutex // guards opts.Rand
	holding atomic.Int64
}

// holdPoll is how often a held redirect looks for a relay again: the Resolver's relay
// lists are that fresh (a second at most in the directory's).
const holdPoll = 250 * time.Millisecond

// maxHolding bounds the redirects held at once; past it users go to the origin at once.
const maxHolding = 4096

// NewRedirector returns a Redirector to the artifacts res finds.
func NewRedirector(res Resolver, opts RedirectorOptions, log *slog.Logger) *Redirector {
	return &Redirector{res: res, opts: opts, log: log}
}

// maxDuplicates bounds the Link header: aria2, the common Metalink/HTTP client, opens 5
// connections by default (--split), and a few more leave it room to fall back.
const maxDuplicates = 8

// ServeHTTP answers GET and HEAD on /<catalog>/<name>/<version>[/<path>], where a single
// file's path is "" or its name, with a 302 to a copy of the file, its other copies as
// RFC 6249 duplicates, and its sha256 as RFC 3230 Digest and RFC 9530 Repr-Digest.
func (rd *Redirector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !getOrHead(w, r) {
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, rd.opts.Prefix)
	ref, err := parseRef(path)
	if !ok {
		err = errRefShape
	}
	if err != nil {
		refError(w, err, "redirect URLs are /r/<catalog>/<name>/<version or latest>[/<path or file name>]")
		return
	}
	t, ok := rd.resolve(w, ref)
	if !ok {
		return
	}
	// A prepared single file answers without reading its file list.
	i, ok := 0, t.plain != nil && ref.path == ""
	if !ok {
		i, ok = t.file(ref.path)
	}
	if !ok {
		switch {
		case t.SingleFile():
			problem.Write(w, http.StatusNotFound, fmt.Sprintf("%s is the single file %q, not %q: end the URL with %q or drop the file name",
				t.ID(), t.Root, ref.path, names.EscapePath(t.Root)))
		case ref.path == "":
			problem.Write(w, http.StatusNotFound, fmt.Sprintf("%s is a package of %d files; add the path of one to the URL", t.ID(), len(t.Files)))
		default:
			problem.Write(w, http.StatusNotFound, fmt.Sprintf("%s has no file %q", t.ID(), ref.path))
		}
		return
	}
	held := len(t.Mirrors) == 0 && rd.opts.Hold != nil && rd.opts.Hold(t.InfoHash)
	if held {
		if t, ok = rd.hold(w, r, ref, t); !ok {
			return
		}
	}
	var ans answer
	var chosen int // a mirror's index, or -1 or len(t.Mirrors) for the origin
	country, continent := rd.locate(r)
	if t.plain != nil && country == "" && continent == "" {
		p := t.plain
		chosen = p.rk.choose(t.Mirrors, rd.draw())
		if chosen < 0 {
			chosen = len(t.Mirrors)
		}
		ans = p.byCopy[chosen]
	} else {
		rk := newRanker(t.Mirrors, country, continent)
		chosen = rk.choose(t.Mirrors, rd.draw())
		ans = t.answer(&rk, i, chosen)
	}
	if ans.location == nil {
		problem.Write(w, http.StatusServiceUnavailable, "no copy of "+t.ID()+" can be reached now")
		return
	}
	h := w.Header()
	h["Location"] = ans.location
	if ans.links != nil {
		h["Link"] = ans.links
	}
	if ans.digest != nil {
		h["Digest"] = ans.digest
		h["Repr-Digest"] = ans.reprDigest
	}
	h["Cache-Control"] = noStore
	w.WriteHeader(http.StatusFound)
	if r.Method == http.MethodGet && t.Redirects != nil && !held {
		t.Redirects.Add(1)
	}
	if r.Method == http.MethodGet && chosen >= 0 && chosen < len(t.Mirrors) && t.Mirrors[chosen].Redirects != nil {
		t.Mirrors[chosen].Redirects.Add(1)
	}
}

// hold waits while no relay holds t and Hold says to (see RedirectorOptions.Hold), and
// returns the artifact as it is then; false when the request was answered or is gone.
// It counts a GET as a redirect at once.
func (rd *Redirector) hold(w http.ResponseWriter, r *http.Request, ref ref, t *Target) (*Target, bool) {
	if rd.holding.Add(1) > maxHolding {
		rd.holding.Add(-1)
		return t, true
	}
	defer rd.holding.Add(-1)
	// A held user is demand at once, counted here and not again by ServeHTTP: it is what
	// gets the artifact placed on relays when no BitTorrent client announces it.
	if r.Method == http.MethodGet && t.Redirects != nil {
		t.Redirects.Add(1)
	}
	deadline := time.NewTimer(rd.opts.MaxHold)
	defer deadline.Stop()
	tick := time.NewTicker(holdPoll)
	defer tick.Stop()
	for len(t.Mirrors) == 0 && rd.opts.Hold(t.InfoHash) {
		select {
		case <-r.Context().Done():
			return nil, false
		case <-deadline.C:
			return t, true
		case <-tick.C:
		}
		var ok bool
		if t, ok = rd.resolve(w, ref); !ok {
			return nil, false
		}
	}
	return t, true
}

// answer sends a user ranked by rk to copy chosen of file i: the mirror of that index, or
// the origin for -1; the other copies go with it as duplicates.
func (t *Target) answer(rk *ranker, i, chosen int) answer {
	if chosen < 0 && t.Origin == "" {
		return answer{}
	}
	prep := t.prepared()
	suffix := prep.suffix[i]
	links := make([]string, 0, min(len(t.Mirrors), maxDuplicates)+2)
	rk.eachMirror(t.Mirrors, func(j, pri int) bool {
		if j != chosen {
			m := &t.Mirrors[j]
			links = append(links, duplicate(m.Base, suffix, pri, m.Country))
		}
		return len(links) < maxDuplicates
	})
	var location string
	if chosen < 0 {
		location = cmp.Or(t.OriginDownload, t.Origin) + suffix
	} else {
		location = t.Mirrors[chosen].Base + suffix
		if t.Origin != "" {
			links = append(links, duplicate(t.Origin, suffix, rk.originPriority(), ""))
		}
	}
	if prep.describedBy != "" {
		links = append(links, prep.describedBy)
	}
	if len(links) == 0 {
		links = nil
	}
	return answer{location: []string{location}, links: links, digest: prep.digest[i], reprDigest: prep.reprDigest[i]}
}

// resolve finds ref's artifact, or answers the request with why not.
func (rd *Redirector) resolve(w http.ResponseWriter, ref ref) (*Target, bool) {
	t, err := rd.res.Resolve(ref.catalog, ref.name, ref.version)
	if err != nil {
		lookupFailed(w, rd.log, err, "redirector: resolve", "catalog", ref.catalog, "name", ref.name, "version", ref.version)
		return nil, false
	}
	return t, true
}

// refError answers a URL that parseRef refused: 400 for a name no artifact can have, 404
// with the URL form for a URL of the wrong shape.
func refError(w http.ResponseWriter, err error, usage string) {
	if errors.Is(err, names.ErrInvalid) {
		problem.Write(w, http.StatusBadRequest, err.Error())
		return
	}
	problem.Write(w, http.StatusNotFound, usage)
}

// file returns the index of the file at path. A single-file artifact's is "" or its own
// name, so that a URL ending in the name saves the file under it (curl -O, plain wget).
func (t *Target) file(path string) (int, bool) {
	if t.SingleFile() {
		return 0, path == "" || path == t.Root
	}
	return slices.BinarySearchFunc(t.Files, path, func(f manifest.File, p string) int {
		return strings.Compare(f.Path, p)
	})
}

// ranker orders one Target's mirrors for one client.
type ranker struct {
	country, continent string // the client's, "" when unknown
	// unknownCapacity stands in for a relay's unknown capacity: the mean of the known ones,
	// so a new relay gets an average share rather than none or all.
	unknownCapacity float64
	present         [tiers]bool
}

// A mirror's tier is how near it is to the client; users go to the nearest tier that has a
// mirror with spare capacity.
const (
	tierCountry = iota
	tierContinent
	tierElsewhere
	tiers
)

// locate places the client, "" when unknown or without a Locator.
func (rd *Redirector) locate(r *http.Request) (country, continent string) {
	if rd.opts.Locator == nil {
		return "", ""
	}
	return rd.opts.Locator.Locate(rd.clientAddr(r))
}

// newRanker ranks ms for a client in country and continent ("" when unknown).
func newRanker(ms []Mirror, country, continent string) ranker {
	rk := ranker{country: country, continent: continent, unknownCapacity: 1}
	var sum float64
	var known int
	for i := range ms {
		m := &ms[i]
		if c := m.CapacityBytes; c > 0 && !math.IsInf(c, 1) {
			sum += c
			known++
		}
		rk.present[rk.tier(m)] = true
	}
	if known > 0 {
		rk.unknownCapacity = sum / float64(known)
	}
	return rk
}

func (rk *ranker) tier(m *Mirror) int {
	switch {
	case rk.country != "" && strings.EqualFold(m.Country, rk.country):
		return tierCountry
	case rk.continent != "" && strings.EqualFold(m.Continent, rk.continent):
		return tierContinent
	}
	return tierElsewhere
}

// weight is a mirror's spare upload capacity: its share of users within its tier.
func (rk *ranker) weight(m *Mirror) float64 {
	c := m.CapacityBytes
	if !(c > 0) || math.IsInf(c, 1) {
		c = rk.unknownCapacity
	}
	load := m.Load
	if !(load > 0) {
		load = 0
	}
	if load >= 1 {
		return 0
	}
	return c * (1 - load)
}

// choose picks a mirror in the nearest tier with spare capacity, at random weighted by
// spare capacity, where u is uniform in [0, 1); it returns -1 when every mirror is full.
func (rk *ranker) choose(ms []Mirror, u float64) int {
	var total [tiers]float64
	for i := range ms {
		total[rk.tier(&ms[i])] += rk.weight(&ms[i])
	}
	for tier, sum := range total {
		if !(sum > 0) {
			continue
		}
		x, last := u*sum, -1
		for i := range ms {
			m := &ms[i]
			w := rk.weight(m)
			if w <= 0 || rk.tier(m) != tier {
				continue
			}
			if x < w {
				return i
			}
			x -= w
			last = i
		}
		// Rounding can leave x just past the last weight.
		return last
	}
	return -1
}

// priority is the RFC 6249 pri (and RFC 5854 priority) of a tier's mirrors: 1 for the
// nearest tier present, then one more per tier further out.
func (rk *ranker) priority(tier int) int {
	pri := 1
	for _, p := range rk.present[:tier] {
		if p {
			pri++
		}
	}
	return pri
}

// originPriority ranks the origin after every mirror: it is the copy of last resort.
func (rk *ranker) originPriority() int { return rk.priority(tiers) }

// eachMirror calls f with the index and priority of each mirror, nearest tiers first,
// until f returns false.
func (rk *ranker) eachMirror(ms []Mirror, f func(i, pri int) bool) {
	for tier := range tiers {
		if !rk.present[tier] {
			continue
		}
		pri := rk.priority(tier)
		for i := range ms {
			if rk.tier(&ms[i]) == tier && !f(i, pri) {
				return
			}
		}
	}
}

func (rd *Redirector) clientAddr(r *http.Request) netip.Addr {
	if rd.opts.ClientAddr != nil {
		return rd.opts.ClientAddr(r)
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// draw returns a number uniformly drawn from [0, 1).
func (rd *Redirector) draw() float64 {
	if rd.opts.Rand == nil {
		return rand.Float64()
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	// 53 bits fill a float64's mantissa; math/rand/v2's Float64 takes the same ones.
	return float64(rd.opts.Rand.Uint64()<<11>>11) / (1 << 53)
}

// fileSuffix is what a BEP 19 client appends to a base URL for a file: the escaped torrent
// name and, in a package, the file's escaped path.
func fileSuffix(root, path string) string {
	if path == "" {
		return names.EscapePath(root)
	}
	return names.EscapePath(root + "/" + path)
}

// duplicate is an RFC 6249 Link value naming another copy of the file, at base+suffix.
func duplicate(base, suffix string, pri int, country string) string {
	var b strings.Builder
	b.Grow(len(base) + len(suffix) + 40)
	b.WriteByte('<')
	b.WriteString(base)
	b.WriteString(suffix)
	b.WriteString(">; rel=duplicate; pri=")
	b.WriteString(strconv.Itoa(pri))
	if isCountry(country) {
		// Lower case, as RFC 6249's examples have it, without a copy per link.
		b.WriteString("; geo=")
		b.WriteByte(country[0] | 0x20)
		b.WriteByte(country[1] | 0x20)
	}
	return b.String()
}

// isCountry reports whether c has the shape of an ISO 3166-1 alpha-2 code, the only one
// RFC 6249 geo and RFC 5854 location allow.
func isCountry(c string) bool {
	return len(c) == 2 && isLetter(c[0]) && isLetter(c[1])
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// digestValues returns a file's sha256 as the RFC 3230 Digest, which Metalink/HTTP (RFC
// 6249) clients read, and the RFC 9530 Repr-Digest that replaces it; "" for both when
// the hex sum is malformed.
func digestValues(hexSum string) (digest, reprDigest string) {
	var sum [sha256.Size]byte
	if len(hexSum) != hex.EncodedLen(len(sum)) {
		return "", ""
	}
	if _, err := hex.Decode(sum[:], []byte(hexSum)); err != nil {
		return "", ""
	}
	b64 := base64.StdEncoding.EncodeToString(sum[:])
	return "sha-256=" + b64, "sha-256=:" + b64 + ":"
}

// noStore is the Cache-Control of every redirect: mirrors come and go. net/http only
// reads header values, so every answer may share it.
var noStore = []string{"no-store"}

// ref is what a /r/ or /m/ URL names: a file of an artifact, or the artifact when path is "".
type ref struct {
	catalog, name, version, path string
}

// errRefShape is returned for a URL that is not /<catalog>/<name>/<version>[/<path>].
var errRefShape = errors.New("not an artifact URL")

// parseRef splits /<catalog>/<name>/<version>[/<path>], where version may be "latest" in
// any case, and checks every part as names does for what it publishes. A trailing "/"
// after the version names the artifact itself.
func parseRef(p string) (ref, error) {
	var r ref
	rest, ok := strings.CutPrefix(p, "/")
	if !ok {
		return r, errRefShape
	}
	if r.catalog, rest, ok = strings.Cut(rest, "/"); !ok {
		return r, errRefShape
	}
	if r.name, rest, ok = strings.Cut(rest, "/"); !ok {
		return r, errRefShape
	}
	r.version, r.path, _ = strings.Cut(rest, "/")
	if err := names.CheckSegment("catalog", r.catalog); err != nil {
		return r, err
	}
	if err := names.CheckSegment("name", r.name); err != nil {
		return r, err
	}
	if strings.EqualFold(r.version, names.Latest) {
		r.version = names.Latest
	} else if err := names.CheckSegment("version", r.version); err != nil {
		return r, err
	}
	if r.path != "" {
		if _, err := names.SplitPath(r.path); err != nil {
			return r, err
		}
	}
	return r, nil
}
