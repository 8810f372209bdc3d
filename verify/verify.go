// Package verify answers the question an employer or a credit-transfer
// office asks: is this certificate genuine, was it issued by a registered
// institution within its scope, and is it still valid?
//
// A [Verifier] checks a signed certificate record (the JWS embedded in the
// PDF and carried by the API) against a [Registry] of institution
// registrations, each signed by the provincial authority, and optionally
// against a live [StatusSource]. The registry comes from a trust bundle
// (certd trust export), so verification works offline; status needs the
// issuer's register and is reported as "could not check" without it.
//
// Every check reports pass, fail or could not check, and the verdict is
// "valid" only when all of them passed. A verifier that cannot reach the
// status register must say so, never "not revoked"; a status source whose
// knowledge may be behind the register says so too
// ([StatusInfo].Unconfirmed), and "valid" becomes [Stale].
//
// The package also holds the view model of public verification. A
// [Record] is the verdict of one stored certificate with everything any
// viewer may be shown, built once ([Verifier.Records]) and cached; what one
// viewer sees is cut from it by what they proved ([Record.For]: the number
// alone, the QR's code, or a confirmed name). [TokenResult] is the answer
// to someone who presents a record or a certificate PDF ([TokenFromPDF],
// [PDFCheck]).
//
// Public verification reads the issuer's store only through [Store], a
// read interface of eight methods. The lookup service that caches records
// and keeps them fresh is package verify/cache; the pages and the API are
// package verify/web. The offline verifier (certd verify) needs only this
// package and a trust bundle.
package verify

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"certd/issuer"
	"certd/issuer/certno"
	"certd/issuer/credential"
)

// Outcome is the result of one check.
type Outcome string

const (
	Pass    Outcome = "pass"
	Fail    Outcome = "fail"
	Unknown Outcome = "unknown" // could not check
)

// Verdict sums up the checks.
type Verdict string

const (
	Valid      Verdict = "valid"      // 有效: every check passed
	Revoked    Verdict = "revoked"    // 已撤销
	Superseded Verdict = "superseded" // 已更正: replaced by a corrected reissue
	Invalid    Verdict = "invalid"    // 无效: forged, altered or issued outside the rules
	NotFound   Verdict = "not_found"  // 未找到
	Undecided  Verdict = "unknown"    // 无法确认: a check could not be made
	// Stale is the answer of a service that would have said valid (or not
	// found) but cannot vouch that its view of the register is current: it
	// could not reach the register within the freshness bound, and a
	// revocation (or an issuance) made since would be missing from what
	// it knows. It says nothing against the certificate.
	Stale Verdict = "stale" // 无法确认当前状态
)

// Chinese returns the verdict as shown to users.
func (v Verdict) Chinese() string {
	switch v {
	case Valid:
		return "有效"
	case Revoked:
		return "已撤销"
	case Superseded:
		return "已更正"
	case Invalid:
		return "无效"
	case NotFound:
		return "未找到"
	case Stale:
		return "无法确认当前状态"
	}
	return "无法确认"
}

// English returns the verdict in English.
func (v Verdict) English() string {
	switch v {
	case Valid:
		return "valid"
	case Revoked:
		return "revoked"
	case Superseded:
		return "superseded"
	case Invalid:
		return "invalid"
	case NotFound:
		return "not found"
	case Stale:
		return "cannot confirm the current status"
	}
	return "cannot determine"
}

// Check is one step of verification.
type Check struct {
	ID       string  `json:"id"`
	Outcome  Outcome `json:"outcome"`
	Zh       string  `json:"zh"` // what was checked
	En       string  `json:"en"`
	DetailZh string  `json:"detail_zh,omitempty"`
	DetailEn string  `json:"detail_en,omitempty"`
}

// Check IDs, in the order they are made.
const (
	CheckFormat       = "format"
	CheckIssuer       = "issuer"
	CheckSignature    = "signature"
	CheckKeyWindow    = "key_window"
	CheckRegistration = "registration"
	CheckScope        = "scope"
	CheckStatus       = "status"
	// CheckPDF is made only for an uploaded PDF: the file is the one issued.
	CheckPDF = "pdf_identical"
	// CheckLog: the certificate is recorded in the public log (issue 11).
	CheckLog = "public_log"
)

var checkLabels = map[string][2]string{
	CheckFormat:       {"记录格式与签名算法", "record format and signature algorithm"},
	CheckIssuer:       {"发证机构经主管部门备案", "issuer registered by the authority"},
	CheckSignature:    {"发证机构数字签名", "issuer's digital signature"},
	CheckKeyWindow:    {"签名密钥在有效期内", "signing key within its validity window"},
	CheckRegistration: {"发证日机构备案有效", "registration in force on the issue date"},
	CheckScope:        {"职业、工种和等级在备案范围内", "occupation, 工种 and level within registered scope"},
	CheckStatus:       {"证书状态（未撤销、未更正）", "certificate status (not revoked or superseded)"},
	CheckPDF:          {"与签发的PDF文件完全一致", "file identical to the issued PDF"},
	CheckLog:          {"已记入公开日志", "recorded in the public log"},
}

// StatusInfo is the register's word on a certificate.
type StatusInfo struct {
	Found        bool
	Status       string // valid, revoked, superseded
	Reason       string
	ReasonZh     string
	Note         string
	RevokedAt    time.Time
	SupersededBy string
	PDFSHA256    string
	// Token is the record the issuer stored. A presented record that
	// differs (even one that verifies, signed with a key that was once the
	// institution's) is not the certificate the register vouches for.
	Token string
	// CredentialHash is the register's holder credential
	// ([CredentialHash]), "" if it has none: a presented credential must
	// be that one.
	CredentialHash string
	// Unconfirmed is set by a source that cannot vouch for the status
	// being current: what it holds (Found, Status) was the register's word
	// as of AsOf, and a change made since may be missing. A verifier then
	// answers [Stale] where it would have said valid or not found.
	Unconfirmed bool
	AsOf        time.Time
}

// UnconfirmedCheck is the status check of a source that could not confirm
// the current status: the time of what it last knew, and that this is no
// verdict against the certificate.
func UnconfirmedCheck(asOf time.Time) Check {
	at := asOf.In(issuer.ChinaTime).Format("2006-01-02 15:04:05")
	l := checkLabels[CheckStatus]
	return Check{ID: CheckStatus, Outcome: Unknown, Zh: l[0], En: l[1],
		DetailZh: "状态截至" + at + "（北京时间）：暂时无法连接证书登记册，无法确认此后是否撤销；这不表示证书无效",
		DetailEn: "status as of " + at + " (China time): the certificate register cannot be reached, so a later revocation cannot be ruled out; this does not mean the certificate is invalid"}
}

// StatusSource looks up the live status of a certificate by number.
type StatusSource interface {
	Status(ctx context.Context, number string) (StatusInfo, error)
}

// Result is the outcome of verifying one record.
type Result struct {
	Verdict      Verdict                       `json:"verdict"`
	Checks       []Check                       `json:"checks"`
	Claims       *credential.CertificateClaims `json:"-"`
	Registration *credential.Registration      `json:"-"`
	Status       *StatusInfo                   `json:"-"`
	// Inputs are what an offline verdict was reached with, each with its
	// time (the status list used; the caller adds the bundle and clock).
	Inputs []Input `json:"inputs,omitempty"`
	// Disclosed is set for a holder credential: what its holder chose to
	// show. Claims then carry the name and document hash only if shown.
	Disclosed *Disclosed `json:"-"`
}

// Outcome returns the outcome of check id.
func (r Result) Outcome(id string) Outcome {
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Outcome
		}
	}
	return ""
}

// With adds a check made outside the verifier (an uploaded file's
// [CheckPDF]) and sums up the verdict again.
func (r Result) With(c Check) Result {
	return finish(r, builder{checks: append(slices.Clip(r.Checks), c)})
}

// Registry holds verified registrations by institution.
type Registry struct {
	Authority credential.Authority
	byInst    map[string][]credential.Registration // sorted by EffectiveAt, Version
}

// NewRegistry verifies every registration of a trust bundle with the
// authority key. A registration that does not verify is an error: a trust
// bundle is all-or-nothing.
func NewRegistry(tb *credential.TrustBundle) (*Registry, error) {
	akey, err := tb.Authority.JWK.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("authority key: %w", err)
	}
	r := &Registry{Authority: tb.Authority, byInst: map[string][]credential.Registration{}}
	for i, tok := range tb.Registrations {
		var rc credential.RegistrationClaims
		_, err := credential.Parse(tok, credential.TypeRegistration, &rc, func(kid string, _ jwt.Claims) (ed25519.PublicKey, error) {
			if kid != credential.KID(akey) {
				return nil, credential.ErrUnknownKey
			}
			return akey, nil
		})
		if err != nil {
			return nil, fmt.Errorf("registration %d does not verify with the authority key: %w", i+1, err)
		}
		if rc.Issuer != credential.AuthorityID || rc.Subject != credential.InstitutionURN(rc.Registration.InstitutionID) {
			return nil, fmt.Errorf("registration %d has wrong iss/sub", i+1)
		}
		reg := rc.Registration
		r.byInst[reg.InstitutionID] = append(r.byInst[reg.InstitutionID], reg)
	}
	for id := range r.byInst {
		slices.SortFunc(r.byInst[id], func(a, b credential.Registration) int {
			if a.EffectiveAt != b.EffectiveAt {
				return int(a.EffectiveAt - b.EffectiveAt)
			}
			return a.Version - b.Version
		})
	}
	return r, nil
}

// At returns the registration of institution id in force at unix time t.
func (r *Registry) At(id string, t int64) (credential.Registration, bool) {
	var out credential.Registration
	found := false
	for _, reg := range r.byInst[id] {
		if reg.EffectiveAt <= t {
			out, found = reg, true
		}
	}
	return out, found
}

// Latest returns the newest registration of institution id.
func (r *Registry) Latest(id string) (credential.Registration, bool) {
	vs := r.byInst[id]
	if len(vs) == 0 {
		return credential.Registration{}, false
	}
	return vs[len(vs)-1], true
}

// Known reports whether the registry has any registration of id.
func (r *Registry) Known(id string) bool { return len(r.byInst[id]) > 0 }

// JWKS is the registry as a JSON Web Key Set, for any JOSE library to
// check records with: the authority key, and every institution key ever
// registered, current and retired, each with its institution and the
// window in which it signs (certd_not_before, certd_not_after; a later
// registration may have closed it).
func (r *Registry) JWKS() []byte {
	type key struct {
		credential.JWK
		Institution string `json:"certd_institution,omitempty"`
		NotBefore   int64  `json:"certd_not_before,omitempty"`
		NotAfter    int64  `json:"certd_not_after,omitempty"`
		Role        string `json:"certd_role"`
	}
	keys := []key{{JWK: r.Authority.JWK, Role: "authority"}}
	seen := map[string]int{}
	for _, id := range slices.Sorted(maps.Keys(r.byInst)) {
		for _, v := range r.byInst[id] {
			for _, k := range v.Keys {
				j := k.JWK
				if i, ok := seen[id+"/"+j.Kid]; ok {
					keys[i].NotAfter = k.NotAfter
					continue
				}
				seen[id+"/"+j.Kid] = len(keys)
				keys = append(keys, key{JWK: j, Institution: id, NotBefore: k.NotBefore, NotAfter: k.NotAfter, Role: "institution"})
			}
		}
	}
	b, _ := json.MarshalIndent(map[string]any{"keys": keys}, "", "  ")
	return b
}

// Verifier checks certificate records.
type Verifier struct {
	// Registry is nil when it could not be loaded: nothing can be checked
	// then, and the verdict is "cannot determine".
	Registry *Registry
	Status   StatusSource // nil: offline, status is "could not check"
	Now      func() time.Time
	// PublicLog, when set, adds the check that the certificate is in the
	// public log (CheckLog) to every stored record verified (Records).
	PublicLog LogSource
	// Lists, when Status is nil, are the institutions' status lists an
	// offline verifier reads the status from (by institution id); MaxAge
	// is how old a list may be (0: its own ttl). A list that is stale, or
	// missing, gives "cannot determine", never "not revoked".
	Lists  map[string]StatusList
	MaxAge time.Duration

	// batch, when set, collects signatures instead of checking them, and
	// every signature counts as passed: the results stand only if the
	// batch then verifies as a whole (see Verifier.Records).
	batch *credential.Batch
}

type builder struct{ checks []Check }

func (b *builder) set(id string, o Outcome, zh, en string) {
	l := checkLabels[id]
	b.checks = append(b.checks, Check{ID: id, Outcome: o, Zh: l[0], En: l[1], DetailZh: zh, DetailEn: en})
}

// skipRest marks the checks after a failed one as not made: nothing in an
// unverified token can be trusted.
func (b *builder) skipRest(after string) {
	order := []string{CheckFormat, CheckIssuer, CheckSignature, CheckKeyWindow, CheckRegistration, CheckScope, CheckStatus}
	i := slices.Index(order, after)
	for _, id := range order[i+1:] {
		b.set(id, Unknown, "前一项检查未通过，未检查", "not checked: an earlier check failed")
	}
}

// VerifyToken verifies a compact JWS certificate record.
func (v *Verifier) VerifyToken(ctx context.Context, token string) Result {
	token = strings.TrimSpace(token)
	b := builder{checks: make([]Check, 0, len(checkLabels))}
	res := Result{}
	if v.Registry == nil {
		b.set(CheckFormat, Unknown, "暂时无法加载备案目录", "the institution register could not be loaded")
		b.skipRest(CheckFormat)
		return finish(res, b)
	}
	var claims credential.CertificateClaims
	// Decoded once: the claims name the issuer whose registration holds the
	// key, and nothing in them counts until that key verifies the signature.
	u, err := credential.Decode(token, credential.TypeCertificate, &claims)
	if err != nil {
		b.set(CheckFormat, Fail, "不是有效的证书记录（JWS），或签名算法不正确", "not a certd certificate record (JWS), or a wrong algorithm: "+err.Error())
		b.skipRest(CheckFormat)
		return finish(res, b)
	}
	if zh, en, ok := shapeOK(&claims); !ok {
		b.set(CheckFormat, Fail, zh, en)
		b.skipRest(CheckFormat)
		return finish(res, b)
	}
	reg, key, pub, ok := v.issuerKey(&b, &claims, u.Header.Kid)
	if !ok {
		return finish(res, b)
	}
	res.Registration = &reg
	if v.batch != nil {
		v.batch.Add(u, pub)
	} else if err := u.Verify(pub); err != nil {
		b.set(CheckFormat, Pass, "", "")
		b.set(CheckIssuer, Pass, reg.Name, reg.Name)
		b.set(CheckSignature, Fail, "签名验证失败：记录已被篡改或伪造", "the signature does not verify: the record was altered or forged")
		b.skipRest(CheckSignature)
		return finish(res, b)
	}
	res.Claims = &claims
	return v.registered(ctx, res, b, reg, key, func(st StatusInfo) (bool, bool) { return st.Token != "", st.Token == token })
}

// issuerKey finds the registration in force when claims were signed and its
// key kid, which a record and a holder credential are both checked
// against. When there is none it records why (the issuer or the key is the
// problem, the format was fine) and skips the rest; ok is false then.
func (v *Verifier) issuerKey(b *builder, claims *credential.CertificateClaims, kid string) (reg credential.Registration, key credential.KeyWindow, pub ed25519.PublicKey, ok bool) {
	instID := strings.TrimPrefix(claims.Issuer.ID, "urn:certd:institution:")
	reg, ok = v.Registry.At(instID, claims.IssuedAt.Unix())
	if !ok {
		b.set(CheckFormat, Pass, "", "")
		if v.Registry.Known(instID) {
			b.set(CheckIssuer, Fail, "签名时该机构尚未备案", "the institution was not registered when this was signed")
		} else {
			b.set(CheckIssuer, Fail, "发证机构不在主管部门的备案目录中", "the issuer is not in the authority's register")
		}
		b.skipRest(CheckIssuer)
		return reg, key, nil, false
	}
	var err error
	for _, k := range reg.Keys {
		if k.JWK.Kid == kid && kid != "" {
			key = k
			pub, err = k.JWK.PublicKey()
			break
		}
	}
	if pub == nil || err != nil {
		// Another college's key, or one nobody registered.
		b.set(CheckFormat, Pass, "", "")
		b.set(CheckIssuer, Fail, "签名密钥不属于该机构备案的密钥", "the signing key is not one the institution registered")
		b.skipRest(CheckIssuer)
		return reg, key, nil, false
	}
	return reg, key, pub, true
}

// registered makes the checks after a verified signature, which a record
// and a holder credential share: key window, registration, scope and
// status. res.Claims are the verified claims, signed with key. same tells
// whether the register holds a copy to compare with (known) and whether
// the presented one is that copy (same).
func (v *Verifier) registered(ctx context.Context, res Result, b builder, reg credential.Registration, key credential.KeyWindow, same func(StatusInfo) (known, same bool)) Result {
	claims := res.Claims
	signedAt := claims.IssuedAt.Unix()
	b.set(CheckFormat, Pass, "", "")
	b.set(CheckIssuer, Pass, fmt.Sprintf("%s（备案编号%s）", reg.Name, reg.FilingNo), fmt.Sprintf("%s (filing no. %s)", reg.Name, reg.FilingNo))
	b.set(CheckSignature, Pass, "", "")
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	switch {
	case !key.Covers(signedAt):
		b.set(CheckKeyWindow, Fail, "签名时间不在该密钥的有效期内", "signed outside the key's validity window")
	case signedAt > now.Add(5*time.Minute).Unix():
		b.set(CheckKeyWindow, Fail, "签名时间晚于当前时间", "signed in the future")
	default:
		b.set(CheckKeyWindow, Pass, "", "")
	}
	a := claims.CredentialSubject.Achievement
	switch {
	case reg.Status != "active":
		b.set(CheckRegistration, Fail, "发证时机构备案状态为"+reg.Status, "the registration was "+reg.Status+" when this was issued")
	case a.IssuedOn < reg.ValidFrom || a.IssuedOn > reg.ValidUntil:
		b.set(CheckRegistration, Fail, fmt.Sprintf("发证日期%s不在备案有效期%s至%s内", a.IssuedOn, reg.ValidFrom, reg.ValidUntil),
			fmt.Sprintf("issue date %s is outside the registration %s to %s", a.IssuedOn, reg.ValidFrom, reg.ValidUntil))
	case claims.Issuer.Name != reg.Name || claims.Issuer.USCC != reg.USCC:
		b.set(CheckRegistration, Fail, "证书上的机构名称或信用代码与备案不符", "the issuer name or credit code differs from the registration")
	default:
		b.set(CheckRegistration, Pass, fmt.Sprintf("备案有效期%s至%s", reg.ValidFrom, reg.ValidUntil), fmt.Sprintf("registered %s to %s", reg.ValidFrom, reg.ValidUntil))
	}
	if zh, en, ok := inScope(reg, a); ok {
		b.set(CheckScope, Pass, "", "")
	} else {
		b.set(CheckScope, Fail, zh, en)
	}
	if v.Status == nil && v.Lists != nil {
		v.listStatus(&b, &res, reg.InstitutionID, claims, now)
		return finish(res, b)
	}
	if v.Status == nil {
		b.set(CheckStatus, Unknown, "离线验证无法查询撤销状态，请到发证机构的查询网址核实", "offline: revocation status could not be checked; check with the issuer's verification service")
		return finish(res, b)
	}
	st, err := v.Status.Status(ctx, a.Number)
	known, identical := same(st)
	switch {
	case err != nil:
		b.set(CheckStatus, Unknown, "暂时无法查询证书状态", "the status register could not be reached")
	case st.Unconfirmed && (!st.Found || st.Status == "valid" && (!known || identical)):
		// A record missing from the register, or registered as valid, may
		// have been issued or revoked since the source last knew. (A
		// record that differs from the registered one fails below,
		// whenever the source last looked: records are never rewritten.)
		res.Status = &st
		b.checks = append(b.checks, UnconfirmedCheck(st.AsOf))
	case !st.Found:
		b.set(CheckStatus, Fail, "发证机构登记册中没有此证书", "the certificate is not in the issuer's register")
	default:
		res.Status = &st
		switch {
		case known && !identical:
			res.Status = nil // the register's status is another record's
			b.set(CheckStatus, Fail, "该记录与发证机构登记的证书记录不一致", "this record differs from the one in the issuer's register")
		case st.Status == "valid":
			b.set(CheckStatus, Pass, "", "")
		case st.Status == "revoked":
			b.set(CheckStatus, Fail, fmt.Sprintf("已于%s撤销：%s", st.RevokedAt.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02"), st.ReasonZh), "revoked on "+st.RevokedAt.Format("2006-01-02")+": "+st.Reason)
		case st.Status == "superseded":
			b.set(CheckStatus, Fail, "已更正，新证书编号"+st.SupersededBy, "superseded by "+st.SupersededBy)
		default:
			b.set(CheckStatus, Unknown, "未知状态", "unknown status")
		}
	}
	return finish(res, b)
}

// shapeOK checks the unverified claims have the shape of a certd record.
func shapeOK(c *credential.CertificateClaims) (string, string, bool) {
	a := c.CredentialSubject.Achievement
	n, err := certno.Parse(a.Number)
	switch {
	case err != nil:
		return "证书编号格式错误", "malformed certificate number", false
	case !slices.Contains(c.Type, "SkillLevelCertificate"):
		return "不是职业技能等级证书记录", "not a skill level certificate record", false
	case !strings.HasPrefix(c.Issuer.ID, "urn:certd:institution:") || c.RegisteredClaims.Issuer != c.Issuer.ID:
		return "发证机构标识不一致", "issuer identifiers disagree", false
	case c.ID != credential.CertificateURN(a.Number) || c.RegisteredClaims.ID != c.ID:
		return "证书标识与编号不一致", "credential id does not match the number", false
	case c.IssuedAt == nil:
		return "缺少签发时间", "no signing time", false
	case len(a.IssuedOn) != 10 || c.ValidFrom != a.IssuedOn+"T00:00:00+08:00":
		return "发证日期不一致", "issue dates disagree", false
	case n.Level != a.Level:
		return "证书编号中的等级与证书等级不一致", "the level digit of the number differs from the level", false
	case fmt.Sprintf("%d", n.Year) != a.IssuedOn[:4]:
		return "证书编号中的年份与发证日期不一致", "the year in the number differs from the issue date", false
	}
	return "", "", true
}

func inScope(reg credential.Registration, a credential.Achievement) (string, string, bool) {
	if !strings.HasPrefix(a.Number, reg.Prefix) {
		return "证书编号前缀不属于该机构", "the number's prefix is not the institution's", false
	}
	spec := a.Specialty
	if spec == "--" {
		spec = ""
	}
	for _, s := range reg.Scope {
		if s.Occupation == a.OccupationCode && s.Specialty == spec && slices.Contains(s.Levels, a.Level) {
			return "", "", true
		}
	}
	return fmt.Sprintf("%s %s %s不在发证时的备案范围内", a.OccupationName, a.Specialty, a.LevelName),
		fmt.Sprintf("%s %s level %d was outside the registered scope at issue", a.OccupationCode, a.Specialty, a.Level), false
}

func finish(res Result, b builder) Result {
	res.Checks = b.checks
	res.Verdict = Valid
	for _, c := range b.checks {
		switch {
		case c.Outcome == Fail && c.ID == CheckStatus && res.Status != nil && res.Status.Status == "revoked":
			res.Verdict = Revoked
		case c.Outcome == Fail && c.ID == CheckStatus && res.Status != nil && res.Status.Status == "superseded":
			res.Verdict = Superseded
		case c.Outcome == Fail:
			res.Verdict = Invalid
			return res
		case c.Outcome == Unknown && c.ID == CheckStatus && res.Status != nil && res.Status.Unconfirmed && res.Verdict == Valid:
			res.Verdict = Stale
		case c.Outcome == Unknown && res.Verdict == Valid:
			res.Verdict = Undecided
		}
	}
	return res
}
