package client

import "testing"

func TestBySource(t *testing.T) {
	const mib = 1 << 20
	for _, tt := range []struct {
		name                                       string
		gained, warm, fromHTTP, clientPeers, seeds int64
		want                                       FetchedBytes
	}{
		{"peers alone", 100 * mib, 0, 0, 100 * mib, 0, FetchedBytes{Peers: 100 * mib}},
		{"warm fill and peers", 100 * mib, 40 * mib, 0, 60 * mib, 0, FetchedBytes{Peers: 60 * mib, WebSeeds: 40 * mib}},
		// The client counted chunks of pieces warm fill finished first: 90 MiB by its
		// counts, but only 60 MiB of pieces are left to it.
		{"client overcounts", 100 * mib, 40 * mib, 0, 60 * mib, 30 * mib, FetchedBytes{Peers: 40 * mib, WebSeeds: 60 * mib}},
		{"the fallback", 100 * mib, 10 * mib, 50 * mib, 40 * mib, 0, FetchedBytes{Peers: 40 * mib, WebSeeds: 10 * mib, HTTP: 50 * mib}},
		{"warm fill over what arrived", 10 * mib, 30 * mib, 0, 0, 0, FetchedBytes{WebSeeds: 10 * mib}},
		{"nothing arrived", 0, 0, 0, 5 * mib, 5 * mib, FetchedBytes{}},
		{"no client counts", 8 * mib, 0, 0, 0, 0, FetchedBytes{Peers: 8 * mib}},
		{"a piece lost on disk", -mib, 0, 0, 0, 0, FetchedBytes{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := bySource(tt.gained, tt.warm, tt.fromHTTP, tt.clientPeers, tt.seeds)
			if got != tt.want {
				t.Errorf("bySource = %+v, want %+v", got, tt.want)
			}
			if sum := got.Peers + got.WebSeeds + got.HTTP; sum != max(0, tt.gained) {
				t.Errorf("sources add up to %d, %d arrived", sum, tt.gained)
			}
		})
	}
}
