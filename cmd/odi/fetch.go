package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"aead.dev/minisign"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/spf13/cobra"

	"github.com/opendist/odi/client"
	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/bind"
	"github.com/opendist/odi/internal/sign"
)

// fetchDHTListen is the fetch's DHT address for --dht-listen's value: by default any
// port on the --bind address, or without one on the address the route to the
// torrent's nodes leaves from (client.FetchOptions.DHTListen); none for "off".
func fetchDHTListen(flag string, bound bind.Host) string {
	switch {
	case flag == dhtOff:
		return ""
	case flag != "":
		return flag
	case !bound.IsZero():
		return net.JoinHostPort(bound.String(), "0")
	}
	return ":0"
}

// defaultDirectory is where odi fetch looks when no directory is configured: the address
// `odi directory` and `odi demo` listen on by default.
const defaultDirectory = "http://127.0.0.1:8080"

func newFetchCmd(g *globals) *cobra.Command {
	var (
		o              client.FetchOptions
		bindHost       string
		quiet, jsonOut bool
		torrentFile    string
		dhtListen      string
	)
	cmd := &cobra.Command{
		Use:   "fetch CATALOG/NAME[@VERSION] [-o DIR] | sha256:HEX [-o DIR|FILE] | --torrent FILE [-o DIR]",
		Short: "Download an artifact over BitTorrent (with HTTP when it stalls), or a file by its sha256, and verify it",
		Long: `Download the artifact CATALOG/NAME at VERSION (default: the highest published one) into
DIR, and verify every file against the sha256 the publisher signed. CATALOG/NAME/VERSION
(the id the API shows) works too, and @latest means the highest version.

odi asks the directory's catalog for the artifact, then downloads it HTTP first: ranged
GETs from every web seed the torrent lists (relays and the directory's origin copy), and
BitTorrent peers (relays and other users, found through the directory's tracker and the
DHT) for the pieces the web seeds do not give, or for all of them when the torrent lists
none; it uploads to the swarm while it downloads. If nothing arrives for
--stall-timeout, odi asks peers for every piece and also takes plain HTTP from where the
directory's redirector sends it (/r/: a relay, or the origin); it gives up only when that
brought nothing for another --stall-timeout. An origin that answers "busy"
(503) in a crowd is no failure: its pieces are in the swarm. Every piece is checked
against the torrent's hashes as it arrives and every file against the catalog's sha256
at the end; only then is the artifact renamed into place, so DIR/<root> only ever
appears whole and verified. <root> is the torrent's name: the file's name, or the
package's folder.

--bind gives odi its own address for every connection (and, unless --bt-listen says
otherwise, for listening): on a machine with several addresses, the one the tracker
should list.

Until then the download lives in DIR/<root>.part/: the files, the pieces known good
(.torrent.bolt.db) and odi-fetch.json naming the artifact. Interrupt it at any time
(Ctrl-C); the same command resumes, over BitTorrent or HTTP, fetching only what is
missing.

The directory is --directory, else client.directory in the config file, else
ODI_CLIENT_DIRECTORY, else ` + defaultDirectory + `.

With --trust KEY.pub (repeatable; fetch.trust in the config file), odi takes the
directory's word for nothing: it fetches the current index each trusted key signed
(verified; and the key's announced successor), and refuses, before downloading, an
artifact no such index lists as published, or one whose infohash or files differ from
the index's entry; the files are then verified against the index's sha256. Without a
version it takes the highest one a trusted index lists. It remembers each key's highest
version in $XDG_STATE_HOME/odi/trust.json (~/.local/state/odi/trust.json) and refuses
an older one (rollback), another document with the same version (equivocation), and an
expired index. Without --trust, the directory (or whoever controls the way to it) is
trusted for the catalog's digests.

odi fetch sha256:HEX fetches the one published file whose sha256 is HEX (64 hex digits,
as sha256sum prints them) over plain HTTP: the directory's /blob/sha256/HEX redirects to
a relay holding it, or to the origin. The bytes go to a temporary file beside the
destination and are renamed into place only when their sha256 is HEX; bytes that differ
are deleted. With -o an existing folder (the default, .) or a path ending in /, the file
goes there under the name the directory gives it (a name that is not a plain file name
gives way to HEX); any other -o is the file's own path. An existing file is never
replaced. --torrent-only and --trust do not apply; there is no resume.

odi fetch --torrent FILE fetches what a saved .torrent describes, with or without its
directory: peers come from the torrent's trackers and from the DHT (BEP 5), starting
from the nodes the torrent names (the directory's and its relays'), bytes also from its
web seeds. If the directory (--directory, else the one whose tracker the torrent names)
answers for the artifact with the same infohash, the files are verified against its
sha256 as above; if it does not (it is down), against the torrent's piece hashes only,
which odi says (pieces_only in --json), and no HTTP source beyond the web seeds is taken.

Every BitTorrent fetch runs a DHT node of its own while it downloads, on --dht-listen
(default: any port on --bind's address, else on the address the route to the torrent's
nodes leaves from; off to run none), starting only from the torrent's nodes: it finds
peers when the tracker does not answer.

Exit codes: 0 fetched and verified; 1 error (what arrived is kept for a resume); 2 bad
usage; 3 verification failed (bytes differ from the catalog, or from sha256:HEX; nothing
is put in place), or, with --trust, no trusted index vouches for the artifact; 130
interrupted (resumable).`,
		Example: `  odi fetch debian/netinst                       # highest version, into the current folder
  odi fetch debian/netinst@12.5.0 -o ~/isos      # one version, into ~/isos/<file name>
  odi fetch debian/netinst/12.5.0 --directory https://dir.example.org
  odi fetch debian/netinst --http-only           # plain HTTP from relays or the origin
  odi fetch debian/netinst --json | jq -r '.files[].sha256'
  odi fetch debian/netinst --trust debian-index.pub    # only what that indexer vouches for
  odi fetch sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08   # one file, by its content
  odi fetch --torrent netinst.torrent -o ~/isos  # a saved torrent, even with its directory down`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("torrent") {
				return exactArgs(0, "no argument with --torrent")(cmd, args)
			}
			return exactArgs(1, "CATALOG/NAME[@VERSION] or sha256:HEX")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			var mi *metainfo.MetaInfo
			var sum string
			var byHash bool
			var ref client.Ref
			var err error
			if torrentFile != "" {
				mi, err = client.LoadTorrent(torrentFile)
			} else if sum, byHash, err = client.ParseBlobRef(args[0]); err == nil && !byHash {
				ref, err = client.ParseRef(args[0])
			}
			if err != nil {
				return usageError("%w", err)
			}
			switch {
			case mi != nil && cmd.Flags().Changed("trust"):
				return usageError("--trust does not apply with --torrent: the torrent names what is fetched")
			case byHash && (o.TorrentOnly || cmd.Flags().Changed("trust")):
				return usageError("sha256:HEX is fetched over plain HTTP and checked against HEX itself: --torrent-only and --trust do not apply")
			case o.TorrentOnly && o.HTTPOnly:
				return usageError("--torrent-only and --http-only exclude each other")
			case o.StallTimeout <= 0:
				return usageError("--stall-timeout must be positive (got %s)", o.StallTimeout)
			}
			if o.Bind, err = bind.Parse(bindHost); err != nil {
				return usageError("--bind: %w", err)
			}
			if !o.Bind.IsZero() && !cmd.Flags().Changed("bt-listen") {
				o.BTListen = net.JoinHostPort(o.Bind.String(), "0")
			}
			o.DHTListen = fetchDHTListen(dhtListen, o.Bind)
			cfg, log, err := loadRole(cmd, g, flagKeys{"directory": "client.directory", "trust": "fetch.trust"})
			if err != nil {
				return err
			}
			if o.Trust, err = openTrust(cfg.Fetch.Trust); err != nil {
				return err
			}
			if cfg.Client.Directory == "" && mi != nil {
				cfg.Client.Directory = client.TorrentDirectory(mi)
			}
			if cfg.Client.Directory == "" {
				cfg.Client.Directory = defaultDirectory
			}
			api, err := apiclient.New(cfg.Client.Directory, nil)
			if err != nil {
				return usageError("--directory: %w", err)
			}
			o.Bind.Transport(api.HTTP.Transport.(*http.Transport))
			// anacrolix logs at info what users need not see; it speaks only at debug.
			if strings.EqualFold(cfg.Log.Level, "debug") {
				o.TorrentLog = log.With("part", "torrent")
			}
			if !quiet {
				o.Progress = client.NewReporter(g.stderr)
			}
			o.UserAgent = "odi-fetch/" + buildVersion() // names odi in relays' logs
			var res *client.FetchResult
			switch {
			case mi != nil:
				res, err = client.FetchTorrent(cmd.Context(), api, mi, o)
			case byHash:
				res, err = client.FetchBlob(cmd.Context(), api, sum, o)
			default:
				res, err = client.Fetch(cmd.Context(), api, ref, o)
			}
			if err != nil {
				return clientError(err)
			}
			if jsonOut {
				return writeJSON(g.stdout, res)
			}
			verified := "sha256 verified"
			switch {
			case res.IndexKey != "":
				verified += " against the index of key " + res.IndexKey
			case res.PiecesOnly:
				verified = "verified against the torrent's piece hashes (no directory answered for it)"
			}
			printf(g.stdout, "fetched %s\n  path     %s\n  size     %d bytes in %d file%s, %s\n  sources  %d bytes from peers, %d from web seeds, %d over HTTP, %d already here, in %.1fs\n",
				res.Artifact, res.Path, res.Bytes, len(res.Files), plural(len(res.Files)), verified,
				res.Fetched.Peers, res.Fetched.WebSeeds, res.Fetched.HTTP, res.Resumed, res.Seconds)
			return nil
		},
	}
	f := cmd.Flags()
	f.String("directory", "", withKey("directory base URL (default "+defaultDirectory+")", "client.directory"))
	f.StringVarP(&o.Out, "output", "o", ".", "folder to put the artifact in (created if needed); with sha256:HEX, also the file's own path")
	f.StringVar(&o.BTListen, "bt-listen", "127.0.0.1:0", "BitTorrent TCP listen address for incoming peers (port 0: any free port; default <--bind>:0 with --bind)")
	f.StringVar(&torrentFile, "torrent", "", "fetch what this .torrent file describes, with or without its directory (no CATALOG/NAME argument)")
	f.StringVar(&dhtListen, "dht-listen", "", "UDP address of the fetch's DHT node (default: any port on --bind's address, else the one the route to the torrent's nodes leaves from; off: no DHT)")
	f.StringVar(&bindHost, "bind", "", "local IP address every connection leaves from: HTTP, trackers and peers (default: the system's choice)")
	f.DurationVar(&o.StallTimeout, "stall-timeout", 20*time.Second, "add the redirector's HTTP source after nothing arrived for this long, and give up after as long again")
	f.BoolVar(&o.TorrentOnly, "torrent-only", false, "peers and the torrent's web seeds only: never the redirector (fail after --stall-timeout without progress)")
	f.BoolVar(&o.HTTPOnly, "http-only", false, "plain HTTP only, through the redirector or the origin; no BitTorrent")
	f.StringArray("trust", nil, withKey("fetch only what a current index signed by this key (KEY.pub, or its RW... line) lists; repeatable", "fetch.trust"))
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress or notes on stderr")
	f.BoolVar(&jsonOut, "json", false, "print the result as JSON on stdout")
	return cmd
}

// openTrust loads the keys of --trust and the follower state, kept in the XDG state
// folder ($XDG_STATE_HOME/odi/trust.json, by default ~/.local/state/odi/trust.json) so
// that a directory cannot roll this user back between runs. No keys: nil, the
// directory's word.
func openTrust(keys []string) (*client.Trust, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	pubs := make([]minisign.PublicKey, len(keys))
	for i, k := range keys {
		pub, err := sign.ParsePublicKey(k)
		if err != nil {
			return nil, usageError("--trust: %w", err)
		}
		pubs[i] = pub
	}
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("--trust keeps its state in $XDG_STATE_HOME or ~/.local/state: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return client.OpenTrust(pubs, filepath.Join(dir, "odi", "trust.json"), nil)
}
