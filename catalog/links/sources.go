package links

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/opendist/odi/internal/boundedget"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/netcheck"
)

// SourcesPath is where a directory lists its own trackers and web seeds for a catalog
// (catalogapi.FederationSources), with ?catalog=C.
const SourcesPath = "/api/v1/federation/sources"

// sources are what a directory lists of its own for a catalog: its trackers, and its
// web seeds by infohash.
type sources struct {
	linkedFrom string // the directory it links the catalog from, if it does
	trackers   []string
	seeds      map[metainfo.Hash][]string
}

// fetchSources reads the sources the directory at base lists for catalog, keeping at
// most maxTrackers trackers and maxSeeds web seeds per artifact of those usable.
func fetchSources(ctx context.Context, hc *http.Client, base, catalog string, maxTrackers, maxSeeds int) (*sources, error) {
	body, _, err := boundedget.Get(ctx, hc, base+SourcesPath+"?catalog="+url.QueryEscape(catalog), "", maxList)
	if err != nil {
		return nil, err
	}
	var fs catalogapi.FederationSources
	if err := json.Unmarshal(body, &fs); err != nil {
		return nil, fmt.Errorf("sources of %s: %w", base, err)
	}
	if fs.Catalog != catalog {
		return nil, fmt.Errorf("sources of %s: asked for catalog %q, got %q", base, catalog, fs.Catalog)
	}
	s := &sources{
		linkedFrom: fs.LinkedFrom,
		trackers:   usable(ctx, fs.Trackers, maxTrackers, "udp"),
		seeds:      make(map[metainfo.Hash][]string, len(fs.Artifacts)),
	}
	for _, a := range fs.Artifacts {
		var ih metainfo.Hash
		if ih.FromHexString(a.InfoHash) == nil {
			s.seeds[ih] = usable(ctx, a.WebSeeds, maxSeeds)
		}
	}
	return s, nil
}

// hasHost reports whether any of s's web seeds is on host (seedHost).
func (s *sources) hasHost(host string) bool {
	for _, seeds := range s.seeds {
		for _, seed := range seeds {
			if seedHost(seed) == host {
				return true
			}
		}
	}
	return false
}

// usable keeps at most n of urls that are http(s) base URLs (or of the schemes also
// allowed), in order: what another directory lists goes into this one's torrents.
func usable(ctx context.Context, urls []string, n int, also ...string) []string {
	var out []string
	for _, raw := range urls {
		if len(out) == n {
			break
		}
		u, err := url.Parse(raw)
		if err == nil && slices.Contains(also, u.Scheme) && u.Host != "" && u.User == nil {
			out = append(out, raw)
			continue
		}
		if netcheck.CheckBaseURL(ctx, raw, true) == nil {
			out = append(out, raw)
		}
	}
	return out
}

// sameDirectory reports whether two base URLs name the same directory: scheme and host
// compared without case, a default port as none, and a trailing slash ignored.
func sameDirectory(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	if errA != nil || errB != nil {
		return false
	}
	norm := func(u *url.URL) string {
		scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
		if p := u.Port(); (scheme == "http" && p == "80") || (scheme == "https" && p == "443") {
			host = strings.ToLower(u.Hostname())
		}
		return scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/")
	}
	return norm(ua) == norm(ub)
}
