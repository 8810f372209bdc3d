package credential

import (
	"crypto/ed25519"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Batch verifies many signatures at once. Checking n Ed25519 signatures
// together costs about a third of checking them one by one (one
// multi-scalar multiplication instead of n double-scalar ones), which is
// what lets a verification service re-check every record it reads from its
// database, even when a flood of different numbers empties its cache.
//
// A batch answers only "all valid" or "not all valid". When it says "not
// all", the caller checks each signature with [Unverified.Verify], so every
// failure is judged exactly as a single check judges it.
//
// The batch equation is the cofactored one (RFC 8032 §5.1.7 permits either);
// crypto/ed25519, and so [Unverified.Verify] and the offline verifier, use
// the cofactorless one. They agree on every signature except ones built
// deliberately with small-order components, which only the holder of the
// signing key can make: no one else can get a record past either check.
type Batch struct {
	bv *voi.BatchVerifier
	n  int
	ok bool // false once an entry was refused before verification
}

// NewBatch starts an empty batch sized for n signatures.
func NewBatch(n int) *Batch {
	return &Batch{bv: voi.NewBatchVerifierWithCapacity(n), ok: true}
}

// Add queues u's signature under key. A key that does not match the kid
// makes the batch fail, like [Unverified.Verify] would.
func (b *Batch) Add(u *Unverified, key ed25519.PublicKey) {
	b.n++
	xk, ok := expanded(key, u.Header.Kid)
	if !ok || len(u.sig) != ed25519.SignatureSize {
		b.ok = false
		return
	}
	b.bv.AddExpanded(xk, u.signingInput, u.sig)
}

// Len is the number of signatures added.
func (b *Batch) Len() int { return b.n }

// Verify reports whether every signature added verifies.
func (b *Batch) Verify() bool {
	if !b.ok {
		return false
	}
	if b.n == 0 {
		return true
	}
	return b.bv.VerifyBatchOnly(nil)
}

// expandedKeys caches the precomputed form of each institution key: there
// are a few per institution, and expanding one costs as much as a check.
var expandedKeys sync.Map // kid → *voi.ExpandedPublicKey

func expanded(key ed25519.PublicKey, kid string) (*voi.ExpandedPublicKey, bool) {
	if len(key) != ed25519.PublicKeySize {
		return nil, false
	}
	if x, ok := expandedKeys.Load(kid); ok {
		xe := x.(*expandedKey)
		// The kid is the key's thumbprint, so equal kids mean equal keys;
		// compare anyway, so a kid collision can never lend a key.
		if string(xe.pub) == string(key) {
			return xe.x, true
		}
		return nil, false
	}
	if KID(key) != kid {
		return nil, false
	}
	x, err := voi.NewExpandedPublicKey(voi.PublicKey(key))
	if err != nil {
		return nil, false
	}
	expandedKeys.Store(kid, &expandedKey{pub: append(ed25519.PublicKey(nil), key...), x: x})
	return x, true
}

type expandedKey struct {
	pub ed25519.PublicKey
	x   *voi.ExpandedPublicKey
}
