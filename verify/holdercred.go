package verify

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"certd/issuer"
	"certd/issuer/credential"
	"certd/issuer/credential/sdjwt"
)

// A holder credential (SD-JWT VC, typ dc+sd-jwt) is checked like a signed
// record: the same format, issuer, signature, key window, registration,
// scope and status checks, in the same order, with the same verdicts. What
// differs is the format (RFC 9901's disclosures, each checked against a
// digest the institution signed) and what the verifier learns: the
// always-visible claims, and of the personal ones only those the holder
// chose to disclose.

// IsCredential reports whether a presented text is an SD-JWT (it has the
// '~' separators) rather than a compact JWS record.
func IsCredential(s string) bool { return strings.Contains(s, "~") }

// VerifyPresented verifies what someone presents as text: a holder
// credential (SD-JWT, with '~') or a signed record (compact JWS).
func (v *Verifier) VerifyPresented(ctx context.Context, s string) Result {
	if IsCredential(s) {
		return v.VerifyCredential(ctx, s)
	}
	return v.VerifyToken(ctx, s)
}

// CredentialHash is how the register's copy of a holder credential is
// compared with a presented one: the hex SHA-256 of the issuer-signed JWT,
// which every presentation of the credential shares whatever it discloses.
// "" for no credential.
func CredentialHash(cred string) string {
	cred = strings.TrimSpace(cred)
	if cred == "" {
		return ""
	}
	j, _, _ := strings.Cut(cred, "~")
	sum := sha256.Sum256([]byte(j))
	return hex.EncodeToString(sum[:])
}

// Disclosed is what the holder chose to show of a verified credential;
// zero values were not disclosed.
type Disclosed struct {
	Claims      []string            `json:"claims"` // the disclosed claim names, sorted
	Name        string              `json:"name,omitempty"`
	DocType     string              `json:"document_type,omitempty"`
	DocHash     *credential.DocHash `json:"-"`
	BirthDate   string              `json:"birth_date,omitempty"`
	PhotoDigest string              `json:"photo_digest,omitempty"`
}

// alwaysVisible are the claims a certd credential never hides: a
// disclosure may not supply them, and a credential without them plain is
// not certd's.
var alwaysVisible = []string{"iss", "iat", "vct", "jti", "certificateNumber", "occupationCode", "occupationName",
	"specialty", "level", "levelName", "issuedOn", "validFrom", "issuer"}

// unverifiedParser reads the issuer-signed JWT before its key is known.
var unverifiedParser = jwt.NewParser(jwt.WithJSONNumber())

// VerifyCredential verifies a presentation of a holder credential (or the
// whole credential). Result.Claims carries the always-visible claims and
// the name and document hash only when disclosed; Result.Disclosed says
// what was.
func (v *Verifier) VerifyCredential(ctx context.Context, presentation string) Result {
	presentation = strings.TrimSpace(presentation)
	b := builder{checks: make([]Check, 0, len(checkLabels))}
	res := Result{}
	if v.Registry == nil {
		b.set(CheckFormat, Unknown, "暂时无法加载备案目录", "the institution register could not be loaded")
		b.skipRest(CheckFormat)
		return finish(res, b)
	}
	formatFail := func(zh, en string) Result {
		b.set(CheckFormat, Fail, zh, en)
		b.skipRest(CheckFormat)
		return finish(res, b)
	}
	// The issuer-signed JWT is read once unverified, to find whose
	// registration holds the key; nothing in it counts until sdjwt.Verify
	// checked it with that key.
	pre := jwt.MapClaims{}
	var tok *jwt.Token
	var err error
	if len(presentation) <= sdjwt.MaxSize {
		j, _, _ := strings.Cut(presentation, "~")
		tok, _, err = unverifiedParser.ParseUnverified(j, pre)
	}
	if len(presentation) > sdjwt.MaxSize || err != nil || !IsCredential(presentation) ||
		tok.Header["alg"] != "EdDSA" || tok.Header["typ"] != sdjwt.Type {
		// The library names the problem (size, alg none, typ, a plain
		// JWT) exactly as it would reject it.
		_, err := sdjwt.Verify(presentation, func(string) (ed25519.PublicKey, error) { return nil, sdjwt.ErrUnknownKey })
		if err == nil || errors.Is(err, sdjwt.ErrUnknownKey) {
			err = sdjwt.ErrMalformed
		}
		zh, en := halves(err)
		return formatFail("不是有效的持证人凭证（SD-JWT）："+zh, "not a valid holder credential (SD-JWT): "+en)
	}
	for _, name := range alwaysVisible {
		if _, ok := pre[name]; !ok {
			return formatFail("凭证缺少始终公开的字段"+name, "the credential lacks the always-visible claim "+name)
		}
	}
	if pre["vct"] != issuer.CredentialType {
		return formatFail("不是职业技能等级证书的持证人凭证", fmt.Sprintf("not a skill level certificate credential (vct %v)", pre["vct"]))
	}
	claims, ok := claimsOf(pre)
	if !ok {
		return formatFail("凭证字段类型不正确", "the credential's claims have the wrong types")
	}
	if zh, en, ok := shapeOK(claims); !ok {
		return formatFail(zh, en)
	}
	kid, _ := tok.Header["kid"].(string)
	reg, key, pub, ok := v.issuerKey(&b, claims, kid)
	if !ok {
		return finish(res, b)
	}
	res.Registration = &reg
	r, err := sdjwt.Verify(presentation, func(k string) (ed25519.PublicKey, error) {
		if k != kid {
			return nil, sdjwt.ErrUnknownKey
		}
		return pub, nil
	})
	if err != nil {
		zh, en := halves(err)
		for _, e := range []error{sdjwt.ErrTooLarge, sdjwt.ErrMalformed, sdjwt.ErrKeyBinding, sdjwt.ErrAlgorithm, sdjwt.ErrType, sdjwt.ErrHashAlg, sdjwt.ErrExpired} {
			if errors.Is(err, e) {
				return formatFail("不是有效的持证人凭证（SD-JWT）："+zh, "not a valid holder credential (SD-JWT): "+en)
			}
		}
		// A bad signature, or disclosures that are not the ones signed:
		// altered, duplicated, unreferenced, overwriting.
		b.set(CheckFormat, Pass, "", "")
		b.set(CheckIssuer, Pass, reg.Name, reg.Name)
		b.set(CheckSignature, Fail, "签名或披露项验证失败，凭证可能被篡改："+zh, "the signature or a disclosure does not verify; the credential may have been altered: "+en)
		b.skipRest(CheckSignature)
		return finish(res, b)
	}
	for _, name := range append(alwaysVisible, "credentialStatus") {
		if r.IsDisclosed(name) {
			return formatFail("凭证把始终公开的字段"+name+"作为可选披露项", "the credential makes the always-visible claim "+name+" selectively disclosable")
		}
	}
	// From here on only the verified claims count.
	verified, ok := claimsOf(r.Claims)
	if !ok || verified.CredentialSubject.Achievement != claims.CredentialSubject.Achievement || verified.Issuer != claims.Issuer ||
		(verified.CredentialStatus == nil) != (claims.CredentialStatus == nil) {
		return formatFail("凭证字段类型不正确", "the credential's claims have the wrong types")
	}
	d := &Disclosed{Claims: make([]string, 0, len(r.Disclosed))}
	for _, p := range r.Disclosed {
		d.Claims = append(d.Claims, strings.TrimPrefix(p, "/"))
	}
	slices.Sort(d.Claims)
	d.Name, _ = r.Claims["name"].(string)
	d.DocType, _ = r.Claims["documentType"].(string)
	d.BirthDate, _ = r.Claims["birthDate"].(string)
	d.PhotoDigest, _ = r.Claims["photoDigest"].(string)
	if raw, ok := r.Claims["documentHash"]; ok {
		var h credential.DocHash
		if bs, err := json.Marshal(raw); err == nil && json.Unmarshal(bs, &h) == nil {
			d.DocHash = &h
			verified.CredentialSubject.DocHash = h
		}
	}
	verified.CredentialSubject.Name, verified.CredentialSubject.DocType = d.Name, d.DocType
	res.Claims, res.Disclosed = verified, d
	hash := CredentialHash(presentation)
	return v.registered(ctx, res, b, reg, key, func(st StatusInfo) (bool, bool) {
		// A register that holds the record holds the credential made with
		// it, or none: a credential it does not hold is not its.
		return st.Token != "", st.CredentialHash != "" && st.CredentialHash == hash
	})
}

// claimsOf reads the visible claims of a holder credential into the shape
// of a record's claims, so that both go through the same checks.
func claimsOf(m map[string]any) (*credential.CertificateClaims, bool) {
	str := func(k string) (string, bool) { s, ok := m[k].(string); return s, ok }
	num := func(k string) (int64, bool) {
		switch n := m[k].(type) {
		case json.Number:
			i, err := n.Int64()
			return i, err == nil
		case float64:
			return int64(n), float64(int64(n)) == n
		}
		return 0, false
	}
	var a credential.Achievement
	var iss credential.Issuer
	var c credential.CertificateClaims
	ok := true
	get := func(dst *string, k string) {
		s, o := str(k)
		*dst, ok = s, ok && o
	}
	get(&a.Number, "certificateNumber")
	get(&a.OccupationCode, "occupationCode")
	get(&a.OccupationName, "occupationName")
	get(&a.Specialty, "specialty")
	get(&a.LevelName, "levelName")
	get(&a.IssuedOn, "issuedOn")
	get(&iss.ID, "iss")
	get(&c.ID, "jti")
	get(&c.ValidFrom, "validFrom")
	level, o1 := num("level")
	iat, o2 := num("iat")
	im, o3 := m["issuer"].(map[string]any)
	if !ok || !o1 || !o2 || !o3 || level < 1 || level > 5 {
		return nil, false
	}
	iss.Name, _ = im["name"].(string)
	iss.USCC, _ = im["uscc"].(string)
	a.Level = int(level)
	c.Type = []string{"VerifiableCredential", "SkillLevelCertificate"}
	c.Issuer = iss
	c.CredentialSubject.Achievement = a
	c.RegisteredClaims = jwt.RegisteredClaims{Issuer: iss.ID, ID: c.ID, IssuedAt: jwt.NewNumericDate(time.Unix(iat, 0))}
	if raw, ok := m["credentialStatus"]; ok {
		// The record's status-list entry (optional: records signed before
		// status lists have none); judged by the status check.
		em, ok := raw.(map[string]any)
		if !ok {
			return nil, false
		}
		var e credential.StatusEntry
		for dst, k := range map[*string]string{&e.ID: "id", &e.Type: "type", &e.StatusPurpose: "statusPurpose",
			&e.StatusListIndex: "statusListIndex", &e.StatusListCredential: "statusListCredential"} {
			if *dst, ok = em[k].(string); !ok {
				return nil, false
			}
		}
		c.CredentialStatus = &e
	}
	return &c, true
}

// halves splits a bilingual sdjwt error ("中文 / English: detail").
func halves(err error) (zh, en string) {
	s := err.Error()
	if i := strings.Index(s, " / "); i >= 0 {
		zh, en = s[:i], s[i+3:]
		// The detail after the English text is for both readers.
		if j := strings.Index(en, ": "); j >= 0 {
			zh += en[j:]
		}
		return zh, en
	}
	return s, s
}
