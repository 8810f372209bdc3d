// Package statuslist publishes and reads certificate revocation as W3C
// Bitstring Status Lists (Recommendation, 2025-05-15), so that anyone can
// learn whether a certificate was revoked from one small signed file,
// without asking certd and without certd learning who asked.
//
// # What a list proves
//
// Each institution keeps one list of bits. A certificate record carries a
// credentialStatus Entry naming the list's URL and an index; bit index of
// the list is 1 when that certificate is revoked. The list is itself a
// credential (Credential), signed by the institution with its current key
// as a compact JWS (EdDSA, typ vc+jwt, kid the key's thumbprint), so a
// verifier who holds the institution's keys (the trust bundle) can check
// it offline: "as of ValidFrom, the institution said certificate i was
// (not) revoked". It proves nothing about certificates outside the list,
// and nothing about what happened after ValidFrom.
//
// # Herd privacy
//
// A verifier fetches the whole list, not one certificate's status, so the
// publisher (or a CDN log) cannot tell which certificate is being checked.
// That only hides someone among many: a list is at least MinBits (131,072)
// entries even for a college that issued a hundred certificates, and
// indexes are drawn at random (RandomFree), so an index says nothing about
// when a certificate was issued or how many there are. Which indexes are
// taken is the store's knowledge and is never published.
//
// # Freshness
//
// A list is a snapshot. Its ttl says how long after ValidFrom it may be
// relied on; after that, or when no list can be had, the status of a
// certificate is "cannot determine, status as of ValidFrom", never "not
// revoked": a verifier that could not fetch the list must not pass a
// revoked certificate. Check encodes the rule: a set bit is Revoked (a
// revocation is final), a clear bit is Active only while the list is
// fresh, and otherwise Unknown with ErrStale.
//
// # Encoding and bounds
//
// The bits go out as encodedList: "u" (multibase base64url) + base64url,
// no padding, of the GZIP-compressed bitstring, index 0 being the left-most
// (most significant) bit of the first byte. The IETF Token Status List
// draft differs in every one of these details; do not mix them. Lists come
// from the network, so Decode reads at most MaxEncodedLen characters and
// inflates at most MaxBits bits, and refuses anything else.
//
// Every error wraps one of the Err values (errors.Is), whose messages are in
// Chinese, then English.
package statuslist
