// Package sign holds odi's keys and request signatures.
//
// Keys are ed25519 key pairs in minisign's file format (aead.dev/minisign), so the
// minisign tool can read them: a private key file (mode 0600, unencrypted, because
// daemons sign without a person at hand) and a ".pub" file beside it.
//
// Every request that changes state (publish, admin, relay) is signed. The client sends:
//
//	Odi-Date:           RFC 3339 time of signing, UTC
//	Odi-Nonce:          16 random bytes, base64url
//	Odi-Content-Sha256: hex sha256 of the content the request vouches for (its body, or
//	                    for a publish the manifest that binds every byte)
//	Authorization:      Odi-Minisign <base64 of a minisign signature>
//
// and the signature covers "odi-request-v1", the method, the request URI, the date, the
// nonce and the content digest, one per line. A verifier refuses dates outside a clock
// skew window; refusing a nonce seen before within that window is the caller's job, as it
// needs storage (see Claims.Verify).
package sign
