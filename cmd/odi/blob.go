package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/opendist/odi/internal/catalogapi"
	"github.com/opendist/odi/webseed"
)

var _ webseed.BlobResolver = (*redirectTargets)(nil)

// maxBlobCandidates bounds the published artifacts a blob redirect looks at for one held
// by relays: a common file (an empty one, a licence) may be in thousands of artifacts,
// and each look is a Resolve.
const maxBlobCandidates = 8

// maxGoneReasons bounds the expunged artifacts a 410 for a blob names.
const maxGoneReasons = 3

// ResolveBlob finds a published artifact with a file whose sha256 is sum, through the
// same cached Targets as /r/: the first of them (in identity order, up to
// maxBlobCandidates) that relays hold, else the first. A sum whose files are all in
// expunged artifacts is gone, with their reasons.
func (rt *redirectTargets) ResolveBlob(sum string) (*webseed.Target, int, error) {
	var (
		found   *webseed.Target
		index   int
		looked  int
		gone    []string
		goneAll int
	)
	for _, f := range rt.cat.FilesBySHA256(sum) {
		a := f.Artifact
		if a.State != catalogapi.Published {
			if goneAll++; len(gone) < maxGoneReasons {
				gone = append(gone, a.ID()+" ("+a.Reason+")")
			}
			continue
		}
		if looked == maxBlobCandidates {
			break
		}
		looked++
		t, err := rt.Resolve(a.Catalog, a.Name, a.Version)
		if err != nil {
			return nil, 0, err
		}
		if found == nil || len(found.Mirrors) == 0 && len(t.Mirrors) > 0 {
			found, index = t, f.Index
		}
		if len(found.Mirrors) > 0 {
			break
		}
	}
	switch {
	case found != nil:
		return found, index, nil
	case goneAll > 0:
		more := ""
		if goneAll > len(gone) {
			more = fmt.Sprintf(" and %d more", goneAll-len(gone))
		}
		return nil, 0, classed{fmt.Errorf("the files with sha256 %s were expunged: %s%s", sum, strings.Join(gone, ", "), more), webseed.ErrGone}
	}
	return nil, 0, classed{fmt.Errorf("no published file has sha256 %s", sum), webseed.ErrNotFound}
}

var _ webseed.BlobStore = relayStore{}

func (s relayStore) OpenBlob(_ context.Context, sum string) (webseed.File, string, error) {
	f, p, err := s.r.OpenBlob(sum)
	wf, err := servedFile(f, sum, err)
	return wf, p, err
}
