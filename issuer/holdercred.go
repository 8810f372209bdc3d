package issuer

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"certd/issuer/credential"
	"certd/issuer/credential/sdjwt"
	"certd/issuer/ident"
)

// The holder credential is an SD-JWT VC (RFC 9901, typ dc+sd-jwt) issued
// next to the signed record, by the same institution key, at the same
// signing time (iat), from the same claims: a second form of one signing
// act, which the holder can carry and show in part. Its always-visible
// claims are what a verifier needs to judge the certificate (number,
// occupation, level, issuer, dates); the personal ones are disclosures the
// holder chooses to hand on or not.

// CredentialType is the vct of certd's holder credential.
const CredentialType = "urn:certd:vct:skill-level-certificate" // #nosec G101 -- a type name, not a secret

// CredentialContentType is the media type of an SD-JWT VC (SD-JWT VC
// draft, section 3.1), served as NUMBER.sd-jwt.
const CredentialContentType = "application/dc+sd-jwt"

// credentialDecoys is how many decoy digests every credential carries, so
// that a verifier cannot tell from the count of digests whether the
// holder has a birth date or a photo it was not shown.
const credentialDecoys = 3

// DisclosableClaim is a claim of the holder credential the holder may
// show or withhold.
type DisclosableClaim struct {
	Name string // the claim name in the credential
	Zh   string
	En   string
}

// DisclosableClaims are the holder's choices, in the order a page lists
// them. documentType travels with documentHash (PresentCredential adds it):
// the hash cannot be checked without knowing which document it is.
var DisclosableClaims = []DisclosableClaim{
	{"name", "姓名", "name"},
	{"documentHash", "证件号码（加盐散列，可供核对，不显示号码）", "ID document number (salted hash: checkable, not readable)"},
	{"birthDate", "出生日期", "date of birth"},
	{"photoDigest", "照片摘要（可与证书上的照片核对）", "photo digest (to compare with the certificate's photo)"},
}

// HolderActor is the actor of a holder who proved they hold certificate
// number (see the holder sign-in). It may read that certificate's holder
// credential and nothing else: it acts for no institution.
func HolderActor(number string) Actor {
	return Actor{Name: "holder:" + number, Holder: number}
}

// holderClaims turns the claims of a signed record into the holder
// credential's: the same values under flat names. birthDate and
// photoDigest are "" when unknown and then left out.
func holderClaims(rc *credential.CertificateClaims, birthDate, photoDigest string) sdjwt.Claims {
	a := rc.CredentialSubject.Achievement
	visible := map[string]any{
		"iss": rc.Issuer.ID, "iat": rc.IssuedAt.Unix(), "vct": CredentialType, "jti": rc.ID,
		"certificateNumber": a.Number, "occupationCode": a.OccupationCode, "occupationName": a.OccupationName,
		"specialty": a.Specialty, "level": a.Level, "levelName": a.LevelName, "issuedOn": a.IssuedOn,
		"validFrom": rc.ValidFrom,
		"issuer":    map[string]any{"name": rc.Issuer.Name, "uscc": rc.Issuer.USCC},
	}
	// The record's status-list entry, the same one, always visible: an
	// offline verifier checks the credential's revocation bit like the
	// record's. (Not SD-JWT VC's own "status" claim, which names a Token
	// Status List; certd publishes W3C Bitstring Status Lists.)
	if e := rc.CredentialStatus; e != nil {
		visible["credentialStatus"] = e
	}
	s := rc.CredentialSubject
	disclosable := map[string]any{"name": s.Name, "documentType": s.DocType, "documentHash": s.DocHash}
	if birthDate != "" {
		disclosable["birthDate"] = birthDate
	}
	if photoDigest != "" {
		disclosable["photoDigest"] = photoDigest
	}
	return sdjwt.Claims{Visible: visible, Disclosable: disclosable, Decoys: credentialDecoys}
}

// issueHolderCredential signs the holder credential of a record.
func issueHolderCredential(rc *credential.CertificateClaims, h Holder, photoDigest string, priv ed25519.PrivateKey) (string, error) {
	return sdjwt.Issue(holderClaims(rc, BirthDate(h.DocType, h.DocNumber), photoDigest), priv)
}

// BirthDate is the holder's date of birth as YYYY-MM-DD when the document
// number carries it (the 18-digit resident ID and the residence permit of
// Hong Kong, Macao and Taiwan residents), "" otherwise.
func BirthDate(t ident.DocType, number string) string {
	if (t != ident.ResidentID && t != ident.ResidencePermit) || len(number) != 18 {
		return ""
	}
	d, err := time.Parse("20060102", number[6:14])
	if err != nil {
		return ""
	}
	return d.Format(DateLayout)
}

// PhotoDigest is how the credential names a photo: "sha-256:" and the
// base64url SHA-256 of the image file as printed. "" without a photo.
func PhotoDigest(photo []byte) string {
	if len(photo) == 0 {
		return ""
	}
	sum := sha256.Sum256(photo)
	return "sha-256:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// HolderCredential returns the holder credential (the SD-JWT VC with every
// disclosure) of certificate number, to its holder (HolderActor(number))
// or to whoever may read the certificate's institution. A certificate
// issued before credentials existed gets its credential now, once, signed
// with the key that signed its record and dated like the record, so that
// it passes the same key-window, registration and scope checks. Every call
// is audited (without personal data).
func (s *Service) HolderCredential(ctx context.Context, actor Actor, number string) ([]byte, error) {
	unknown := Errorf(ErrNotFound, "certificate_unknown", "证书%s不存在", "no certificate %s", number)
	c, err := s.store.Certificate(ctx, number)
	if err != nil {
		if Is(err, ErrNotFound) {
			return nil, unknown
		}
		return nil, err
	}
	// A holder reaches exactly their certificate; anybody else what their
	// institution may read. Both failures look like an unknown number.
	if actor.Holder != "" {
		if actor.Holder != c.Number {
			return nil, unknown
		}
	} else if err := actor.MayRead(c.InstitutionID); err != nil {
		return nil, unknown
	}
	cred := c.Credential
	if cred == "" {
		if c.Status != Valid {
			return nil, &Error{Kind: ErrConflict, Code: "not_valid",
				Zh: fmt.Sprintf("证书%s已%s，不再签发持证人凭证", number, c.Status.Chinese()),
				En: fmt.Sprintf("certificate %s is %s; no holder credential is issued for it", number, c.Status)}
		}
		made, err := s.backfillCredential(ctx, c)
		if err != nil {
			return nil, err
		}
		ev := s.event(actor, "certificate.credential", c.InstitutionID, c.Number, map[string]any{"kid": c.KID, "backfill": true})
		if cred, err = s.store.SetCredential(ctx, c.Number, made, ev); err != nil {
			return nil, err
		}
	}
	// The holder's downloads are holder actions (issue 14 point 5); an
	// operator's are the college's.
	action := "credential.download"
	if actor.Holder != "" {
		action = "holder.credential_download"
	}
	if err := s.store.AppendAudit(ctx, s.event(actor, action, c.InstitutionID, c.Number, nil)); err != nil {
		return nil, err
	}
	return []byte(cred), nil
}

// backfillCredential makes the credential of a certificate issued without
// one, from its stored record, with the record's own key. The record is
// verified with that key first: a record changed in the database is not
// signed again.
func (s *Service) backfillCredential(ctx context.Context, c Certificate) (string, error) {
	keys, err := s.store.SigningKeys(ctx, c.InstitutionID)
	if err != nil {
		return "", err
	}
	i := slices.IndexFunc(keys, func(k SigningKey) bool { return k.KID == c.KID })
	if i < 0 {
		return "", Errorf(ErrConflict, "no_key", "找不到签发证书%s的机构密钥，无法签发持证人凭证", "the key that signed certificate %s is missing; no holder credential can be issued", c.Number)
	}
	if s.KEK == nil {
		return "", Errorf(ErrUnavailable, "no_kek", "未配置密钥加密密钥（KEK），无法签发持证人凭证", "no key-encryption key is configured; no holder credential can be issued")
	}
	priv, err := s.KEK.Open(keys[i].Sealed, purposeInstitution, keys[i].KID)
	if err != nil {
		return "", &Error{Kind: ErrUnavailable, Code: "wrong_kek", Zh: "无法解开机构签名私钥：密钥加密密钥（KEK）不正确", En: "cannot open the institution's signing key: wrong key-encryption key", Err: err}
	}
	var rc credential.CertificateClaims
	u, err := credential.Decode(c.Token, credential.TypeCertificate, &rc)
	if err == nil {
		err = u.Verify(priv.Public().(ed25519.PublicKey))
	}
	if err != nil || rc.CredentialSubject.Achievement.Number != c.Number || rc.IssuedAt == nil {
		return "", Errorf(ErrConflict, "record_unverified", "证书%s的签名记录未通过验证，无法签发持证人凭证", "the signed record of certificate %s does not verify; no holder credential can be issued", c.Number)
	}
	// The photo is not kept apart from the PDF, so a late credential has
	// no photo digest.
	cred, err := issueHolderCredential(&rc, c.Holder, "", priv)
	if err != nil {
		return "", &Error{Kind: ErrUnavailable, Code: "credential_sign", Zh: "签发持证人凭证失败", En: "signing the holder credential failed", Err: err}
	}
	return cred, nil
}

// PresentCredential makes a presentation of a holder credential that
// discloses exactly the named claims (names from DisclosableClaims; none
// at all shows only what is always visible). It checks the serialisation
// but not the signature: it is the holder's own credential.
func PresentCredential(sdJWT []byte, claims ...string) ([]byte, error) {
	names := make([]string, 0, len(claims)+1)
	for _, n := range claims {
		n = strings.TrimSpace(n)
		if !slices.ContainsFunc(DisclosableClaims, func(d DisclosableClaim) bool { return d.Name == n }) {
			return nil, Errorf(ErrInvalid, "claim_unknown", "“%s”不是可选择披露的内容（可选：name、documentHash、birthDate、photoDigest）",
				"%q is not a claim the holder can disclose (name, documentHash, birthDate, photoDigest)", n)
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
		if n == "documentHash" && !slices.Contains(names, "documentType") {
			names = append(names, "documentType")
		}
	}
	out, err := sdjwt.Present(strings.TrimSpace(string(sdJWT)), names...)
	if err != nil {
		if errors.Is(err, sdjwt.ErrUnknownClaim) {
			return nil, Errorf(ErrInvalid, "claim_absent", "此凭证中没有所选的内容（例如没有照片或出生日期）", "the credential has no such claim (for example no photo or birth date): %v", err)
		}
		return nil, Errorf(ErrInvalid, "credential_malformed", "不是本系统签发的持证人凭证", "not a certd holder credential: %v", err)
	}
	return []byte(out), nil
}

// CredentialClaims lists which of DisclosableClaims a holder credential
// can disclose (a credential without a photo has no photoDigest), in the
// order of DisclosableClaims.
func CredentialClaims(sdJWT []byte) []string {
	var out []string
	for _, d := range DisclosableClaims {
		names := []string{d.Name}
		if d.Name == "documentHash" {
			names = append(names, "documentType")
		}
		if _, err := sdjwt.Present(strings.TrimSpace(string(sdJWT)), names...); err == nil {
			out = append(out, d.Name)
		}
	}
	return out
}

// CredentialFile is the file name a holder credential or presentation is
// served under.
func CredentialFile(number string) string { return number + ".sd-jwt" }
