package manifest

// IsSHA256 reports whether s is a sha256 as manifests carry it: 64 lower-case hex digits,
// the one spelling sha256sum prints, so that a digest has a single form wherever it is a
// key (the catalog's index of files by content, /blob/sha256/ URLs).
func IsSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
