// Command peersonly writes a copy of a .torrent without its web seeds (BEP 19 url-list)
// and, with -tracker, with that one tracker instead of its own: scripts/e2e.sh then shows
// that a client gets the bytes from peers alone, found through the DHT when the trackers
// are gone. The info dict, and so the infohash, and the DHT nodes are kept.
//
// Usage: peersonly [-tracker URL] IN.torrent OUT.torrent
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

func main() {
	tracker := flag.String("tracker", "", "the one tracker the copy names (default: the torrent's own)")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: peersonly [-tracker URL] IN.torrent OUT.torrent")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), *tracker); err != nil {
		fmt.Fprintln(os.Stderr, "peersonly:", err)
		os.Exit(1)
	}
}

func run(in, out, tracker string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	// The torrent as a generic dict, so that what metainfo.MetaInfo would write back
	// differently (BEP 5 nodes as [host, port] pairs) is kept as it is.
	var d map[string]bencode.Bytes
	if err := bencode.Unmarshal(b, &d); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if _, err := metainfo.Load(bytes.NewReader(b)); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	delete(d, "url-list")
	if tracker != "" {
		delete(d, "announce-list")
		if d["announce"], err = bencode.Marshal(tracker); err != nil {
			return err
		}
	}
	b, err = bencode.Marshal(d)
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}
