package sdjwt

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"github.com/golang-jwt/jwt/v5"
)

// Claims is what Issue signs. Values are anything encoding/json marshals.
type Claims struct {
	// Visible claims are plain claims of the signed JWT, shown to every
	// verifier. They must include a non-empty string "vct" (SD-JWT VC).
	Visible map[string]any
	// Disclosable claims become one top-level disclosure each; the holder
	// shows or hides each one as a whole.
	Disclosable map[string]any
	// Decoys is how many decoy digests to add to _sd (0 to 16), so that a
	// verifier cannot count the claims it was not shown.
	Decoys int
}

// Issue makes an SD-JWT VC of c signed with priv: alg EdDSA, typ dc+sd-jwt,
// kid the key's RFC 7638 thumbprint, serialised with all disclosures and a
// trailing tilde. Its errors are the caller's mistakes, not user input.
func Issue(c Claims, priv ed25519.PrivateKey) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", errors.New("sdjwt: not an Ed25519 private key")
	}
	if c.Decoys < 0 || c.Decoys > maxDecoys {
		return "", fmt.Errorf("sdjwt: %d decoys, want 0 to %d", c.Decoys, maxDecoys)
	}
	if len(c.Disclosable) > MaxDisclosures {
		return "", fmt.Errorf("sdjwt: %d disclosable claims, at most %d verify", len(c.Disclosable), MaxDisclosures)
	}
	for name := range c.Visible {
		if name == keySD || name == keyAlg || name == keyDots {
			return "", fmt.Errorf("sdjwt: visible claim name %q is reserved", name)
		}
	}
	// One JSON round trip for all visible claims, not one per claim: it is
	// most of the cost of issuing after the signature (10,000 per roster).
	nv, err := normalise(c.Visible)
	if err != nil {
		return "", fmt.Errorf("sdjwt: visible claims: %w", err)
	}
	visible, _ := nv.(map[string]any)
	payload := make(jwt.MapClaims, len(visible)+2)
	for name, v := range visible {
		payload[name] = v
	}
	if vct, _ := payload["vct"].(string); vct == "" {
		return "", errors.New(`sdjwt: visible claims need a non-empty string "vct"`)
	}

	// Map order is random; sorting the names only makes errors repeatable.
	// The digests are sorted below, which is what hides the claim order.
	names := make([]string, 0, len(c.Disclosable))
	for name := range c.Disclosable {
		names = append(names, name)
	}
	slices.Sort(names)
	disclosures := make([]string, 0, len(names))
	digests := make([]string, 0, len(names)+c.Decoys)
	for _, name := range names {
		switch {
		case name == keySD || name == keyAlg || name == keyDots:
			return "", fmt.Errorf("sdjwt: disclosable claim name %q is reserved", name)
		case vcProtected[name]:
			return "", fmt.Errorf("sdjwt: SD-JWT VC forbids making %q selectively disclosable", name)
		}
		if _, ok := c.Visible[name]; ok {
			return "", fmt.Errorf("sdjwt: %q is both visible and disclosable", name)
		}
		nv, err := normalise(c.Disclosable[name])
		if err != nil {
			return "", fmt.Errorf("sdjwt: disclosable claim %q: %w", name, err)
		}
		raw, err := encodeJSON([]any{randomB64(saltSize), name, nv})
		if err != nil {
			return "", fmt.Errorf("sdjwt: disclosable claim %q: %w", name, err)
		}
		d := b64.EncodeToString(raw)
		if len(d) > MaxDisclosureSize {
			return "", fmt.Errorf("sdjwt: disclosable claim %q makes a disclosure of %d bytes, at most %d verify", name, len(d), MaxDisclosureSize)
		}
		disclosures = append(disclosures, d)
		digests = append(digests, digest(d))
	}
	for range c.Decoys {
		// RFC 9901 section 4.2.5: the digest of a random number.
		digests = append(digests, digest(randomB64(32)))
	}
	if len(digests) > 0 {
		slices.Sort(digests)
		payload[keySD] = digests
	}
	payload[keyAlg] = HashAlg

	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, payload)
	tok.Header["typ"] = Type
	tok.Header["kid"] = thumbprint(priv.Public().(ed25519.PublicKey))
	signed, err := tok.SignedString(priv)
	if err != nil {
		return "", fmt.Errorf("sdjwt: signing: %w", err)
	}
	out := (&parts{jwt: signed, disclosures: disclosures}).String()
	if len(out) > MaxSize {
		return "", fmt.Errorf("sdjwt: the credential has %d bytes, at most %d verify", len(out), MaxSize)
	}
	return out, nil
}

// normalise turns a Go value into the generic JSON value a verifier will
// see, and rejects the reserved names _sd and "..." inside it: a verifier
// would take them for digests.
func normalise(v any) (any, error) {
	raw, err := encodeJSON(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := decodeJSON(raw, &out); err != nil {
		return nil, err
	}
	if err := checkReserved(out, 0); err != nil {
		return nil, err
	}
	return out, nil
}

func checkReserved(v any, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("nested deeper than %d", MaxDepth)
	}
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if k == keySD || k == keyDots {
				return fmt.Errorf("contains the reserved name %q", k)
			}
			if err := checkReserved(e, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range v {
			if err := checkReserved(e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func randomB64(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b64.EncodeToString(b)
}

// Present makes a presentation of an issued SD-JWT that keeps only the
// top-level disclosures of the named claims, in their original order, and
// drops every other disclosure. It does not verify the signature (the holder
// got the credential from certd); it does check the serialisation with the
// same bounds as Verify, and returns ErrUnknownClaim, wrapped with the name,
// for a name the credential cannot disclose.
func Present(issued string, names ...string) (string, error) {
	p, err := split(issued)
	if err != nil {
		return "", err
	}
	payload := jwt.MapClaims{}
	if _, _, err := parser.ParseUnverified(p.jwt, payload); err != nil {
		return "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	// Only disclosures referenced from the top-level _sd can be shown on
	// their own; a nested one would arrive without its parent.
	top := map[string]bool{}
	if sd, ok := payload[keySD].([]any); ok {
		for _, d := range sd {
			if s, ok := d.(string); ok {
				top[s] = true
			}
		}
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	found := map[string]bool{}
	kept := make([]string, 0, len(names))
	for _, s := range p.disclosures {
		d, err := decodeDisclosure(s)
		if err != nil {
			return "", err
		}
		if d.name == nil || !top[d.digest] || !want[*d.name] {
			continue
		}
		if found[*d.name] {
			return "", fmt.Errorf("%w: two disclosures of %q", ErrBadDisclosure, *d.name)
		}
		found[*d.name] = true
		kept = append(kept, s)
	}
	for _, n := range names {
		if !found[n] {
			return "", fmt.Errorf("%w: %q", ErrUnknownClaim, n)
		}
	}
	p.disclosures = kept
	return p.String(), nil
}
