package catalog

// FileRef is one file of an artifact: a.Files[Index].
type FileRef struct {
	Artifact *Artifact
	Index    int
}

// FilesBySHA256 returns every file whose sha256 is sum (lower-case hex, as manifests
// carry it), in every artifact, tombstones included, in artifact identity order: the
// directory's content-addressed /blob/ URLs find their file here. The slice is shared:
// callers must not change it.
func (c *Catalog) FilesBySHA256(sum string) []FileRef { return c.view.Load().bySHA256[sum] }

// indexBySHA256 maps each file of arts (sorted by identity) by its sha256. The view is
// rebuilt on every publish and expunge, and this costs one map entry per file beside
// it; the keys share the manifests' strings.
func indexBySHA256(arts []*Artifact) map[string][]FileRef {
	m := map[string][]FileRef{}
	for _, a := range arts {
		for i, f := range a.Files {
			if f.SHA256 != "" {
				m[f.SHA256] = append(m[f.SHA256], FileRef{Artifact: a, Index: i})
			}
		}
	}
	return m
}
