package sdjwt

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// KeyLookup returns the public key that a kid names. Verify calls it once,
// with the kid of a token whose signature is not checked yet, so it must be
// cheap (a map lookup, no I/O per unknown kid) and should return an error
// wrapping ErrUnknownKey for a kid it does not know. Whether the key belongs
// to the credential's issuer (iss) and was valid when the credential was
// signed (iat) is for the caller to check on the Result.
type KeyLookup func(kid string) (ed25519.PublicKey, error)

// Result is a verified presentation.
type Result struct {
	// Kid is the key that signed the credential.
	Kid string
	// Claims are the plain claims plus the disclosed ones, with _sd and
	// _sd_alg removed. Numbers are json.Number, exactly as signed.
	Claims map[string]any
	// Disclosed lists where the disclosed claims are, as sorted RFC 6901
	// JSON Pointers: "/name" for a top-level claim.
	Disclosed []string
}

// IsDisclosed reports whether the top-level claim name was disclosed (as
// opposed to being a plain claim, or absent).
func (r *Result) IsDisclosed(name string) bool {
	_, found := slices.BinarySearch(r.Disclosed, "/"+pointerEscape.Replace(name))
	return found
}

// parser only holds options, so one serves every call. JSON numbers stay
// json.Number; base64url must be canonical.
var parser = jwt.NewParser(jwt.WithJSONNumber(), jwt.WithStrictDecoding())

// Verify verifies a presentation (or an issued SD-JWT) of certd's SD-JWT VC:
// bounds, then the JWS (alg exactly EdDSA, typ exactly dc+sd-jwt, a kid, no
// crit, the signature with the key lookup returns for the kid, which must be
// that key's thumbprint), then the disclosures by the rules of RFC 9901
// section 7.1, then the SD-JWT VC rules (a vct claim; iss, nbf, exp, cnf,
// vct, vct#integrity and status never disclosed) and exp/nbf if present.
// Every error wraps one of the package's sentinel errors, or the lookup's.
func Verify(presentation string, lookup KeyLookup) (*Result, error) {
	return certdProfile(lookup, time.Now).verify(presentation)
}

// profile is what a verification accepts. certd has exactly one
// (certdProfile); the tests build another to check the RFC's ES256
// examples, which certd never accepts.
type profile struct {
	alg string                        // the one accepted JWS alg
	typ string                        // the one accepted typ
	vc  bool                          // apply the SD-JWT VC rules
	now func() time.Time              // for exp and nbf
	key func(kid string) (any, error) // the verification key for alg
}

func certdProfile(lookup KeyLookup, now func() time.Time) profile {
	return profile{alg: jwt.SigningMethodEdDSA.Alg(), typ: Type, vc: true, now: now,
		key: func(kid string) (any, error) {
			if kid == "" {
				return nil, fmt.Errorf("%w: no kid", ErrMalformed)
			}
			pub, err := lookup(kid)
			if err != nil {
				return nil, err
			}
			if len(pub) != ed25519.PublicKeySize || thumbprint(pub) != kid {
				return nil, fmt.Errorf("%w: the key found is not the one the kid names", ErrUnknownKey)
			}
			return pub, nil
		}}
}

func (pf profile) verify(presentation string) (*Result, error) {
	p, err := split(presentation)
	if err != nil {
		return nil, err
	}
	payload := jwt.MapClaims{}
	tok, segs, err := parser.ParseUnverified(p.jwt, payload)
	// The alg is judged before anything else the header or payload says, so
	// that "none" and HMAC get their own answer however the rest looks.
	if tok != nil && tok.Header != nil {
		if alg, _ := tok.Header["alg"].(string); alg != pf.alg {
			return nil, fmt.Errorf("%w: alg %q", ErrAlgorithm, alg)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if typ, _ := tok.Header["typ"].(string); typ != pf.typ {
		return nil, fmt.Errorf("%w: typ %q, want %q", ErrType, typ, pf.typ)
	}
	if _, ok := tok.Header["crit"]; ok {
		return nil, fmt.Errorf("%w: unsupported crit header", ErrMalformed)
	}
	kid, _ := tok.Header["kid"].(string)
	key, err := pf.key(kid)
	if err != nil {
		return nil, err
	}
	if err := tok.Method.Verify(segs[0]+"."+segs[1], tok.Signature, key); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}

	if alg, ok := payload[keyAlg]; ok && alg != HashAlg {
		return nil, fmt.Errorf("%w: _sd_alg %v, only %s is accepted", ErrHashAlg, alg, HashAlg)
	}
	pr := &processor{byDigest: make(map[string]*disclosure, len(p.disclosures)), seen: map[string]bool{}}
	ds := make([]*disclosure, len(p.disclosures))
	for i, s := range p.disclosures {
		d, err := decodeDisclosure(s)
		if err != nil {
			return nil, fmt.Errorf("%w (disclosure %d)", err, i+1)
		}
		if pr.byDigest[d.digest] != nil {
			return nil, fmt.Errorf("%w: disclosure %d is presented twice", ErrDuplicateDigest, i+1)
		}
		pr.byDigest[d.digest] = d
		ds[i] = d
	}
	claims, err := pr.object(payload, 1, "")
	if err != nil {
		return nil, err
	}
	for i, d := range ds {
		if !d.used {
			return nil, fmt.Errorf("%w: disclosure %d matches no digest the issuer signed", ErrUnreferenced, i+1)
		}
	}
	delete(claims, keyAlg)

	if pf.vc {
		if vct, _ := claims["vct"].(string); vct == "" {
			return nil, fmt.Errorf("%w: no vct claim", ErrType)
		}
		for _, name := range pr.top {
			if vcProtected[name] {
				return nil, fmt.Errorf("%w: %q must not be selectively disclosed", ErrBadDisclosure, name)
			}
		}
	}
	if err := checkTime(claims, pf.now()); err != nil {
		return nil, err
	}
	slices.Sort(pr.disclosed)
	return &Result{Kid: kid, Claims: claims, Disclosed: pr.disclosed}, nil
}

// processor applies RFC 9901 section 7.1 step 3 to the payload: it replaces
// the digests that have a disclosure by the disclosed claims, drops the
// others, and fails on every rule the RFC says must reject the SD-JWT.
type processor struct {
	byDigest  map[string]*disclosure
	seen      map[string]bool // every digest met so far, disclosed or not
	disclosed []string        // JSON Pointers of disclosed claims
	top       []string        // names of top-level disclosed claims
}

var pointerEscape = strings.NewReplacer("~", "~0", "/", "~1")

func (pr *processor) value(v any, depth int, path string) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		return pr.object(v, depth+1, path)
	case []any:
		return pr.array(v, depth+1, path)
	}
	return v, nil
}

// take records a digest met in the payload and returns its disclosure, or
// nil for a decoy or an undisclosed claim. A digest met twice rejects the
// SD-JWT whether or not it was disclosed.
func (pr *processor) take(dg string) (*disclosure, error) {
	if pr.seen[dg] {
		return nil, fmt.Errorf("%w: %s", ErrDuplicateDigest, dg)
	}
	pr.seen[dg] = true
	d := pr.byDigest[dg]
	if d != nil {
		d.used = true
	}
	return d, nil
}

func (pr *processor) object(m map[string]any, depth int, path string) (map[string]any, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrTooLarge, MaxDepth)
	}
	out := make(map[string]any, len(m))
	// Sorted, so that an input with several faults always gets the same
	// answer.
	for _, k := range slices.Sorted(maps.Keys(m)) {
		switch k {
		case keySD:
			continue
		case keyDots:
			return nil, fmt.Errorf("%w: %q outside an array element", ErrMalformed, keyDots)
		}
		v, err := pr.value(m[k], depth, path+"/"+pointerEscape.Replace(k))
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	raw, ok := m[keySD]
	if !ok {
		return out, nil
	}
	sd, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: _sd is not an array", ErrMalformed)
	}
	for _, e := range sd {
		dg, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%w: _sd holds a %T, not a digest", ErrMalformed, e)
		}
		d, err := pr.take(dg)
		if err != nil || d == nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		if d.name == nil {
			return nil, fmt.Errorf("%w: an array-element disclosure is referenced from _sd", ErrBadDisclosure)
		}
		name := *d.name
		if path == "" && name == keyAlg {
			return nil, fmt.Errorf("%w: claim name %q is reserved", ErrBadDisclosure, name)
		}
		if _, exists := out[name]; exists {
			return nil, fmt.Errorf("%w: %q", ErrOverwrite, name)
		}
		p := path + "/" + pointerEscape.Replace(name)
		v, err := pr.value(d.value, depth, p)
		if err != nil {
			return nil, err
		}
		out[name] = v
		pr.disclosed = append(pr.disclosed, p)
		if path == "" {
			pr.top = append(pr.top, name)
		}
	}
	return out, nil
}

func (pr *processor) array(a []any, depth int, path string) ([]any, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d", ErrTooLarge, MaxDepth)
	}
	out := make([]any, 0, len(a))
	for _, e := range a {
		dg, isDigest, err := elementDigest(e)
		if err != nil {
			return nil, err
		}
		if !isDigest {
			v, err := pr.value(e, depth, fmt.Sprintf("%s/%d", path, len(out)))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			continue
		}
		d, err := pr.take(dg)
		if err != nil {
			return nil, err
		}
		if d == nil {
			continue // RFC 9901: undisclosed elements are removed
		}
		if d.name != nil {
			return nil, fmt.Errorf("%w: a claim disclosure is referenced from an array element", ErrBadDisclosure)
		}
		p := fmt.Sprintf("%s/%d", path, len(out))
		v, err := pr.value(d.value, depth, p)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		pr.disclosed = append(pr.disclosed, p)
	}
	return out, nil
}

// elementDigest recognises the array element {"...": "<digest>"}.
func elementDigest(e any) (string, bool, error) {
	m, ok := e.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false, nil
	}
	raw, ok := m[keyDots]
	if !ok {
		return "", false, nil
	}
	dg, ok := raw.(string)
	if !ok {
		return "", false, fmt.Errorf("%w: %q holds a %T, not a digest", ErrMalformed, keyDots, raw)
	}
	return dg, true, nil
}

// checkTime applies exp and nbf when the credential has them (certd's do
// not: a certificate does not expire, it is revoked).
func checkTime(claims map[string]any, now time.Time) error {
	nowF := float64(now.UnixNano()) / float64(time.Second)
	for _, name := range []string{"exp", "nbf"} {
		raw, ok := claims[name]
		if !ok {
			continue
		}
		n, ok := raw.(json.Number)
		if !ok {
			return fmt.Errorf("%w: %s is not a number", ErrMalformed, name)
		}
		f, err := n.Float64()
		if err != nil {
			return fmt.Errorf("%w: %s is not a number", ErrMalformed, name)
		}
		if name == "exp" && nowF >= f || name == "nbf" && nowF < f {
			return fmt.Errorf("%w: %s %s", ErrExpired, name, n)
		}
	}
	return nil
}
