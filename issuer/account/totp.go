package account

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"certd/issuer"
)

// Second factor: TOTP (RFC 6238) with the parameters every authenticator
// app understands (HMAC-SHA1, 6 digits, 30 seconds, a 160-bit secret). The
// secret is kept sealed under the deployment's KEK, bound to the account
// ID, like the signing keys: a copy of the database is not a copy of the
// second factor. A code is accepted one step early or late (clock drift),
// and a step once used is never accepted again for the account. Wrong codes
// count towards the same lockout as wrong passwords.

// Sealer seals small secrets under the deployment's key-encryption key;
// *keys.KEK is one.
type Sealer interface {
	SealSecret(secret []byte, purpose, kid string) ([]byte, error)
	OpenSecret(sealed []byte, purpose, kid string) ([]byte, error)
}

const (
	totpPurpose = "totp"
	totpPeriod  = 30
	// TOTPIssuer names the service in the holder's authenticator app.
	TOTPIssuer = "certd"
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Enrolment is what a holder needs to add the account to an authenticator
// app: the secret as text (grouped by four for typing), the otpauth URL,
// and that URL as a QR code (a PNG data URL).
type Enrolment struct {
	Secret string
	URL    string
	QR     string
}

func errNoSealer() error {
	return issuer.Errorf(issuer.ErrUnavailable, "totp_unavailable", "两步验证暂不可用（未配置密钥加密密钥）", "two-step sign-in is unavailable (no key-encryption key configured)")
}

func errTOTPWrong() error {
	return issuer.Errorf(issuer.ErrInvalid, "totp_wrong", "动态验证码不正确或已使用过，请输入身份验证器App当前显示的6位数字（连续输错5次账号将锁定15分钟）",
		"the code is wrong or was already used; enter the 6 digits your authenticator app shows now (5 wrong attempts lock the account for 15 minutes)")
}

// ErrTOTPRequired is the answer to an authority administrator who has not
// enrolled a second factor yet.
func ErrTOTPRequired() error {
	return issuer.Errorf(issuer.ErrForbidden, "totp_required", "主管部门管理员必须先启用两步验证", "an authority administrator must set up two-step sign-in first")
}

func (s *Service) openTOTP(u User) ([]byte, error) {
	if s.Sealer == nil {
		return nil, errNoSealer()
	}
	return s.Sealer.OpenSecret(u.TOTPSealed, totpPurpose, u.ID)
}

// BeginTOTP starts (or resumes) the caller's enrolment: a new secret is
// made and stored sealed, not yet enabled, unless one is waiting already,
// so reloading the page shows the same QR code.
func (s *Service) BeginTOTP(ctx context.Context, u User) (Enrolment, error) {
	if !u.TOTPOffered() || u.Disabled {
		return Enrolment{}, issuer.Errorf(issuer.ErrForbidden, "totp_not_offered", "两步验证仅适用于管理员账号", "two-step sign-in is for administrator accounts")
	}
	if s.Sealer == nil {
		return Enrolment{}, errNoSealer()
	}
	stored, err := s.store.User(ctx, u.ID)
	if err != nil {
		return Enrolment{}, err
	}
	if stored.TOTPEnabled {
		return Enrolment{}, issuer.Errorf(issuer.ErrConflict, "totp_enabled", "两步验证已启用", "two-step sign-in is already set up")
	}
	var secret []byte
	if stored.TOTPSealed != nil {
		if secret, err = s.openTOTP(stored); err != nil {
			return Enrolment{}, err
		}
	} else {
		secret = make([]byte, 20)
		if _, err := rand.Read(secret); err != nil {
			return Enrolment{}, err
		}
		sealed, err := s.Sealer.SealSecret(secret, totpPurpose, u.ID)
		if err != nil {
			return Enrolment{}, err
		}
		if err := s.store.SetTOTP(ctx, u.ID, sealed, false, 0, s.event(u.Name, "account.totp_begin", u.InstitutionID, u.Name, nil)); err != nil {
			return Enrolment{}, err
		}
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: TOTPIssuer, AccountName: u.Name, Secret: secret})
	if err != nil {
		return Enrolment{}, err
	}
	e := Enrolment{URL: key.URL()}
	text := b32.EncodeToString(secret)
	for i := 0; i < len(text); i += 4 {
		e.Secret += text[i:min(i+4, len(text))] + " "
	}
	e.Secret = strings.TrimSpace(e.Secret)
	if img, err := key.Image(220, 220); err == nil {
		var buf bytes.Buffer
		if png.Encode(&buf, img) == nil {
			e.QR = "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
		}
	}
	return e, nil
}

// TOTPCode returns the code for secret (base32, spaces allowed) at t. It is
// for tests and the demo's instructions; the service never needs it.
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(strings.ToUpper(strings.ReplaceAll(secret, " ", "")), t, totpOpts)
}

// matchTOTP returns the step of now-1, now or now+1 whose code is code.
func matchTOTP(secret []byte, code string, now time.Time) (int64, bool) {
	code = strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9':
			return r
		case r >= '０' && r <= '９': // typed on a Chinese input method
			return r - '０' + '0'
		case r == ' ' || r == '-' || r == '\u3000':
			return -1
		}
		return 'x'
	}, code)
	if len(code) != 6 || strings.Contains(code, "x") {
		return 0, false
	}
	enc := b32.EncodeToString(secret)
	step := now.Unix() / totpPeriod
	for _, d := range []int64{0, -1, 1} {
		want, err := totp.GenerateCodeCustom(enc, time.Unix((step+d)*totpPeriod, 0), totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step + d, true
		}
	}
	return 0, false
}

// ConfirmTOTP enables the caller's waiting secret once code proves the
// app has it. A wrong code counts towards the lockout.
func (s *Service) ConfirmTOTP(ctx context.Context, u User, code, client string) (User, error) {
	stored, err := s.store.User(ctx, u.ID)
	if err != nil {
		return User{}, err
	}
	if stored.TOTPEnabled {
		return stored, nil
	}
	if stored.TOTPSealed == nil {
		return User{}, issuer.Errorf(issuer.ErrInvalid, "totp_not_started", "请先打开两步验证设置页面扫描二维码", "open the two-step sign-in page and scan the QR code first")
	}
	secret, err := s.openTOTP(stored)
	if err != nil {
		return User{}, err
	}
	now := s.now()
	step, ok := matchTOTP(secret, code, s.clock())
	if !ok || stored.Locked(now) || stored.Disabled {
		if err := s.countFailure(ctx, stored, now, "account.totp_failed", client); err != nil {
			return User{}, err
		}
		return User{}, errTOTPWrong()
	}
	if err := s.store.SetTOTP(ctx, u.ID, stored.TOTPSealed, true, step, s.event(u.Name, "account.totp_enable", u.InstitutionID, u.Name, map[string]any{"client": client})); err != nil {
		return User{}, err
	}
	return s.store.User(ctx, u.ID)
}

// LoginTOTP is the second step of a sign-in for an account with TOTP
// enabled: id and gen come from the short-lived token the password step
// handed out. Like Login, every refusal gives the same answer and counts
// towards the lockout; the accepted step is used up atomically, so a code
// works once.
func (s *Service) LoginTOTP(ctx context.Context, id string, gen int, code, client string) (User, error) {
	u, err := s.store.User(ctx, id)
	if err != nil {
		return User{}, errTOTPWrong()
	}
	now := s.now()
	var step int64
	ok := u.TOTPEnabled && u.SessionGen == gen && !u.Locked(now) && !u.Disabled
	if ok {
		var secret []byte
		if secret, err = s.openTOTP(u); err != nil {
			return User{}, err
		}
		step, ok = matchTOTP(secret, code, s.clock())
	}
	if ok {
		if ok, err = s.store.UseTOTPStep(ctx, u.ID, step); err != nil {
			return User{}, err
		}
	}
	if !ok {
		if err := s.countFailure(ctx, u, now, "account.totp_failed", client); err != nil {
			return User{}, err
		}
		return User{}, errTOTPWrong()
	}
	if err := s.store.LoginSucceeded(ctx, u.ID, now, s.event(u.Name, "account.login", u.InstitutionID, u.Name, map[string]any{"client": client, "second_factor": "totp"})); err != nil {
		return User{}, err
	}
	u.FailedLogins, u.LastLoginAt = 0, now
	return u, nil
}

// ResetTOTP removes an account's second factor (a lost phone), for whoever
// manages the account (see MayManage); it ends the account's sessions. An
// authority administrator is asked to enrol again at the next sign-in.
func (s *Service) ResetTOTP(ctx context.Context, by User, id string) (User, error) {
	u, err := s.managed(ctx, by, id)
	if err != nil {
		return User{}, err
	}
	if err := s.store.SetTOTP(ctx, u.ID, nil, false, 0, s.event(by.Name, "account.totp_reset", u.InstitutionID, u.Name, nil)); err != nil {
		return User{}, err
	}
	return s.store.User(ctx, u.ID)
}
