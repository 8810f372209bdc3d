// Package sdjwt issues, presents and verifies certd's holder credential: an
// SD-JWT VC (RFC 9901 Selective Disclosure for JWTs, with the SD-JWT VC
// profile: typ "dc+sd-jwt" and a "vct" claim).
//
// An SD-JWT is a signed JWT in which some claims are replaced by salted
// SHA-256 digests; the claims themselves travel beside the JWT as
// "disclosures", and whoever holds the credential chooses which disclosures
// to hand on. A verifier checks the issuer's signature once and then checks
// each disclosure it received against a digest the issuer signed, so it
// learns exactly the claims the holder chose to show and nothing else.
//
// # What certd shows always and what the holder chooses
//
// Always visible (plain claims of the signed JWT): the issuer (iss), when it
// was signed (iat), the credential type (vct), the certificate number,
// occupation, level, dates and anything else a verifier needs to judge the
// certificate. Selectively disclosable (one disclosure each, top-level): the
// holder's name, the document-number hash, birth date, photo digest. The
// caller decides which claim goes where; Issue only refuses splits that RFC
// 9901 or SD-JWT VC forbid (a claim in both sets; iss, nbf, exp, cnf, vct,
// vct#integrity or status made disclosable; the reserved names _sd, _sd_alg
// and "...").
//
// The wire form is the compact serialisation
//
//	<issuer-signed JWT>~<disclosure>~<disclosure>~...~
//
// with the trailing tilde and no key-binding JWT. A disclosure is
// base64url(JSON [salt, name, value]) with a 128-bit random salt; the JWT
// carries their digests, sorted, in "_sd" with "_sd_alg" "sha-256", plus as
// many decoy digests as the issuer asks for. The JWT is a compact JWS made
// with golang-jwt/jwt/v5: alg EdDSA (Ed25519) only, the key's RFC 7638
// thumbprint as kid, exactly like certd's signed records.
//
// # Verifying anonymous input
//
// Verify takes what anybody may paste or upload, so it bounds the work before
// doing any: at most MaxSize bytes in all, MaxDisclosures disclosures of at
// most MaxDisclosureSize bytes each, JSON nested at most MaxDepth deep, one
// key lookup and one Ed25519 verification. It then applies the processing
// rules of RFC 9901 section 7.1: a digest may occur only once in the whole
// payload, every disclosure presented must be referenced by exactly one
// digest, a disclosure may not replace a claim that is already there, may not
// be named _sd or "...", and _sd_alg must be sha-256. Each failure is one of
// the sentinel errors below (use errors.Is); their text is Chinese first,
// then English, ready for a user.
//
// # Not supported
//
// Key binding: an SD-JWT that ends with a key-binding JWT is rejected with
// ErrKeyBinding, because certd's credentials carry no holder key (a "cnf"
// claim may be carried as an ordinary visible claim, but nothing checks it).
// Also not supported: hash algorithms other than sha-256, signature
// algorithms other than EdDSA, the JWS JSON serialisation, and issuing
// nested or array-element disclosures (Verify does process those, as RFC
// 9901 defines them, so that credentials from other issuers' libraries and
// the RFC's own examples can be checked).
package sdjwt
