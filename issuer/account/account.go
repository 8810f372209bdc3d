// Package account holds the people (and automation tokens) who use the web
// console: who they are, what role they have, for which institution, and
// how they prove it. "谁评价、谁发证、谁负责": every issuing action is
// attributed to a named account, so accounts are never shared and never
// deleted — only disabled.
//
// # Roles
//
//   - authority_admin: the provincial authority; registers institutions,
//     keeps the catalogue, creates any account.
//   - college_admin: a college's certification office head; its settings,
//     fees and users, plus everything an operator does.
//   - college_operator: imports rosters, issues, prints, revokes and
//     corrects for its own college.
//   - auditor: reads everything of its college, or of the whole province
//     when it has no institution; changes nothing.
//
// [User.Actor] maps an account onto the [issuer.Actor] the issuing service
// checks, so tenant isolation is decided by the server from the stored
// account, never from anything a browser sends.
//
// # Secrets
//
// Passwords are hashed with argon2id (memory-hard, PHC string with its
// parameters so they can be raised later). API tokens carry 160 random bits
// and are stored as their SHA-256: a fast hash is enough for a secret that
// cannot be guessed, and it lets the token be looked up by its hash.
package account

import (
	"context"
	"time"

	"certd/issuer"
)

// Role is what an account may do.
type Role string

const (
	AuthorityAdmin  Role = "authority_admin"
	CollegeAdmin    Role = "college_admin"
	CollegeOperator Role = "college_operator"
	Auditor         Role = "auditor"
)

// Roles lists the roles in display order.
var Roles = []Role{AuthorityAdmin, CollegeAdmin, CollegeOperator, Auditor}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case AuthorityAdmin, CollegeAdmin, CollegeOperator, Auditor:
		return true
	}
	return false
}

// Chinese returns the label shown to users.
func (r Role) Chinese() string {
	switch r {
	case AuthorityAdmin:
		return "主管部门管理员"
	case CollegeAdmin:
		return "院校管理员"
	case CollegeOperator:
		return "院校经办人"
	case Auditor:
		return "审计员（只读）"
	}
	return string(r)
}

// English returns the English label.
func (r Role) English() string {
	switch r {
	case AuthorityAdmin:
		return "authority administrator"
	case CollegeAdmin:
		return "college administrator"
	case CollegeOperator:
		return "college operator"
	case Auditor:
		return "auditor (read-only)"
	}
	return string(r)
}

// User is a console account.
type User struct {
	ID          string
	Name        string // login name: lower-case, unique, never reused
	DisplayName string
	Role        Role
	// InstitutionID scopes college roles and a college auditor; it is ""
	// for the authority administrator and a province-wide auditor.
	InstitutionID string
	PasswordHash  string
	Disabled      bool
	FailedLogins  int
	LockedUntil   time.Time
	// SessionGen is part of every session token; bumping it (logout,
	// password change, disabling) ends all sessions of the account at once.
	SessionGen int
	// MustChange is set on generated passwords: the holder is asked to
	// choose their own at the next login.
	MustChange  bool
	CreatedAt   time.Time
	CreatedBy   string
	LastLoginAt time.Time
	// TOTPSealed is the account's TOTP secret sealed under the KEK (nil:
	// none); TOTPEnabled is set once a code from it was proved, and
	// TOTPStep is the last 30-second step a code was accepted for.
	TOTPSealed  []byte
	TOTPEnabled bool
	TOTPStep    int64
}

// TOTPRequired reports whether the account may not work without a second
// factor: the authority's administrators, who register colleges and their
// signing keys.
func (u User) TOTPRequired() bool { return u.Role == AuthorityAdmin }

// TOTPOffered reports whether the account may enrol a second factor:
// administrators.
func (u User) TOTPOffered() bool { return u.Role == AuthorityAdmin || u.Role == CollegeAdmin }

// Authority reports whether the account acts province-wide.
func (u User) Authority() bool {
	return u.Role == AuthorityAdmin || (u.Role == Auditor && u.InstitutionID == "")
}

// Actor is the issuing service's view of the account.
func (u User) Actor() issuer.Actor {
	switch u.Role {
	case AuthorityAdmin:
		return issuer.Actor{Name: u.Name, Authority: true}
	case CollegeAdmin, CollegeOperator:
		return issuer.Actor{Name: u.Name, InstitutionID: u.InstitutionID}
	case Auditor:
		return issuer.Actor{Name: u.Name, Authority: u.InstitutionID == "", InstitutionID: u.InstitutionID, ReadOnly: true}
	}
	// An unknown role acts for nobody.
	return issuer.Actor{Name: u.Name, InstitutionID: "\x00none", ReadOnly: true}
}

// Locked reports whether the account is locked out at t.
func (u User) Locked(t time.Time) bool { return !u.LockedUntil.IsZero() && t.Before(u.LockedUntil) }

// Scope is what an API token may be used for. A token never exceeds its
// user's role: the scope only narrows it.
type Scope string

const (
	ScopeLedgerRead Scope = "ledger:read"        // list and read certificates
	ScopeIssue      Scope = "roster:issue"       // check and issue rosters
	ScopeRevoke     Scope = "certificate:revoke" // revoke certificates
	ScopeAuditRead  Scope = "audit:read"         // read the audit log
)

// Scopes lists every scope.
var Scopes = []Scope{ScopeLedgerRead, ScopeIssue, ScopeRevoke, ScopeAuditRead}

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool {
	for _, k := range Scopes {
		if s == k {
			return true
		}
	}
	return false
}

// Token is an API token; the secret itself is shown once and never stored.
type Token struct {
	ID        string
	UserID    string
	Label     string
	Hash      string // hex SHA-256 of the whole token string
	Scopes    []Scope
	CreatedAt time.Time
	ExpiresAt time.Time // zero: no expiry
	RevokedAt time.Time // zero while usable
}

// Has reports whether the token carries scope s.
func (t Token) Has(s Scope) bool {
	for _, k := range t.Scopes {
		if k == s {
			return true
		}
	}
	return false
}

// UserFilter selects accounts; zero fields do not filter.
type UserFilter struct {
	InstitutionID string
}

// Store keeps accounts. It is implemented natively by store/sqlite and
// store/postgres and held to storetest.RunAccounts. Like issuer.Store,
// every change appends its audit events in the same transaction.
type Store interface {
	// CreateUser stores a new account; ErrConflict (code user_exists) if
	// the name is taken.
	CreateUser(ctx context.Context, u User, ev issuer.AuditEvent) error
	// User returns an account by ID; ErrNotFound (user_not_found).
	User(ctx context.Context, id string) (User, error)
	// UserByName returns an account by login name; ErrNotFound.
	UserByName(ctx context.Context, name string) (User, error)
	// Users lists accounts ordered by name.
	Users(ctx context.Context, f UserFilter) ([]User, error)
	// SetPassword replaces the password hash, clears failures and lockout,
	// ends every session and revokes (at) every API token of the account
	// not revoked yet, in one transaction: a token must not outlive the
	// password it was made under.
	SetPassword(ctx context.Context, id, hash string, mustChange bool, at time.Time, ev issuer.AuditEvent) error
	// SetDisabled disables or re-enables an account and ends its sessions.
	// Disabling also revokes (at) every API token of the account, in the
	// same transaction, so that enabling it again brings none back.
	SetDisabled(ctx context.Context, id string, disabled bool, at time.Time, ev issuer.AuditEvent) error
	// EndSessions ends every session of the account (logout).
	EndSessions(ctx context.Context, id string, ev issuer.AuditEvent) error
	// LoginFailed counts a failed login atomically. When the count reaches
	// max the account is locked until at+lockFor, the count restarts and
	// locked is appended as well as failed. It returns the updated account.
	LoginFailed(ctx context.Context, id string, at time.Time, max int, lockFor time.Duration, failed, locked issuer.AuditEvent) (User, error)
	// LoginSucceeded clears the failure count and records the login time.
	LoginSucceeded(ctx context.Context, id string, at time.Time, ev issuer.AuditEvent) error
	// CreateToken stores an API token; ErrConflict if the hash exists.
	CreateToken(ctx context.Context, t Token, ev issuer.AuditEvent) error
	// TokenByHash finds a token by the hash of its secret; ErrNotFound.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// Token returns a token by ID; ErrNotFound (token_not_found).
	Token(ctx context.Context, id string) (Token, error)
	// Tokens lists a user's tokens, oldest first.
	Tokens(ctx context.Context, userID string) ([]Token, error)
	// TokensOf lists the tokens of every account f selects (a college's,
	// or all), oldest first.
	TokensOf(ctx context.Context, f UserFilter) ([]Token, error)
	// RevokeToken revokes a token; ErrConflict if it already was.
	RevokeToken(ctx context.Context, id string, at time.Time, ev issuer.AuditEvent) error
	// SessionKey stores sealed as the session-signing key unless one is
	// already stored, and returns the stored one: concurrent first starts
	// of several processes agree on one key.
	SessionKey(ctx context.Context, sealed []byte, at time.Time) ([]byte, error)
	// SetTOTP stores the sealed TOTP secret (nil: none), whether it is
	// enabled and the last step used. Removing it ends every session of
	// the account.
	SetTOTP(ctx context.Context, id string, sealed []byte, enabled bool, step int64, ev issuer.AuditEvent) error
	// UseTOTPStep records step as the last one used, atomically, only if
	// TOTP is enabled and step is later than the last one; it reports
	// whether it did (false: a replayed code).
	UseTOTPStep(ctx context.Context, id string, step int64) (bool, error)
	// AppendAudit appends an event that is not part of a change (a login
	// attempt for an unknown name).
	AppendAudit(ctx context.Context, ev issuer.AuditEvent) error
}

// The constructors below are shared by both backends so that the Code a
// caller branches on is the same whatever the engine.

// ErrUserNotFound is returned for an unknown account.
func ErrUserNotFound() error {
	return issuer.Errorf(issuer.ErrNotFound, "user_not_found", "账号不存在", "no such account")
}

// ErrUserExists is returned when a login name is taken.
func ErrUserExists(name string) error {
	return issuer.Errorf(issuer.ErrConflict, "user_exists", "登录名“%s”已被使用", "login name %q is taken", name)
}

// ErrTokenNotFound is returned for an unknown token.
func ErrTokenNotFound() error {
	return issuer.Errorf(issuer.ErrNotFound, "token_not_found", "API令牌不存在", "no such API token")
}

// ErrTokenRevoked is returned when revoking a revoked token.
func ErrTokenRevoked() error {
	return issuer.Errorf(issuer.ErrConflict, "token_revoked", "API令牌已被吊销", "the API token is already revoked")
}
