package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/account"
)

// AccountStore is a backend that keeps both the issuing records and the
// console accounts, as both shipped backends do.
type AccountStore interface {
	issuer.Store
	account.Store
}

// RunAccounts runs the conformance suite of account.Store. open has the
// same contract as for Run.
func RunAccounts(t *testing.T, open func(t *testing.T) AccountStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, AccountStore)
	}{
		{"UserRoundTrip", testUserRoundTrip},
		{"UserNameUnique", testUserNameUnique},
		{"UserInstitutionMustExist", testUserInstitutionMustExist},
		{"UsersFilter", testUsersFilter},
		{"UserChangesEndSessions", testUserChangesEndSessions},
		{"UnknownUser", testUnknownUser},
		{"Lockout", testLockout},
		{"ConcurrentLoginFailures", testConcurrentLoginFailures},
		{"Tokens", testTokens},
		{"ConcurrentTokenRevoke", testConcurrentTokenRevoke},
		{"PasswordAndDisableRevokeTokens", testPasswordAndDisableRevokeTokens},
		{"TokensOf", testTokensOf},
		{"SessionKey", testSessionKey},
		{"TOTP", testTOTP},
		{"ConcurrentTOTPStep", testConcurrentTOTPStep},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

func user(id, name string, role account.Role, inst string) account.User {
	// #nosec G101 -- the hash is of no password: its salt and digest are the base64 of "salt" and "hash".
	return account.User{ID: id, Name: name, DisplayName: "张" + name, Role: role, InstitutionID: inst,
		PasswordHash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", SessionGen: 1, CreatedAt: t0, CreatedBy: "root"}
}

func addUser(t testing.TB, s AccountStore, u account.User) {
	t.Helper()
	must(t, s.CreateUser(t.Context(), u, event("account.create", u.InstitutionID, u.Name)))
}

func testUserRoundTrip(t *testing.T, s AccountStore) {
	setup(t, s)
	u := user("u1", "op.alpha", account.CollegeOperator, "alpha")
	u.MustChange, u.LastLoginAt = true, t0.Add(time.Hour)
	addUser(t, s, u)
	got, err := s.User(t.Context(), "u1")
	must(t, err)
	equal(t, "by id", got, u)
	got, err = s.UserByName(t.Context(), "op.alpha")
	must(t, err)
	equal(t, "by name", got, u)
	admin := user("u2", "root", account.AuthorityAdmin, "")
	addUser(t, s, admin)
	got, err = s.User(t.Context(), "u2")
	must(t, err)
	equal(t, "authority admin (no institution)", got, admin)
	if n := countAudit(t, s, issuer.AuditFilter{Action: "account.create"}); n != 2 {
		t.Fatalf("account.create events = %d, want 2", n)
	}
}

func testUserNameUnique(t *testing.T, s AccountStore) {
	setup(t, s)
	addUser(t, s, user("u1", "same", account.CollegeAdmin, "alpha"))
	err := s.CreateUser(t.Context(), user("u2", "same", account.CollegeAdmin, "beta"), event("account.create", "beta", "same"))
	wantErr(t, err, issuer.ErrConflict, "user_exists")
	if n := countAudit(t, s, issuer.AuditFilter{Action: "account.create"}); n != 1 {
		t.Fatalf("account.create events = %d, want 1 (the refused create must leave none)", n)
	}
	if _, err := s.User(t.Context(), "u2"); err == nil {
		t.Fatal("refused user was stored")
	}
}

func testUserInstitutionMustExist(t *testing.T, s AccountStore) {
	setup(t, s)
	err := s.CreateUser(t.Context(), user("u1", "ghost", account.CollegeOperator, "nowhere"), event("account.create", "nowhere", "ghost"))
	wantErr(t, err, issuer.ErrNotFound, "")
}

func testUsersFilter(t *testing.T, s AccountStore) {
	setup(t, s)
	addUser(t, s, user("u1", "b-op", account.CollegeOperator, "beta"))
	addUser(t, s, user("u2", "a-op", account.CollegeOperator, "alpha"))
	addUser(t, s, user("u3", "a-admin", account.CollegeAdmin, "alpha"))
	addUser(t, s, user("u4", "root", account.AuthorityAdmin, ""))
	names := func(f account.UserFilter) []string {
		us, err := s.Users(t.Context(), f)
		must(t, err)
		var out []string
		for _, u := range us {
			out = append(out, u.Name)
		}
		return out
	}
	equal(t, "all", names(account.UserFilter{}), []string{"a-admin", "a-op", "b-op", "root"})
	equal(t, "alpha", names(account.UserFilter{InstitutionID: "alpha"}), []string{"a-admin", "a-op"})
	equal(t, "beta", names(account.UserFilter{InstitutionID: "beta"}), []string{"b-op"})
}

func testUserChangesEndSessions(t *testing.T, s AccountStore) {
	setup(t, s)
	ctx := t.Context()
	addUser(t, s, user("u1", "op", account.CollegeOperator, "alpha"))
	gen := func() account.User {
		u, err := s.User(ctx, "u1")
		must(t, err)
		return u
	}
	must(t, s.EndSessions(ctx, "u1", event("account.logout", "alpha", "op")))
	if g := gen().SessionGen; g != 2 {
		t.Fatalf("after logout gen = %d, want 2", g)
	}
	must(t, s.SetDisabled(ctx, "u1", true, t0, event("account.disable", "alpha", "op")))
	if u := gen(); !u.Disabled || u.SessionGen != 3 {
		t.Fatalf("after disable: %+v", u)
	}
	must(t, s.SetDisabled(ctx, "u1", false, t0, event("account.enable", "alpha", "op")))
	_, err := s.LoginFailed(ctx, "u1", t0, 1, time.Hour, event("account.login_failed", "alpha", "op"), event("account.locked", "alpha", "op"))
	must(t, err)
	if u := gen(); u.LockedUntil.IsZero() {
		t.Fatal("not locked")
	}
	must(t, s.SetPassword(ctx, "u1", "$argon2id$new", true, t0, event("account.password_reset", "alpha", "op")))
	u := gen()
	if u.PasswordHash != "$argon2id$new" || !u.MustChange || !u.LockedUntil.IsZero() || u.FailedLogins != 0 || u.SessionGen != 5 {
		t.Fatalf("after password reset: %+v", u)
	}
	must(t, s.LoginSucceeded(ctx, "u1", t0.Add(time.Minute), event("account.login", "alpha", "op")))
	if u := gen(); !u.LastLoginAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("last login = %v", u.LastLoginAt)
	}
	evs, err := s.Audit(ctx, issuer.AuditFilter{Subject: "op"})
	must(t, err)
	var actions []string
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	equal(t, "audit", actions, []string{"account.create", "account.logout", "account.disable", "account.enable", "account.login_failed", "account.locked", "account.password_reset", "account.login"})
}

func testUnknownUser(t *testing.T, s AccountStore) {
	ctx := t.Context()
	_, err := s.User(ctx, "nope")
	wantErr(t, err, issuer.ErrNotFound, "user_not_found")
	_, err = s.UserByName(ctx, "nope")
	wantErr(t, err, issuer.ErrNotFound, "user_not_found")
	wantErr(t, s.SetPassword(ctx, "nope", "x", false, t0, event("account.password_reset", "", "nope")), issuer.ErrNotFound, "user_not_found")
	wantErr(t, s.SetDisabled(ctx, "nope", true, t0, event("account.disable", "", "nope")), issuer.ErrNotFound, "user_not_found")
	wantErr(t, s.EndSessions(ctx, "nope", event("account.logout", "", "nope")), issuer.ErrNotFound, "user_not_found")
	_, err = s.LoginFailed(ctx, "nope", t0, 5, time.Minute, event("f", "", "nope"), event("l", "", "nope"))
	wantErr(t, err, issuer.ErrNotFound, "user_not_found")
	if n := countAudit(t, s, issuer.AuditFilter{Subject: "nope"}); n != 0 {
		t.Fatalf("changes to an unknown user left %d audit events", n)
	}
}

func testLockout(t *testing.T, s AccountStore) {
	setup(t, s)
	ctx := t.Context()
	addUser(t, s, user("u1", "op", account.CollegeOperator, "alpha"))
	for i := 1; i <= 3; i++ {
		u, err := s.LoginFailed(ctx, "u1", t0, 3, 15*time.Minute, event("account.login_failed", "alpha", "op"), event("account.locked", "alpha", "op"))
		must(t, err)
		switch {
		case i < 3 && (u.FailedLogins != i || !u.LockedUntil.IsZero()):
			t.Fatalf("failure %d: %+v", i, u)
		case i == 3 && (u.FailedLogins != 0 || !u.LockedUntil.Equal(t0.Add(15*time.Minute))):
			t.Fatalf("third failure should lock until %v: %+v", t0.Add(15*time.Minute), u)
		}
	}
	u, err := s.User(ctx, "u1")
	must(t, err)
	if !u.Locked(t0.Add(14*time.Minute)) || u.Locked(t0.Add(15*time.Minute)) {
		t.Fatalf("locked until %v", u.LockedUntil)
	}
	if n := countAudit(t, s, issuer.AuditFilter{Action: "account.login_failed"}); n != 3 {
		t.Fatalf("login_failed events = %d", n)
	}
	if n := countAudit(t, s, issuer.AuditFilter{Action: "account.locked"}); n != 1 {
		t.Fatalf("locked events = %d", n)
	}
}

func testConcurrentLoginFailures(t *testing.T, s AccountStore) {
	setup(t, s)
	addUser(t, s, user("u1", "op", account.CollegeOperator, "alpha"))
	const n = 16
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := s.LoginFailed(t.Context(), "u1", t0, 1000, time.Minute, event("account.login_failed", "alpha", "op"), event("account.locked", "alpha", "op"))
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	u, err := s.User(t.Context(), "u1")
	must(t, err)
	if u.FailedLogins != n {
		t.Fatalf("failed logins = %d after %d concurrent failures: a guess went uncounted", u.FailedLogins, n)
	}
}

func testTokens(t *testing.T, s AccountStore) {
	setup(t, s)
	ctx := t.Context()
	addUser(t, s, user("u1", "op", account.CollegeOperator, "alpha"))
	tok := account.Token{ID: "t1", UserID: "u1", Label: "教务系统", Hash: "ab12", Scopes: []account.Scope{account.ScopeLedgerRead, account.ScopeIssue},
		CreatedAt: t0, ExpiresAt: t0.Add(90 * 24 * time.Hour)}
	must(t, s.CreateToken(ctx, tok, event("token.create", "alpha", "t1")))
	got, err := s.TokenByHash(ctx, "ab12")
	must(t, err)
	equal(t, "token", got, tok)
	dup := tok
	dup.ID = "t2"
	wantErr(t, s.CreateToken(ctx, dup, event("token.create", "alpha", "t2")), issuer.ErrConflict, "")
	orphan := tok
	orphan.ID, orphan.UserID, orphan.Hash = "t3", "nobody", "cd34"
	wantErr(t, s.CreateToken(ctx, orphan, event("token.create", "alpha", "t3")), issuer.ErrNotFound, "")
	_, err = s.TokenByHash(ctx, "ffff")
	wantErr(t, err, issuer.ErrNotFound, "token_not_found")
	must(t, s.RevokeToken(ctx, "t1", t0.Add(time.Hour), event("token.revoke", "alpha", "t1")))
	wantErr(t, s.RevokeToken(ctx, "t1", t0.Add(2*time.Hour), event("token.revoke", "alpha", "t1")), issuer.ErrConflict, "token_revoked")
	wantErr(t, s.RevokeToken(ctx, "zz", t0, event("token.revoke", "alpha", "zz")), issuer.ErrNotFound, "token_not_found")
	ts, err := s.Tokens(ctx, "u1")
	must(t, err)
	if len(ts) != 1 || !ts[0].RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("tokens after revoke: %+v", ts)
	}
	if n := countAudit(t, s, issuer.AuditFilter{Action: "token.revoke"}); n != 1 {
		t.Fatalf("token.revoke events = %d, want 1", n)
	}
	if n := countAudit(t, s, issuer.AuditFilter{Action: "token.create"}); n != 1 {
		t.Fatalf("token.create events = %d, want 1", n)
	}
}

// A password change or reset, and disabling, revoke every token of the
// account in the same transaction; nothing else does, and no other
// account's tokens are touched.
func testPasswordAndDisableRevokeTokens(t *testing.T, s AccountStore) {
	setup(t, s)
	ctx := t.Context()
	addUser(t, s, user("u1", "op", account.CollegeOperator, "alpha"))
	addUser(t, s, user("u2", "other", account.CollegeOperator, "alpha"))
	n := 0
	mint := func(userID string) string {
		n++
		id := fmt.Sprintf("t%d", n)
		must(t, s.CreateToken(ctx, account.Token{ID: id, UserID: userID, Label: "x", Hash: "h" + id, Scopes: []account.Scope{account.ScopeLedgerRead}, CreatedAt: t0}, event("token.create", "alpha", id)))
		return id
	}
	revokedAt := func(id string) time.Time {
		tok, err := s.Token(ctx, id)
		must(t, err)
		return tok.RevokedAt
	}
	early := mint("u1")
	must(t, s.RevokeToken(ctx, early, t0, event("token.revoke", "alpha", early)))
	a, b, other := mint("u1"), mint("u1"), mint("u2")
	must(t, s.EndSessions(ctx, "u1", event("account.logout", "alpha", "op")))
	must(t, s.SetDisabled(ctx, "u1", false, t0.Add(time.Minute), event("account.enable", "alpha", "op")))
	if !revokedAt(a).IsZero() {
		t.Fatal("a logout or an enable revoked a token")
	}
	reset := t0.Add(time.Hour)
	must(t, s.SetPassword(ctx, "u1", "$argon2id$new", true, reset, event("account.password_reset", "alpha", "op")))
	for _, id := range []string{a, b} {
		if !revokedAt(id).Equal(reset) {
			t.Fatalf("token %s after the password reset: revoked at %v, want %v", id, revokedAt(id), reset)
		}
	}
	if !revokedAt(early).Equal(t0) {
		t.Fatalf("an already revoked token was revoked again: %v", revokedAt(early))
	}
	if !revokedAt(other).IsZero() {
		t.Fatal("another account's token was revoked")
	}
	c := mint("u1")
	disabled := t0.Add(2 * time.Hour)
	must(t, s.SetDisabled(ctx, "u1", true, disabled, event("account.disable", "alpha", "op")))
	if !revokedAt(c).Equal(disabled) {
		t.Fatalf("token after disabling: revoked at %v", revokedAt(c))
	}
	_, err := s.Token(ctx, "nope")
	wantErr(t, err, issuer.ErrNotFound, "token_not_found")
}

func testTokensOf(t *testing.T, s AccountStore) {
	setup(t, s)
	ctx := t.Context()
	addUser(t, s, user("u1", "a-op", account.CollegeOperator, "alpha"))
	addUser(t, s, user("u2", "b-op", account.CollegeOperator, "beta"))
	addUser(t, s, user("u3", "root", account.AuthorityAdmin, ""))
	for i, u := range []string{"u1", "u2", "u3", "u1"} {
		id := fmt.Sprintf("t%d", i+1)
		must(t, s.CreateToken(ctx, account.Token{ID: id, UserID: u, Label: "x", Hash: "h" + id, Scopes: []account.Scope{account.ScopeLedgerRead}, CreatedAt: t0.Add(time.Duration(i) * time.Minute)}, event("token.create", "", id)))
	}
	ids := func(f account.UserFilter) []string {
		ts, err := s.TokensOf(ctx, f)
		must(t, err)
		var out []string
		for _, tok := range ts {
			out = append(out, tok.ID)
		}
		return out
	}
	equal(t, "all", ids(account.UserFilter{}), []string{"t1", "t2", "t3", "t4"})
	equal(t, "alpha", ids(account.UserFilter{InstitutionID: "alpha"}), []string{"t1", "t4"})
	equal(t, "beta", ids(account.UserFilter{InstitutionID: "beta"}), []string{"t2"})
	if got := ids(account.UserFilter{InstitutionID: "gamma"}); len(got) != 0 {
		t.Fatalf("an unknown college has tokens %v", got)
	}
}

func testConcurrentTokenRevoke(t *testing.T, s AccountStore) {
	setup(t, s)
	addUser(t, s, user("u1", "op", account.CollegeOperator, "alpha"))
	must(t, s.CreateToken(t.Context(), account.Token{ID: "t1", UserID: "u1", Label: "x", Hash: "h", Scopes: []account.Scope{account.ScopeAuditRead}, CreatedAt: t0}, event("token.create", "alpha", "t1")))
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Go(func() {
			if err := s.RevokeToken(t.Context(), "t1", t0, event("token.revoke", "alpha", "t1")); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !issuer.Is(err, issuer.ErrConflict) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d revocations succeeded, want exactly 1", ok)
	}
}

func testSessionKey(t *testing.T, s AccountStore) {
	var wg sync.WaitGroup
	const callers = 8
	got := make([][]byte, callers)
	for i := range byte(callers) {
		wg.Go(func() {
			k, err := s.SessionKey(t.Context(), bytes.Repeat([]byte{i + 1}, 40), t0)
			if err != nil {
				t.Error(err)
			}
			got[i] = k
		})
	}
	wg.Wait()
	for i := range got {
		if len(got[i]) != 40 || !bytes.Equal(got[i], got[0]) {
			t.Fatalf("session keys disagree: %x vs %x", got[i], got[0])
		}
	}
	again, err := s.SessionKey(t.Context(), []byte("later"), t0)
	must(t, err)
	if !bytes.Equal(again, got[0]) {
		t.Fatal("a later start replaced the session key")
	}
}

// testTOTP: the sealed secret round-trips byte for byte; a step is used
// once and only forwards; removing the factor ends the sessions.
func testTOTP(t *testing.T, s AccountStore) {
	setup(t, s)
	addUser(t, s, user("u1", "root", account.AuthorityAdmin, ""))
	ctx := t.Context()
	if ok, err := s.UseTOTPStep(ctx, "u1", 5); err != nil || ok {
		t.Fatalf("a step used without TOTP enabled: %v %v", ok, err)
	}
	sealed := []byte{1, 0, 255, 7, 42}
	must(t, s.SetTOTP(ctx, "u1", sealed, false, 0, event("account.totp_begin", "", "root")))
	u, err := s.User(ctx, "u1")
	must(t, err)
	if string(u.TOTPSealed) != string(sealed) || u.TOTPEnabled || u.SessionGen != 1 {
		t.Fatalf("pending TOTP stored as %v enabled=%v gen=%d", u.TOTPSealed, u.TOTPEnabled, u.SessionGen)
	}
	must(t, s.SetTOTP(ctx, "u1", sealed, true, 100, event("account.totp_enable", "", "root")))
	for _, c := range []struct {
		step int64
		ok   bool
	}{{100, false}, {99, false}, {101, true}, {101, false}, {103, true}, {102, false}} {
		ok, err := s.UseTOTPStep(ctx, "u1", c.step)
		must(t, err)
		if ok != c.ok {
			t.Fatalf("step %d accepted=%v, want %v", c.step, ok, c.ok)
		}
	}
	u, err = s.User(ctx, "u1")
	must(t, err)
	if !u.TOTPEnabled || u.TOTPStep != 103 || u.SessionGen != 1 {
		t.Fatalf("after use: enabled=%v step=%d gen=%d", u.TOTPEnabled, u.TOTPStep, u.SessionGen)
	}
	must(t, s.SetTOTP(ctx, "u1", nil, false, 0, event("account.totp_reset", "", "root")))
	u, err = s.User(ctx, "u1")
	must(t, err)
	if u.TOTPSealed != nil || u.TOTPEnabled || u.SessionGen != 2 {
		t.Fatalf("after reset: sealed=%v enabled=%v gen=%d", u.TOTPSealed, u.TOTPEnabled, u.SessionGen)
	}
	if err := s.SetTOTP(ctx, "nobody", nil, false, 0, event("account.totp_reset", "", "x")); !issuer.Is(err, issuer.ErrNotFound) {
		t.Fatalf("SetTOTP of an unknown account: %v", err)
	}
	if n := countAudit(t, s, issuer.AuditFilter{Action: "account.totp_enable"}); n != 1 {
		t.Fatalf("account.totp_enable events = %d, want 1", n)
	}
}

// testConcurrentTOTPStep: of many requests with the same code at once,
// exactly one passes.
func testConcurrentTOTPStep(t *testing.T, s AccountStore) {
	setup(t, s)
	addUser(t, s, user("u1", "root", account.AuthorityAdmin, ""))
	must(t, s.SetTOTP(t.Context(), "u1", []byte{1}, true, 1, event("account.totp_enable", "", "root")))
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := 0
	for range 12 {
		wg.Go(func() {
			ok, err := s.UseTOTPStep(t.Context(), "u1", 2)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				passed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if passed != 1 {
		t.Fatalf("%d of 12 concurrent uses of one code passed, want 1", passed)
	}
}
