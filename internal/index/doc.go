// Package index is the trust logic of issue 15: signed, versioned, expiring indexes.
//
// An indexer (a person or project that vouches for artifacts) publishes an Index: the
// artifacts it vouches for, each with its infohash and its files' sizes and sha256, a
// version that only grows, and an expiry. The document is canonical JSON (Marshal; Parse
// refuses any other byte form, so one index has one digest) signed with minisign, so
// stock "minisign -Vm index.json -p key.pub" checks it too. The signature's trusted
// comment repeats the format, key id, version and expiry, so a verifier refuses an
// expired index, or one from the wrong key, before parsing it. The directory hosts
// indexes but need not be trusted: everything a follower accepts is checked against keys
// it chose.
//
// A follower (a relay, or odi fetch --trust) keeps a State per followed key and refuses,
// beyond what Verify refuses (bad signature, wrong key, expired, too large, not
// canonical): a version lower than one it accepted (rollback), a second document for a
// version it accepted (equivocation), and keys revoked or retired. An expired index is
// refused however it arrives, so a directory that stops serving new versions (a freeze)
// leaves followers with nothing after at most one TTL (DefaultTTL, 7 days).
//
// Rotation: an indexer announces its successor key in next_key of the indexes its
// current key signs. A follower then follows both (State.Followed). Once the successor
// signs an index the follower accepts, the old key is retired: its indexes are refused
// from then on. Versions count per key; the successor may start again at 1.
//
// Revocation: an index with revoked set is its key's last word, and reaches followers
// the way every index does; a detached Revocation names a key by its whole public key and
// is signed by that key or by a root key the follower trusts. A revoked key's indexes are
// refused, the revoking one's entries too, and so is a
// successor it announced that had not yet signed an accepted index, since whoever stole
// the key could have announced it.
package index
