package names

import (
	"fmt"
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// CheckPaths checks the file paths of one artifact together: each as SplitPath does, and
// then that a user's machine would write them as that many distinct files. It refuses
//
//   - a path listed twice;
//   - two paths that differ only in case or Unicode compatibility form ("README" and
//     "readme", "ﬁle" and "file"): a case-insensitive file system (Windows, macOS) would
//     write both into one file, and a reader cannot tell them apart anyway;
//   - a file that is also a folder of another path ("a" and "a/x"), under the same
//     comparison ("a" and "A/x");
//   - one folder spelled two ways ("A/x" and "a/y"), which is one folder on some systems
//     and two on others.
//
// Names are compared by Unicode's compatibility caseless match (The Unicode Standard,
// §3.13, D146): full case folding and NFKD, twice, as the definition requires. Whether
// paths are refused does not depend on their order; the cost is linear in their length.
func CheckPaths(paths []string) error {
	fold := cases.Fold()
	var root node
	for _, p := range paths {
		parts, err := splitPath(p)
		if err != nil {
			return err
		}
		n := &root
		for j, c := range parts {
			last := j == len(parts)-1
			// A name already in this folder was checked, and folds as it did: the folders
			// shared by many paths cost one check and one fold.
			prev := n.byName[c]
			if prev == nil {
				if err := CheckComponent(c); err != nil {
					return fmt.Errorf("path %q: %w", p, err)
				}
				key := foldKey(fold, c)
				if prev = n.byKey[key]; prev == nil {
					prev = n.add(c, key, p, last)
					n = prev
					continue
				}
			}
			if err := collision(prev, c, p, j, last); err != nil {
				return err
			}
			n = prev
		}
	}
	return nil
}

// node is a file or folder of CheckPaths's tree.
type node struct {
	name   string // the component as first seen
	path   string // the first path through this node, for messages
	file   bool
	byKey  map[string]*node // children by folded name
	byName map[string]*node // children by name as first seen
}

func (n *node) add(name, key, path string, file bool) *node {
	if n.byKey == nil {
		n.byKey, n.byName = make(map[string]*node), make(map[string]*node)
	}
	kid := &node{name: name, path: path, file: file}
	n.byKey[key], n.byName[name] = kid, kid
	return kid
}

// collision explains why component c (the j-th of path p, its last if last) cannot join
// the tree where prev already has its folded name, or returns nil if it is the same folder.
func collision(prev *node, c, p string, j int, last bool) error {
	same := prev.name == c // the earlier components are the same, or we would not be here
	if same && !last && !prev.file {
		return nil
	}
	mine, theirs := prefix(p, j), prefix(prev.path, j)
	switch {
	case last && prev.file && same:
		return fmt.Errorf("%w: path %q is listed twice", ErrInvalid, p)
	case last && prev.file:
		return fmt.Errorf("%w: paths %q and %q differ only in case or compatibility form; a case-insensitive file system would make them one file", ErrInvalid, theirs, mine)
	case prev.file && same:
		return fmt.Errorf("%w: %q is a file and also a folder of %q", ErrInvalid, theirs, p)
	case prev.file:
		return fmt.Errorf("%w: file %q and folder %q of %q differ only in case or compatibility form", ErrInvalid, theirs, mine, p)
	case last && same:
		return fmt.Errorf("%w: %q is a file and also a folder of %q", ErrInvalid, mine, prev.path)
	case last:
		return fmt.Errorf("%w: file %q and folder %q of %q differ only in case or compatibility form", ErrInvalid, mine, theirs, prev.path)
	}
	return fmt.Errorf("%w: folders %q (of %q) and %q (of %q) differ only in case or compatibility form", ErrInvalid, theirs, prev.path, mine, p)
}

// prefix is the first j+1 components of the slash-separated path p.
func prefix(p string, j int) string {
	end := 0
	for ; j >= 0; j-- {
		i := strings.IndexByte(p[end:], '/')
		if i < 0 {
			return p
		}
		end += i + 1
	}
	return p[:end-1]
}

// foldKey is c's compatibility caseless form, D146: NFKD(fold(NFKD(fold(NFD(c))))). The
// second round catches characters whose folding or decomposition yields text that folds
// or decomposes again (U+0345, for one).
func foldKey(fold cases.Caser, c string) string {
	ascii := true
	for i := 0; i < len(c); i++ {
		if c[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		// ASCII is its own NFD and NFKD, and folds to lower case.
		return strings.ToLower(c)
	}
	s := norm.NFD.String(c)
	s = norm.NFKD.String(fold.String(s))
	return norm.NFKD.String(fold.String(s))
}
