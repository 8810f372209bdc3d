package issuer

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"certd/issuer/ident"
)

// The holder's side (issue 14). A holder has no account: what proves them
// is the holder code (持证人领取码) handed to them privately on the claim slip,
// with the certificate's number and their full name. Everything printed on
// the certificate is known to whoever holds a copy, so none of it is a key.
//
// The holder code is derived, not stored: HMAC-SHA256 under a key derived
// from the KEK, of the number and a generation that a reset raises. So the
// claim slip and the console can show it again at any time, while the
// database holds at most an HMAC of it under another KEK-derived key (a
// dump without the KEK cannot test guesses of the short code). Whoever
// holds the KEK could derive every code, but they hold every signing key
// anyway.

// HolderCode is what the store keeps about a certificate's holder code and
// claim. A certificate without a row has generation 0 and is unclaimed.
type HolderCode struct {
	Number     string
	Generation int
	// CodeHash is the hex HMAC of the code in force (see holderCodeHash);
	// empty for generation 0, whose code is derived and checked directly.
	CodeHash  string
	ClaimedAt time.Time // zero: never claimed
}

// Claimed reports whether the holder has signed in with the certificate.
func (h HolderCode) Claimed() bool { return !h.ClaimedAt.IsZero() }

// Reveal is what a share link shows of the ID number; the name is always
// shown.
type Reveal string

const (
	RevealHidden Reveal = "hidden" // no ID number at all
	RevealMasked Reveal = "masked" // first 6 and last 4 characters
)

// ShareLink is a link a holder made to show one certificate. Only the
// SHA-256 of its token is kept.
type ShareLink struct {
	TokenHash  string // hex SHA-256 of the token
	Number     string
	Label      string // the holder's own note, e.g. 某公司招聘
	Reveal     Reveal
	CreatedAt  time.Time
	ExpiresAt  time.Time
	EndedAt    time.Time // zero: not ended early
	Views      int64
	LastViewAt time.Time
}

// Active reports whether the link still shows the certificate at now.
func (l ShareLink) Active(now time.Time) bool { return l.EndedAt.IsZero() && now.Before(l.ExpiresAt) }

// ShareView is a count of views of one link, added by the public side.
type ShareView struct {
	TokenHash string
	N         int64
	At        time.Time // the last of them
}

// Share link limits.
const (
	ShareMinDays     = 7
	ShareMaxDays     = 180
	ShareDefaultDays = 30
	// MaxShareLabel bounds a link's label, in characters.
	MaxShareLabel = 40
	// MaxActiveShares bounds the live links of one certificate, so that a
	// holder's session cannot grow the table without end.
	MaxActiveShares = 20
	// ShareTokenLen is the length of a share token: 16 random bytes in
	// unpadded base64url.
	ShareTokenLen = 22
)

// Holder sign-in limits: failures per certificate and per client per day
// (UTC). A locked certificate says so, and nothing else.
const (
	HolderFailuresPerCertificate = 10
	HolderFailuresPerClient      = 50
)

// HolderCodeLen is the holder code's length without its separators: 12
// characters of a 32-letter alphabet without 0/O and 1/I (60 bits).
const HolderCodeLen = 12

// holderActorName is the audit actor of the holder's own actions: no name,
// since the audit log must not hold personal data.
const holderActorName = "持证人 / holder"

func (a Actor) mayHold(number string) error {
	if a.Holder == "" || a.Holder != number {
		return Errorf(ErrNotFound, "certificate_unknown", "证书%s不存在", "no certificate %s", number)
	}
	return nil
}

func (s *Service) holderKey(purpose string) []byte {
	return s.KEK.Derive("certd holder " + purpose + " v1")
}

// deriveHolderCode is the holder code of a number at a generation.
func (s *Service) deriveHolderCode(number string, gen int) string {
	mac := hmac.New(sha256.New, s.holderKey("code"))
	mac.Write([]byte(number + "|" + strconv.Itoa(gen)))
	return codeEncoding.EncodeToString(mac.Sum(nil))[:HolderCodeLen]
}

// holderCodeHash is what the store keeps of a reset code.
func (s *Service) holderCodeHash(number, code string) string {
	mac := hmac.New(sha256.New, s.holderKey("code-hash"))
	mac.Write([]byte(number + "|" + code))
	return hex.EncodeToString(mac.Sum(nil))
}

// FormatHolderCode groups a code in fours for printing: ABCD-EFGH-JKLM.
func FormatHolderCode(code string) string {
	var b strings.Builder
	for i := 0; i < len(code); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(code[i:min(i+4, len(code))])
	}
	return b.String()
}

// NormalizeHolderCode reads a typed holder code: spaces and hyphens
// dropped, full-width letters folded, upper-cased. ok is false when what
// is left cannot be a holder code.
func NormalizeHolderCode(s string) (string, bool) {
	if len(s) > 64 {
		return "", false
	}
	s = strings.ToUpper(strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r) || r == '-' || r == '－':
			return -1
		case r >= '！' && r <= '～':
			return r - '！' + '!'
		}
		return r
	}, s))
	if len(s) != HolderCodeLen {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("ABCDEFGHJKLMNPQRSTUVWXYZ23456789", rune(s[i])) {
			return "", false
		}
	}
	return s, true
}

// holderCodeOf is the code in force for a certificate.
func (s *Service) holderCodeOf(ctx context.Context, number string) (string, HolderCode, error) {
	m, err := s.store.HolderCodes(ctx, []string{number})
	if err != nil {
		return "", HolderCode{}, err
	}
	hc, ok := m[number]
	if !ok {
		hc = HolderCode{Number: number}
	}
	return s.deriveHolderCode(number, hc.Generation), hc, nil
}

// HolderCode returns a certificate's holder code and claim state, for the
// college's operators (not its auditors): it is the key to the holder's
// pages, shown so that an operator can hand it over again.
func (s *Service) HolderCode(ctx context.Context, actor Actor, number string) (string, HolderCode, error) {
	c, err := s.Certificate(ctx, actor, number)
	if err != nil {
		return "", HolderCode{}, err
	}
	if err := actor.MayActFor(c.InstitutionID); err != nil {
		return "", HolderCode{}, err
	}
	return s.holderCodeOf(ctx, number)
}

// HolderClaims returns which of numbers their holders have claimed, for
// the ledger's column. Numbers the actor may not read are left out.
func (s *Service) HolderClaims(ctx context.Context, numbers []string) (map[string]HolderCode, error) {
	return s.store.HolderCodes(ctx, numbers)
}

// ResetHolderCode makes a new holder code for a certificate; the old one
// stops working at once. Audited, without the code.
func (s *Service) ResetHolderCode(ctx context.Context, actor Actor, number string) (string, error) {
	c, err := s.Certificate(ctx, actor, number)
	if err != nil {
		return "", err
	}
	if err := actor.MayActFor(c.InstitutionID); err != nil {
		return "", err
	}
	_, hc, err := s.holderCodeOf(ctx, number)
	if err != nil {
		return "", err
	}
	hc.Generation++
	code := s.deriveHolderCode(number, hc.Generation)
	hc.CodeHash = s.holderCodeHash(number, code)
	ev := s.event(actor, "holder.code_reset", c.InstitutionID, number, map[string]any{"generation": hc.Generation})
	if err := s.store.SetHolderCode(ctx, hc, ev); err != nil {
		return "", err
	}
	return code, nil
}

// errHolderSignIn is the one answer to a wrong number, code or name: which
// of them was wrong is not said.
func errHolderSignIn() error {
	return Errorf(ErrInvalid, "holder_sign_in_failed", "证书编号、领取码或姓名不正确（每本证书每天最多可输错%d次）",
		"the certificate number, holder code or name is wrong (each certificate allows %d wrong attempts a day)", HolderFailuresPerCertificate)
}

// ErrHolderLocked is the answer for a certificate whose sign-in attempts
// for the day are used up; it says nothing about the certificate.
var ErrHolderLocked = Errorf(ErrForbidden, "holder_locked", "该证书今日领取尝试次数过多，已暂时锁定，请明天再试；如领取码遗失，请联系发证机构重置",
	"too many sign-in attempts for this certificate today; it is locked until tomorrow (UTC). If the holder code is lost, ask the issuing college to reset it")

// ErrHolderThrottled is the answer to a client that failed too often.
var ErrHolderThrottled = Errorf(ErrForbidden, "holder_throttled", "尝试过于频繁，请明天再试", "too many failed attempts from this network; try again tomorrow")

// HolderSignIn checks a holder's number, holder code and full name. client
// is the client's address block (clientip.Block), for the per-client cap.
// On success the certificate is marked claimed and the sign-in audited.
func (s *Service) HolderSignIn(ctx context.Context, number, code, name, client string) (Certificate, error) {
	now := s.now()
	day := now.Unix() / 86400
	ckey := "c:" + client
	if n, err := s.store.HolderFailures(ctx, ckey, day); err != nil {
		return Certificate{}, err
	} else if n >= HolderFailuresPerClient {
		return Certificate{}, ErrHolderThrottled
	}
	code, codeOK := NormalizeHolderCode(code)
	name = strings.TrimSpace(name)
	if len(name) > 200 || !utf8.ValidString(name) {
		return Certificate{}, Errorf(ErrInvalid, "input_too_long", "输入过长", "input too long")
	}
	fail := func(counted bool) error {
		if _, err := s.store.AddHolderFailure(ctx, ckey, day); err != nil {
			return err
		}
		if counted {
			if _, err := s.store.AddHolderFailure(ctx, "n:"+number, day); err != nil {
				return err
			}
			_ = s.store.AppendAudit(ctx, AuditEvent{At: now, Actor: holderActorName, Action: "holder.sign_in_failed", Subject: number,
				InstitutionID: s.institutionOf(ctx, number)})
		}
		return errHolderSignIn()
	}
	c, err := s.store.Certificate(ctx, number)
	if Is(err, ErrNotFound) {
		return Certificate{}, fail(false)
	}
	if err != nil {
		return Certificate{}, err
	}
	if n, err := s.store.HolderFailures(ctx, "n:"+number, day); err != nil {
		return Certificate{}, err
	} else if n >= HolderFailuresPerCertificate {
		return Certificate{}, ErrHolderLocked
	}
	want, hc, err := s.holderCodeOf(ctx, number)
	if err != nil {
		return Certificate{}, err
	}
	ok := codeOK && subtle.ConstantTimeCompare([]byte(code), []byte(want)) == 1
	if ok && hc.CodeHash != "" {
		// A reset code is also checked against what the store recorded, so
		// that the row, not only the generation, decides.
		ok = hmac.Equal([]byte(s.holderCodeHash(number, code)), []byte(hc.CodeHash))
	}
	if !ok || ident.NormalizeName(name) != ident.NormalizeName(c.Holder.Name) {
		return Certificate{}, fail(true)
	}
	ev := s.event(HolderActor(number), "holder.sign_in", c.InstitutionID, number, map[string]any{"first": !hc.Claimed()})
	if err := s.store.ClaimCertificate(ctx, number, now, ev); err != nil {
		return Certificate{}, err
	}
	return c, nil
}

func (s *Service) institutionOf(ctx context.Context, number string) string {
	c, err := s.store.Certificate(ctx, number)
	if err != nil {
		return ""
	}
	return c.InstitutionID
}

// HolderCertificate returns the certificate of a signed-in holder.
func (s *Service) HolderCertificate(ctx context.Context, actor Actor, number string) (Certificate, error) {
	if err := actor.mayHold(number); err != nil {
		return Certificate{}, err
	}
	c, err := s.store.Certificate(ctx, number)
	if Is(err, ErrNotFound) {
		return c, actor.mayHold("")
	}
	return c, err
}

// HolderPDF returns the PDF exactly as issued (the stored bytes).
func (s *Service) HolderPDF(ctx context.Context, actor Actor, number string) ([]byte, error) {
	c, err := s.HolderCertificate(ctx, actor, number)
	if err != nil {
		return nil, err
	}
	pdf, err := s.pdfOf(ctx, actor, c)
	if err != nil {
		return nil, err
	}
	_ = s.store.AppendAudit(ctx, s.event(actor, "holder.pdf_download", c.InstitutionID, number, nil))
	return pdf, nil
}

// ShareSpec is what a holder asks of a new share link.
type ShareSpec struct {
	Label  string
	Days   int // ShareMinDays..ShareMaxDays; 0 means ShareDefaultDays
	Reveal Reveal
}

// ShareTokenHash is how a share token is kept and looked up.
func ShareTokenHash(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

func checkDays(days int) (int, error) {
	if days == 0 {
		days = ShareDefaultDays
	}
	if days < ShareMinDays || days > ShareMaxDays {
		return 0, Errorf(ErrInvalid, "share_days", "有效期应为%d至%d天", "the validity must be %d to %d days", ShareMinDays, ShareMaxDays)
	}
	return days, nil
}

func cleanLabel(label string) (string, error) {
	label = strings.TrimSpace(label)
	if !utf8.ValidString(label) || utf8.RuneCountInString(label) > MaxShareLabel || strings.IndexFunc(label, unicode.IsControl) >= 0 {
		return "", Errorf(ErrInvalid, "share_label", "备注最多%d个字，且不能含控制字符", "the label may have at most %d characters and no control characters", MaxShareLabel)
	}
	return label, nil
}

// CreateShareLink makes a link to one certificate and returns its token
// (shown once; only its hash is kept). A certificate that is no longer
// valid cannot be shared anew; links made before go on showing its
// verdict.
func (s *Service) CreateShareLink(ctx context.Context, actor Actor, number string, spec ShareSpec) (string, ShareLink, error) {
	c, err := s.HolderCertificate(ctx, actor, number)
	if err != nil {
		return "", ShareLink{}, err
	}
	if c.Status != Valid {
		return "", ShareLink{}, Errorf(ErrConflict, "share_not_valid", "该证书已撤销或已更正，不能再分享", "this certificate was revoked or replaced and can no longer be shared")
	}
	days, err := checkDays(spec.Days)
	if err != nil {
		return "", ShareLink{}, err
	}
	label, err := cleanLabel(spec.Label)
	if err != nil {
		return "", ShareLink{}, err
	}
	if spec.Reveal != RevealHidden && spec.Reveal != RevealMasked {
		return "", ShareLink{}, Errorf(ErrInvalid, "share_reveal", "请选择证件号码的显示方式", "choose how the ID number is shown")
	}
	now := s.now()
	links, err := s.store.ShareLinks(ctx, number)
	if err != nil {
		return "", ShareLink{}, err
	}
	active := 0
	for _, l := range links {
		if l.Active(now) {
			active++
		}
	}
	if active >= MaxActiveShares {
		return "", ShareLink{}, Errorf(ErrConflict, "share_too_many", "每本证书最多同时有%d个有效链接，请先结束不用的链接", "a certificate may have at most %d live links; end one you no longer need", MaxActiveShares)
	}
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", ShareLink{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	l := ShareLink{TokenHash: ShareTokenHash(token), Number: number, Label: label, Reveal: spec.Reveal, CreatedAt: now,
		ExpiresAt: now.Add(time.Duration(days) * 24 * time.Hour)}
	ev := s.event(actor, "holder.share_create", c.InstitutionID, number, map[string]any{"link": l.TokenHash[:12], "days": days, "reveal": string(spec.Reveal)})
	if err := s.store.PutShareLink(ctx, l, ev); err != nil {
		return "", ShareLink{}, err
	}
	return token, l, nil
}

// HolderShareLinks lists a certificate's links, newest first.
func (s *Service) HolderShareLinks(ctx context.Context, actor Actor, number string) ([]ShareLink, error) {
	if _, err := s.HolderCertificate(ctx, actor, number); err != nil {
		return nil, err
	}
	return s.store.ShareLinks(ctx, number)
}

func (s *Service) holderLink(ctx context.Context, actor Actor, number, tokenHash string) (Certificate, ShareLink, error) {
	c, err := s.HolderCertificate(ctx, actor, number)
	if err != nil {
		return c, ShareLink{}, err
	}
	l, err := s.store.ShareLink(ctx, tokenHash)
	if err == nil && l.Number != number {
		err = ErrNotFound
	}
	if Is(err, ErrNotFound) {
		return c, l, Errorf(ErrNotFound, "share_unknown", "没有这个分享链接", "no such share link")
	}
	return c, l, err
}

// ExtendShareLink makes a live link valid for days from now.
func (s *Service) ExtendShareLink(ctx context.Context, actor Actor, number, tokenHash string, days int) (ShareLink, error) {
	c, l, err := s.holderLink(ctx, actor, number, tokenHash)
	if err != nil {
		return l, err
	}
	if days, err = checkDays(days); err != nil {
		return l, err
	}
	now := s.now()
	if !l.Active(now) {
		return l, Errorf(ErrConflict, "share_ended", "该链接已结束或已过期，请新建链接", "this link has ended or expired; make a new one")
	}
	l.ExpiresAt = now.Add(time.Duration(days) * 24 * time.Hour)
	ev := s.event(actor, "holder.share_extend", c.InstitutionID, number, map[string]any{"link": tokenHash[:12], "days": days})
	return l, s.store.UpdateShareLink(ctx, l, ev)
}

// EndShareLink withdraws one link at once.
func (s *Service) EndShareLink(ctx context.Context, actor Actor, number, tokenHash string) error {
	c, l, err := s.holderLink(ctx, actor, number, tokenHash)
	if err != nil {
		return err
	}
	if !l.EndedAt.IsZero() {
		return nil
	}
	l.EndedAt = s.now()
	ev := s.event(actor, "holder.share_end", c.InstitutionID, number, map[string]any{"link": tokenHash[:12]})
	return s.store.UpdateShareLink(ctx, l, ev)
}

// EndAllShareLinks withdraws every link of a certificate at once and
// returns how many were still live.
func (s *Service) EndAllShareLinks(ctx context.Context, actor Actor, number string) (int, error) {
	c, err := s.HolderCertificate(ctx, actor, number)
	if err != nil {
		return 0, err
	}
	ev := s.event(actor, "holder.share_end_all", c.InstitutionID, number, nil)
	return s.store.EndShareLinks(ctx, number, s.now(), ev)
}

// WalletKey is the key of the holder pages' sealed cookie.
func (s *Service) WalletKey() []byte { return s.holderKey("wallet") }
