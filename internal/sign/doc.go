// Package sign holds odi's keys and request signatures.
//
// Keys are ed25519 key pairs in minisign's file format (aead.dev/minisign), so the
// minisign tool can read them: a private key file (mode 0600, unencrypted, because
// daemons sign without a person at hand) and a ".pub" file beside it. A key is named by
// its Fingerprint, a hash of all of it, never by its 64-bit key id alone, which whoever
// makes a key may choose.
//
// Every request that changes state (publish, admin, relay) is signed. The client sends:
//
//	Odi-Date:           RFC 3339 time of signing, UTC
//	Odi-Nonce:          16 random bytes, base64url
//	Odi-Content-Sha256: hex sha256 of the content the request vouches for (its body, or
//	                    for a publish the manifest that binds every byte)
//	Odi-Public-Key:     the signing key's minisign public key line
//	Odi-Directory:      the origin signed for (informational: shown when it differs)
//	Authorization:      Odi-Minisign <base64 of a minisign signature>
//
// and the signature covers "odi-request-v2", the directory's origin (scheme and host of
// the URL the signer sends to, see Origin), the method, the request URI, the date, the
// nonce and the content digest, one per line. Everything a verifier checks is in the
// headers, so it can refuse a request before reading its body: the key (looked up by
// the whole public key), the date (Claims.Fresh), the signature (Claims.Verify, with the
// verifier's own origin), and then the body against the digest (Claims.CheckContent).
// Refusing a nonce seen before within the skew window is the caller's job, as it needs
// storage.
package sign
