package console

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"certd/issuer/account"
	"certd/issuer/keys"
)

// Sessions are EdDSA-signed JWTs in a cookie. EdDSA rather than HS256:
// the key is an Ed25519 key sealed with the deployment's KEK by the same
// code that seals institution keys, stored once in the database so that
// every certd process behind a load balancer shares it, and nothing
// symmetric ever sits unsealed on disk. Each token names the account and
// its session generation; the account is re-read on every request, so a
// logout, password change or disabling ends all its sessions at once.

const (
	// idleTimeout: a session not used for this long ends.
	idleTimeout = 30 * time.Minute
	// absoluteTimeout: no session outlives this, however active.
	absoluteTimeout = 12 * time.Hour
	// refreshAfter: a token older than this is reissued on use (sliding).
	refreshAfter = 5 * time.Minute
	sessionAud   = "certd-console"
	sessionKID   = "session-1"
	purpose      = "console-session"
)

type claims struct {
	Gen  int   `json:"gen"`
	Auth int64 `json:"auth"` // when the password was checked
	jwt.RegisteredClaims
}

type sessions struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	csrf []byte // HMAC key for CSRF tokens, derived from the session key
	now  func() time.Time
}

// loadSessions opens the stored session key, creating it on first start.
func loadSessions(ctx context.Context, acc *account.Service, kek *keys.KEK, now func() time.Time) (*sessions, error) {
	_, fresh, err := keys.Generate()
	if err != nil {
		return nil, err
	}
	sealed, err := kek.Seal(fresh, purpose, sessionKID)
	if err != nil {
		return nil, err
	}
	stored, err := acc.SessionKey(ctx, sealed)
	if err != nil {
		return nil, err
	}
	priv, err := kek.Open(stored, purpose, sessionKID)
	if err != nil {
		return nil, errors.New("cannot open the console session key: wrong key-encryption key")
	}
	mac := hmac.New(sha256.New, priv.Seed())
	mac.Write([]byte("certd console csrf v1"))
	return &sessions{priv: priv, pub: priv.Public().(ed25519.PublicKey), csrf: mac.Sum(nil), now: now}, nil
}

func newJTI() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// issue signs a session for u; jti and auth carry over on refresh.
func (s *sessions) issue(u account.User, jti string, auth time.Time) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(idleTimeout)
	if limit := auth.Add(absoluteTimeout); exp.After(limit) {
		exp = limit
	}
	c := claims{Gen: u.SessionGen, Auth: auth.Unix(), RegisteredClaims: jwt.RegisteredClaims{
		Subject: u.ID, ID: jti, Audience: jwt.ClaimStrings{sessionAud},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
	}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(s.priv)
	return tok, exp, err
}

// parse checks a session token's signature, algorithm, audience and
// expiry. It says nothing about the account; the caller checks that.
func (s *sessions) parse(tok string) (*claims, error) {
	if len(tok) > 2048 {
		return nil, errors.New("session token too long")
	}
	c := &claims{}
	_, err := jwt.ParseWithClaims(tok, c, func(*jwt.Token) (any, error) { return s.pub, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithAudience(sessionAud),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(s.now))
	if err != nil {
		return nil, err
	}
	if c.Subject == "" || c.ID == "" || s.now().After(time.Unix(c.Auth, 0).Add(absoluteTimeout)) {
		return nil, errors.New("session incomplete or past its absolute lifetime")
	}
	return c, nil
}

// csrfToken binds a CSRF token to one session (its jti) or, before login,
// to the pre-session cookie: a token from another session never matches.
func (s *sessions) csrfToken(binding string) string {
	mac := hmac.New(sha256.New, s.csrf)
	mac.Write([]byte(binding))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (s *sessions) csrfOK(binding, got string) bool {
	if binding == "" || got == "" {
		return false
	}
	return hmac.Equal([]byte(s.csrfToken(binding)), []byte(got))
}

// SessionCheck is a cheap test of a request's console session cookie, for
// the server to decide, as a request's headers arrive, whether its body may
// be as large as an upload: it checks the token's signature, audience and
// lifetime, under either cookie name, and reads no account (the handler
// does, after the body). d is the Deps given to Mount.
func SessionCheck(ctx context.Context, d Deps) (func(cookie func(name string) []byte) bool, error) {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	s, err := loadSessions(ctx, d.Accounts, d.KEK, now)
	if err != nil {
		return nil, err
	}
	return func(cookie func(name string) []byte) bool {
		for _, name := range [...]string{"__Host-certd_session", "certd_session"} {
			if tok := cookie(name); len(tok) > 0 {
				if _, err := s.parse(string(tok)); err == nil {
					return true
				}
			}
		}
		return false
	}, nil
}

// pendingAud marks the short-lived token a correct password earns an
// account with TOTP: it names the account and its session generation and
// is good only for the second step of the sign-in, never as a session.
const (
	pendingAud      = "certd-console-totp"
	pendingLifetime = 5 * time.Minute
)

func (s *sessions) issuePending(u account.User) (string, string, time.Time, error) {
	now := s.now()
	exp := now.Add(pendingLifetime)
	jti := newJTI()
	c := claims{Gen: u.SessionGen, Auth: now.Unix(), RegisteredClaims: jwt.RegisteredClaims{
		Subject: u.ID, ID: jti, Audience: jwt.ClaimStrings{pendingAud},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
	}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(s.priv)
	return tok, jti, exp, err
}

func (s *sessions) parsePending(tok string) (*claims, error) {
	if tok == "" || len(tok) > 2048 {
		return nil, errors.New("no pending sign-in")
	}
	c := &claims{}
	_, err := jwt.ParseWithClaims(tok, c, func(*jwt.Token) (any, error) { return s.pub, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithAudience(pendingAud),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(s.now))
	if err != nil {
		return nil, err
	}
	if c.Subject == "" || c.ID == "" {
		return nil, errors.New("pending sign-in incomplete")
	}
	return c, nil
}
