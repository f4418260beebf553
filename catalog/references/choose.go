package references

import "slices"

// Choice is a directory as Choose sees it.
type Choice struct {
	Countries  []string // ISO 3166-1 alpha-2, upper case
	Continents []string // AF AN AS EU NA OC SA
	Default    bool
	Healthy    bool
	// Hash is a stable hash of the directory's URL (hashString): the directory's half of
	// the rendezvous.
	Hash uint64
}

// Choose returns the index of the directory to send a user to, or -1 when none is
// healthy: a healthy one whose countries include country, else whose continents include
// continent, else one marked default, else any healthy one. Among the directories of the
// best tier it takes the highest rendezvous score of user (a stable hash of the user's
// address) and each directory's Hash, so one user keeps to one directory while it is
// healthy, users spread evenly, and a directory leaving moves only its own users.
// country and continent are "" when unknown; they then match nothing.
func Choose(dirs []Choice, country, continent string, user uint64) int {
	best, bestTier, bestScore := -1, -1, uint64(0)
	for i := range dirs {
		d := &dirs[i]
		if !d.Healthy {
			continue
		}
		tier := 0
		switch {
		case country != "" && slices.Contains(d.Countries, country):
			tier = 3
		case continent != "" && slices.Contains(d.Continents, continent):
			tier = 2
		case d.Default:
			tier = 1
		}
		score := mix(user ^ d.Hash)
		if tier > bestTier || tier == bestTier && score > bestScore {
			best, bestTier, bestScore = i, tier, score
		}
	}
	return best
}

// mix is SplitMix64's finalizer (Steele, Lea and Flood, "Fast splittable pseudorandom
// number generators", 2014): every input bit moves every output bit, so the XOR of two
// hashes ranks directories independently for each user.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// hashBytes is 64-bit FNV-1a (RFC draft-eastlake-fnv), stable across processes, so that
// replicas of a meta-directory send one user to the same directory.
func hashBytes(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return h
}
