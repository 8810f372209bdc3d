package account

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"certd/issuer"
)

// Service manages accounts and checks credentials, and is the one door to
// them for the console and the command line. Who may manage or see whom is
// decided here, not by the caller: an authority administrator manages every
// account; a college administrator only the accounts of its own college,
// and never an authority role. Build it with New.
type Service struct {
	store        Store
	institutions Institutions

	Now    func() time.Time
	Params Params // zero: DefaultParams
	// Sealer seals TOTP secrets; without one, two-step sign-in cannot be
	// set up (and an authority administrator cannot work in the console).
	Sealer Sealer
	// MaxFailures consecutive wrong passwords lock the account for
	// LockFor. Zero: 5 and 15 minutes.
	MaxFailures int
	LockFor     time.Duration

	dummyOnce sync.Once
	dummy     string // a hash to check against for unknown names
}

// Institutions is how accounts learn whether a college exists, asked as the
// person creating the account; *issuer.Service is one.
type Institutions interface {
	Institution(ctx context.Context, actor issuer.Actor, id string) (issuer.Institution, error)
}

// New returns a service keeping accounts in st. institutions, when not nil,
// stops a college account being made for a college that does not exist.
func New(st Store, institutions Institutions) *Service {
	return &Service{store: st, institutions: institutions}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Second)
	}
	return time.Now().UTC().Truncate(time.Second)
}

// clock is now to the nanosecond, for TOTP steps.
func (s *Service) clock() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) params() Params {
	if s.Params == (Params{}) {
		return DefaultParams
	}
	return s.Params
}

func (s *Service) maxFailures() int {
	if s.MaxFailures <= 0 {
		return 5
	}
	return s.MaxFailures
}

func (s *Service) lockFor() time.Duration {
	if s.LockFor <= 0 {
		return 15 * time.Minute
	}
	return s.LockFor
}

func (s *Service) event(by, action, inst, subject string, detail map[string]any) issuer.AuditEvent {
	ev := issuer.AuditEvent{At: s.now(), Actor: by, Action: action, InstitutionID: inst, Subject: subject}
	if detail != nil {
		b, _ := json.Marshal(detail)
		ev.Detail = string(b)
	}
	return ev
}

func forbidden() error {
	return issuer.Errorf(issuer.ErrForbidden, "forbidden", "无权管理该账号", "not allowed to manage this account")
}

// MayManage reports whether by may create or change an account with role
// and institution inst.
func MayManage(by User, role Role, inst string) error {
	if by.Disabled {
		return forbidden()
	}
	switch by.Role {
	case AuthorityAdmin:
		return nil
	case CollegeAdmin:
		if role != AuthorityAdmin && inst != "" && inst == by.InstitutionID {
			return nil
		}
	}
	return forbidden()
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,31}$`)

// NewUser is what is needed to create an account.
type NewUser struct {
	Name          string
	DisplayName   string
	Role          Role
	InstitutionID string
	// Password: empty means generate one, which the holder must change at
	// first login.
	Password string
}

// Create makes an account. It returns the password when one was generated,
// for showing once. A college administrator's accounts belong to its own
// college when the request names none (it may make no authority account).
func (s *Service) Create(ctx context.Context, by User, nu NewUser) (User, string, error) {
	nu.Name = strings.ToLower(strings.TrimSpace(nu.Name))
	nu.DisplayName = strings.TrimSpace(nu.DisplayName)
	nu.InstitutionID = strings.TrimSpace(nu.InstitutionID)
	if nu.InstitutionID == "" && by.Role == CollegeAdmin && nu.Role != AuthorityAdmin {
		nu.InstitutionID = by.InstitutionID
	}
	var zh, en []string
	bad := func(z, e string) { zh, en = append(zh, z), append(en, e) }
	if !namePattern.MatchString(nu.Name) {
		bad("登录名应为2至32位小写字母、数字、点、下划线或连字符", "the login name must be 2-32 lower-case letters, digits, dots, underscores or hyphens")
	}
	if nu.DisplayName == "" || utf8.RuneCountInString(nu.DisplayName) > 50 {
		bad("姓名不能为空且不超过50字", "the name must be 1-50 characters")
	}
	if !nu.Role.Valid() {
		bad("角色无效", "unknown role")
	}
	switch nu.Role {
	case AuthorityAdmin:
		if nu.InstitutionID != "" {
			bad("主管部门管理员不属于任何院校", "an authority administrator belongs to no college")
		}
	case CollegeAdmin, CollegeOperator:
		if nu.InstitutionID == "" {
			bad("院校账号必须指定院校", "a college account needs its college")
		}
	}
	if len(zh) > 0 {
		return User{}, "", &issuer.Error{Kind: issuer.ErrInvalid, Code: "user_invalid", Zh: "账号信息有误：" + strings.Join(zh, "；"), En: "the account details are invalid: " + strings.Join(en, "; ")}
	}
	if err := MayManage(by, nu.Role, nu.InstitutionID); err != nil {
		return User{}, "", err
	}
	if nu.InstitutionID != "" && s.institutions != nil {
		if _, err := s.institutions.Institution(ctx, by.Actor(), nu.InstitutionID); err != nil {
			if issuer.Is(err, issuer.ErrNotFound) {
				return User{}, "", issuer.Errorf(issuer.ErrInvalid, "institution_unknown", "院校“%s”不存在", "no institution %q", nu.InstitutionID)
			}
			return User{}, "", err
		}
	}
	generated := ""
	mustChange := false
	if nu.Password == "" {
		generated = GeneratePassword()
		nu.Password, mustChange = generated, true
	} else if err := checkNewPassword(User{Name: nu.Name, DisplayName: nu.DisplayName, InstitutionID: nu.InstitutionID}, nu.Password); err != nil {
		return User{}, "", err
	}
	hash, err := HashPassword(nu.Password, s.params())
	if err != nil {
		return User{}, "", err
	}
	now := s.now()
	u := User{ID: randomID("u", 10), Name: nu.Name, DisplayName: nu.DisplayName, Role: nu.Role, InstitutionID: nu.InstitutionID,
		PasswordHash: hash, SessionGen: 1, MustChange: mustChange, CreatedAt: now, CreatedBy: by.Name}
	ev := s.event(by.Name, "account.create", u.InstitutionID, u.Name, map[string]any{"role": u.Role, "display_name": u.DisplayName})
	if err := s.store.CreateUser(ctx, u, ev); err != nil {
		return User{}, "", err
	}
	return u, generated, nil
}

// Users lists the accounts matching f that by may see: any for the
// province, its own college's for a college administrator or auditor
// (whatever f names).
func (s *Service) Users(ctx context.Context, by User, f UserFilter) ([]User, error) {
	switch {
	case by.Authority():
	case by.Role == CollegeAdmin || by.Role == Auditor:
		f.InstitutionID = by.InstitutionID
	default:
		return nil, forbidden()
	}
	return s.store.Users(ctx, f)
}

// managed loads the account id and checks by may manage it. An account of
// another college is reported as not found, like another college's
// certificates.
func (s *Service) managed(ctx context.Context, by User, id string) (User, error) {
	u, err := s.store.User(ctx, id)
	return s.manageable(by, u, err)
}

func (s *Service) manageable(by User, u User, err error) (User, error) {
	if err != nil {
		return User{}, err
	}
	if err := MayManage(by, u.Role, u.InstitutionID); err != nil {
		if by.Role == CollegeAdmin && u.InstitutionID != by.InstitutionID {
			return User{}, ErrUserNotFound()
		}
		return User{}, err
	}
	return u, nil
}

// User returns one account if by may manage it.
func (s *Service) User(ctx context.Context, by User, id string) (User, error) {
	return s.managed(ctx, by, id)
}

// UserByName returns the account with a login name if by may manage it.
func (s *Service) UserByName(ctx context.Context, by User, name string) (User, error) {
	u, err := s.store.UserByName(ctx, strings.ToLower(strings.TrimSpace(name)))
	return s.manageable(by, u, err)
}

// SessionUser returns the account a console session names, while that
// session is live: the account is enabled and its session generation is
// the one the session was issued under (a logout, password change or
// disabling moves it on and so ends every session at once).
func (s *Service) SessionUser(ctx context.Context, id string, gen int) (User, error) {
	u, err := s.store.User(ctx, id)
	if err != nil {
		return User{}, err
	}
	if u.Disabled || u.SessionGen != gen {
		return User{}, issuer.Errorf(issuer.ErrInvalid, "session_ended", "会话已结束，请重新登录", "the session has ended; sign in again")
	}
	return u, nil
}

// SessionKey stores sealed as the console's session-signing key unless one
// is stored already, and returns the stored one, so that every process
// behind a load balancer signs with the same key.
func (s *Service) SessionKey(ctx context.Context, sealed []byte) ([]byte, error) {
	return s.store.SessionKey(ctx, sealed, s.now())
}

// SetDisabled disables or re-enables an account. Disabling ends every
// session and API token of the account; enabling brings none back. Nobody
// disables themselves: the last administrator could lock everyone out.
func (s *Service) SetDisabled(ctx context.Context, by User, id string, disabled bool) (User, error) {
	u, err := s.managed(ctx, by, id)
	if err != nil {
		return u, err
	}
	if u.ID == by.ID {
		return u, issuer.Errorf(issuer.ErrInvalid, "self_disable", "不能停用自己的账号", "you cannot disable your own account")
	}
	if u.Disabled == disabled {
		return u, nil
	}
	action := "account.disable"
	if !disabled {
		action = "account.enable"
	}
	if err := s.store.SetDisabled(ctx, id, disabled, s.now(), s.event(by.Name, action, u.InstitutionID, u.Name, nil)); err != nil {
		return u, err
	}
	u.Disabled = disabled
	u.SessionGen++
	return u, nil
}

// ResetPassword gives an account a generated password, shown once, which
// must be changed at the next login. The reset ends every session and API
// token of the account: whoever held the old password may have made them.
func (s *Service) ResetPassword(ctx context.Context, by User, id string) (string, error) {
	u, err := s.managed(ctx, by, id)
	if err != nil {
		return "", err
	}
	pw := GeneratePassword()
	hash, err := HashPassword(pw, s.params())
	if err != nil {
		return "", err
	}
	if err := s.store.SetPassword(ctx, u.ID, hash, true, s.now(), s.event(by.Name, "account.password_reset", u.InstitutionID, u.Name, nil)); err != nil {
		return "", err
	}
	return pw, nil
}

// ChangePassword changes the caller's own password after checking the
// current one. The current-password field is a password guess like a
// sign-in: a wrong one (or any, while the account is locked or disabled)
// counts towards the same lockout, with an audit line naming client, and
// gets the same answer. The new password is checked against the policy
// first, so a refused new password spends no guess and tells nothing
// about the current one. The change ends every session and API token of
// the account; the account returned is the one to start a new session
// with.
func (s *Service) ChangePassword(ctx context.Context, u User, current, next, client string) (User, error) {
	stored, err := s.store.User(ctx, u.ID)
	if err != nil {
		return User{}, err
	}
	if err := checkNewPassword(stored, next); err != nil {
		return User{}, err
	}
	if current == next {
		return User{}, issuer.Errorf(issuer.ErrInvalid, "password_same", "新密码不能与当前密码相同", "the new password must differ from the current one")
	}
	now := s.now()
	if !CheckPassword(stored.PasswordHash, current) || len(current) > 1024 || stored.Locked(now) || stored.Disabled {
		if err := s.countFailure(ctx, stored, now, "account.password_change_failed", client); err != nil {
			return User{}, err
		}
		return User{}, issuer.Errorf(issuer.ErrInvalid, "password_wrong", "当前密码不正确（连续输错5次账号将锁定15分钟）", "the current password is wrong (5 wrong attempts lock the account for 15 minutes)")
	}
	hash, err := HashPassword(next, s.params())
	if err != nil {
		return User{}, err
	}
	if err := s.store.SetPassword(ctx, u.ID, hash, false, now, s.event(u.Name, "account.password_change", u.InstitutionID, u.Name, map[string]any{"client": client})); err != nil {
		return User{}, err
	}
	return s.store.User(ctx, u.ID)
}

// ErrLogin is the one answer to a failed sign-in, whatever failed: an
// unknown name, a wrong password, or a locked or disabled account (the
// right password included). Anything else would tell a guesser which names
// exist, or that the password just tried is the right one.
func ErrLogin() error {
	return issuer.Errorf(issuer.ErrInvalid, "login_failed", "用户名或密码错误（连续输错5次账号将锁定15分钟；停用的账号不能登录）",
		"wrong user name or password (5 wrong attempts lock the account for 15 minutes; a disabled account cannot sign in)")
}

// Login checks a name and password. client (the address the request came
// from) goes to the audit log of every attempt. For an account with TOTP
// enabled the returned account has TOTPEnabled set and the sign-in is not
// complete: the caller must get the code and call LoginTOTP.
//
// A locked or disabled account answers exactly as a wrong password does:
// the same error, after the same password hash and the same counted
// failure. Every refused attempt counts, during a lock too, so guessing on
// while locked extends the lock rather than going free. The audit line of
// a refused attempt says the account was locked or disabled, never whether
// the password was right: college auditors read those lines.
func (s *Service) Login(ctx context.Context, name, password, client string) (User, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if len(name) > 64 || len(password) > 1024 {
		return User{}, ErrLogin()
	}
	u, err := s.store.UserByName(ctx, name)
	if err != nil {
		if !issuer.Is(err, issuer.ErrNotFound) {
			return User{}, err
		}
		// Spend the same time as for a real account.
		s.dummyOnce.Do(func() { s.dummy, _ = HashPassword("certd-dummy-password", s.params()) })
		CheckPassword(s.dummy, password)
		_ = s.store.AppendAudit(ctx, s.event("anonymous", "account.login_unknown", "", truncate(name, 64), map[string]any{"client": client}))
		return User{}, ErrLogin()
	}
	now := s.now()
	ok := CheckPassword(u.PasswordHash, password)
	if ok && !u.Locked(now) && !u.Disabled && u.TOTPEnabled {
		// The password is right but the sign-in is not done: the failure
		// count stays, so that alternating a known password with code
		// guesses never resets the lockout.
		if err := s.store.AppendAudit(ctx, s.event(u.Name, "account.login_password", u.InstitutionID, u.Name, map[string]any{"client": client})); err != nil {
			return User{}, err
		}
		return u, nil
	}
	if ok && !u.Locked(now) && !u.Disabled {
		if err := s.store.LoginSucceeded(ctx, u.ID, now, s.event(u.Name, "account.login", u.InstitutionID, u.Name, map[string]any{"client": client})); err != nil {
			return User{}, err
		}
		u.FailedLogins, u.LastLoginAt = 0, now
		return u, nil
	}
	if err := s.countFailure(ctx, u, now, "account.login_failed", client); err != nil {
		return User{}, err
	}
	return User{}, ErrLogin()
}

// countFailure counts a refused password (action names the audit line)
// towards the account's lockout.
func (s *Service) countFailure(ctx context.Context, u User, now time.Time, action, client string) error {
	detail := map[string]any{"client": client}
	if u.Locked(now) {
		detail["locked"] = true
	}
	if u.Disabled {
		detail["disabled"] = true
	}
	failed := s.event(u.Name, action, u.InstitutionID, u.Name, detail)
	locked := s.event(u.Name, "account.locked", u.InstitutionID, u.Name, map[string]any{"client": client, "minutes": int(s.lockFor().Minutes())})
	_, err := s.store.LoginFailed(ctx, u.ID, now, s.maxFailures(), s.lockFor(), failed, locked)
	return err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Logout ends every session of the account.
func (s *Service) Logout(ctx context.Context, u User) error {
	return s.store.EndSessions(ctx, u.ID, s.event(u.Name, "account.logout", u.InstitutionID, u.Name, nil))
}

// CreateToken makes an API token for by itself; the secret is returned
// once. ttl zero means 90 days: automation tokens should be rotated.
func (s *Service) CreateToken(ctx context.Context, by User, label string, scopes []Scope, ttl time.Duration) (Token, string, error) {
	label = strings.TrimSpace(label)
	if label == "" || utf8.RuneCountInString(label) > 50 {
		return Token{}, "", issuer.Errorf(issuer.ErrInvalid, "token_label", "令牌名称不能为空且不超过50字", "the token label must be 1-50 characters")
	}
	if len(scopes) == 0 {
		return Token{}, "", issuer.Errorf(issuer.ErrInvalid, "token_scopes", "请至少选择一个权限范围", "choose at least one scope")
	}
	for _, sc := range scopes {
		if !sc.Valid() {
			return Token{}, "", issuer.Errorf(issuer.ErrInvalid, "token_scopes", "未知的权限范围“%s”", "unknown scope %q", sc)
		}
	}
	if by.Disabled {
		return Token{}, "", forbidden()
	}
	if ttl <= 0 {
		ttl = 90 * 24 * time.Hour
	}
	// Sorted on a copy: the caller's slice (the console passes
	// account.Scopes itself) is not ours to reorder.
	scopes = slices.Compact(slices.Sorted(slices.Values(scopes)))
	secret := newTokenSecret()
	now := s.now()
	t := Token{ID: randomID("t", 8), UserID: by.ID, Label: label, Hash: HashToken(secret), Scopes: scopes, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.store.CreateToken(ctx, t, s.event(by.Name, "token.create", by.InstitutionID, t.ID, map[string]any{"label": label, "scopes": scopes})); err != nil {
		return Token{}, "", err
	}
	return t, secret, nil
}

// ErrToken is the one answer to any unusable token.
func ErrToken() error {
	return issuer.Errorf(issuer.ErrInvalid, "token_invalid", "API令牌无效、已过期或已吊销", "the API token is invalid, expired or revoked")
}

// Authenticate resolves an API token to its user.
func (s *Service) Authenticate(ctx context.Context, secret string) (User, Token, error) {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 100 {
		return User{}, Token{}, ErrToken()
	}
	t, err := s.store.TokenByHash(ctx, HashToken(secret))
	if err != nil {
		if issuer.Is(err, issuer.ErrNotFound) {
			return User{}, Token{}, ErrToken()
		}
		return User{}, Token{}, err
	}
	now := s.now()
	if !t.RevokedAt.IsZero() || (!t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)) {
		return User{}, Token{}, ErrToken()
	}
	u, err := s.store.User(ctx, t.UserID)
	if err != nil {
		return User{}, Token{}, err
	}
	if u.Disabled {
		return User{}, Token{}, ErrToken()
	}
	return u, t, nil
}

// Tokens lists by's own tokens.
func (s *Service) Tokens(ctx context.Context, by User) ([]Token, error) {
	return s.store.Tokens(ctx, by.ID)
}

// ManagedTokens lists the API tokens of every account by manages: all of
// them for an authority administrator, its own college's for a college
// administrator. Anyone else is refused.
func (s *Service) ManagedTokens(ctx context.Context, by User) ([]Token, error) {
	if by.Disabled {
		return nil, forbidden()
	}
	switch by.Role {
	case AuthorityAdmin:
		return s.store.TokensOf(ctx, UserFilter{})
	case CollegeAdmin:
		if by.InstitutionID == "" {
			return nil, forbidden()
		}
		return s.store.TokensOf(ctx, UserFilter{InstitutionID: by.InstitutionID})
	}
	return nil, forbidden()
}

// RevokeToken revokes a token of by's own, or of an account by manages
// (see MayManage). Anyone else's token is "not found", like one that does
// not exist. The audit line names the token's holder.
func (s *Service) RevokeToken(ctx context.Context, by User, id string) error {
	t, err := s.store.Token(ctx, id)
	if err != nil {
		return err
	}
	owner := by
	if t.UserID != by.ID {
		if owner, err = s.managed(ctx, by, t.UserID); err != nil {
			if issuer.Is(err, issuer.ErrNotFound) || issuer.Is(err, issuer.ErrForbidden) {
				return ErrTokenNotFound()
			}
			return err
		}
	}
	return s.store.RevokeToken(ctx, id, s.now(), s.event(by.Name, "token.revoke", owner.InstitutionID, id, map[string]any{"user": owner.Name}))
}
