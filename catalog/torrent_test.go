package catalog

import (
	"bytes"
	"slices"
	"testing"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// A torrent's BEP 5 nodes are [host, port] pairs, which anacrolix and other clients
// read back as nodes; the rest reads as metainfo.MetaInfo wrote it.
func TestTorrentFileNodes(t *testing.T) {
	info, err := bencode.Marshal(metainfo.Info{Name: "a.iso", PieceLength: 16 << 10, Length: 1, Pieces: make([]byte, 20)})
	if err != nil {
		t.Fatal(err)
	}
	tf := torrentFile{InfoBytes: info, Announce: "http://127.0.0.1:1/announce",
		AnnounceList: metainfo.AnnounceList{{"http://127.0.0.1:1/announce"}, {"udp://127.0.0.1:1/announce"}},
		Nodes:        []dhtNode{{"127.0.0.1", 6881}, {"::1", 6882}}, CreationDate: 1, Comment: "c/n/v", CreatedBy: "odi",
		UrlList: metainfo.UrlList{"http://127.0.0.1:2/ws/x/"}}
	b, err := bencode.Marshal(tf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("5:nodesll9:127.0.0.1i6881eel3:::1i6882eee")) {
		t.Errorf("nodes are not [host, port] lists: %q", b)
	}
	mi, err := metainfo.Load(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if want := []metainfo.Node{"127.0.0.1:6881", "[::1]:6882"}; !slices.Equal(mi.Nodes, want) {
		t.Errorf("nodes read back %q, want %q", mi.Nodes, want)
	}
	if !bytes.Equal(mi.InfoBytes, info) || mi.Announce != tf.Announce || len(mi.AnnounceList) != 2 || mi.Comment != "c/n/v" ||
		mi.CreatedBy != "odi" || mi.CreationDate != 1 || !slices.Equal(mi.UrlList, tf.UrlList) {
		t.Errorf("read back %+v", mi)
	}
}
