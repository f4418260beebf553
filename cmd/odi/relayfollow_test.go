package main

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/opendist/odi/internal/apiclient"
	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/internal/index"
	"github.com/opendist/odi/internal/manifest"
	"github.com/opendist/odi/internal/sign"
)

// relayConfigFrom loads `odi relay`'s config as the command would, and validates it.
func relayConfigFrom(t *testing.T, args ...string) (RelayConfig, error) {
	t.Helper()
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{})
	cmd, _, _ := root.Find([]string{"relay"})
	var cfg Config
	var loadErr error
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		g := &globals{}
		g.configFile, _ = cmd.Flags().GetString("config")
		cfg, loadErr = loadConfig(cmd, g, flagKeys{"follow": "relay.follow"})
		return nil
	}
	root.SetArgs(append([]string{"relay"}, args...))
	if err := root.Execute(); err != nil {
		return RelayConfig{}, err
	}
	if loadErr != nil {
		return RelayConfig{}, loadErr
	}
	cfg.Relay.Directories, cfg.Relay.PublicURL = []string{"http://127.0.0.1:1"}, "http://127.0.0.1:2"
	cfg.Relay.DataDir, cfg.Relay.KeyFile = t.TempDir(), "relay.key"
	return cfg.Relay, cfg.Relay.Validate()
}

// relay.follow comes from the file (paths or key lines), ODI_RELAY_FOLLOW and --follow,
// and a key that is not one is named.
func TestRelayFollowConfig(t *testing.T) {
	dir := t.TempDir()
	pubFile := filepath.Join(dir, "indexer.key")
	pub, err := sign.GenerateKeyFiles(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	pubFile += ".pub"
	line := sign.PublicKeyText(pub)
	file := filepath.Join(dir, "odi.yaml")
	os.WriteFile(file, []byte("relay:\n  follow:\n    - "+pubFile+"\n    - "+line+"\n  follow_interval: 30s\n"), 0o644)
	cfg, err := relayConfigFrom(t, "--config", file)
	if err != nil || len(cfg.Follow) != 2 || cfg.FollowInterval.String() != "30s" {
		t.Fatalf("from the file: %v, %q, %v", err, cfg.Follow, cfg.FollowInterval)
	}
	t.Setenv("ODI_RELAY_FOLLOW", pubFile+","+line)
	if cfg, err := relayConfigFrom(t); err != nil || len(cfg.Follow) != 2 {
		t.Fatalf("from the env: %v, %q", err, cfg.Follow)
	}
	if cfg, err := relayConfigFrom(t, "--follow", pubFile); err != nil || len(cfg.Follow) != 1 {
		t.Fatalf("from --follow: %v, %q", err, cfg.Follow)
	}
	t.Setenv("ODI_RELAY_FOLLOW", "")
	if cfg, err := relayConfigFrom(t); err != nil || len(cfg.Follow) != 0 {
		t.Fatalf("none: %v, %q; want none, the directories' plans trusted", err, cfg.Follow)
	}
	for _, tt := range []struct{ follow, want string }{
		{filepath.Join(dir, "missing.pub"), "follow[0]: load public key: open " + filepath.Join(dir, "missing.pub")},
		{strings.TrimSuffix(pubFile, ".pub"), "follow[0]: load public key: " + strings.TrimSuffix(pubFile, ".pub") + " is a private key"},
	} {
		if _, err := relayConfigFrom(t, "--follow", tt.follow); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--follow %s: %v, want %q", tt.follow, err, tt.want)
		}
	}
}

// indexEntry is a's entry as an indexer lists it.
func indexEntry(a *catalogapi.Artifact) index.Entry {
	e := index.Entry{Catalog: a.Catalog, Name: a.Name, Version: a.Version, InfoHash: a.InfoHash}
	m := manifest.Manifest{Root: a.Root, Files: a.Files}
	for i, f := range a.Files {
		e.Files = append(e.Files, index.File{Path: m.LocalPath(i), Size: f.Size, SHA256: f.SHA256})
	}
	return e
}

// putIndex signs the index after prev with the indexer key at keyFile, with entries,
// and uploads it to tn as that indexer.
func putIndex(t *testing.T, tn *testNet, keyFile string, prev *index.Index, entries ...index.Entry) *index.Index {
	t.Helper()
	idx := index.Next(prev, time.Now(), 0)
	idx.Directory, idx.Entries = tn.base, nil
	for _, e := range entries {
		idx.Put(e)
	}
	uploadIndex(t, tn, keyFile, idx)
	return idx
}

// signIndex signs idx with the indexer key at keyFile: the document and its signature.
func signIndex(t *testing.T, keyFile string, idx *index.Index) (doc, sig []byte) {
	t.Helper()
	priv, err := sign.LoadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, sig, err = index.Sign(priv, idx)
	if err != nil {
		t.Fatal(err)
	}
	return doc, sig
}

// uploadIndex signs idx with the indexer key at keyFile and uploads it to tn as that
// indexer.
func uploadIndex(t *testing.T, tn *testNet, keyFile string, idx *index.Index) {
	t.Helper()
	doc, sig := signIndex(t, keyFile, idx)
	priv, err := sign.LoadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer := sign.NewSigner(priv, nil)
	api, err := apiclient.New(tn.base, signer)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPut, tn.base+"/api/v1/indexes/"+signer.KeyID(), bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(catalogapi.IndexSignatureHeader, base64.StdEncoding.EncodeToString(sig))
	if err := signer.SignBody(req, doc); err != nil {
		t.Fatal(err)
	}
	if err := api.Do(req, nil); err != nil {
		t.Fatalf("upload index version %d: %v", idx.Version, err)
	}
}

// A relay following an indexer key, against a real directory hosting its index: it
// fetches what the index lists and not what the plan adds beyond it, and when a new
// version lists another artifact instead, drops the first and fetches the second.
func TestRelayFollowsDirectoryIndex(t *testing.T) {
	indexer := newKeys(t, "indexer")[0]
	tn := startTestDirectory(t, relayDirectory, func(c *DirectoryConfig) { c.Indexers = []string{"alice=" + indexer + ".pub"} })
	a1 := publishSmall(t, tn, "1", 300<<10)
	a2 := publishSmall(t, tn, "2", 200<<10)
	v1 := putIndex(t, tn, indexer, nil, indexEntry(a1))
	r := startTestRelay(t, tn, func(c *RelayConfig) {
		c.Follow, c.FollowInterval = []string{indexer + ".pub"}, time.Second
	})
	holds := func() map[string]bool {
		out := map[string]bool{}
		for _, h := range relayView(t, tn, r.id).Holdings {
			out[h.InfoHash] = true
		}
		return out
	}
	waitServes(t, tn, 30*time.Second, r.id, a1.InfoHash)
	resp, err := http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `odi_relay_follow_indexes{state="current"} 1`; !strings.Contains(string(metrics), want) {
		t.Errorf("/metrics lacks %s", want)
	}
	// Several heartbeats' plans named a2 by now; none was followed.
	time.Sleep(time.Second)
	if h := holds(); h[a2.InfoHash] {
		t.Fatalf("the relay holds %s, which no followed index lists", a2.ID)
	}

	putIndex(t, tn, indexer, v1, indexEntry(a2))
	waitServes(t, tn, 30*time.Second, r.id, a2.InfoHash)
	waitFor(t, 10*time.Second, "the relay drops what the index no longer lists", func() bool { return !holds()[a1.InfoHash] })
}
