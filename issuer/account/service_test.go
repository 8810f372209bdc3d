package account_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/account"
	"certd/issuer/store/postgres/pgtest"
	"certd/issuer/store/sqlite"
	"certd/issuer/store/storetest"
)

// cheap keeps tests fast; the parameters themselves are tested in
// TestPasswordHash.
var cheap = account.Params{Memory: 64, Time: 1, Threads: 1}

type backend struct {
	name string
	open func(t *testing.T) storetest.AccountStore
}

var backends = []backend{
	{"sqlite", func(t *testing.T) storetest.AccountStore {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "certd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"postgres", func(t *testing.T) storetest.AccountStore { return pgtest.Open(t) }},
}

func newService(t *testing.T, st storetest.AccountStore, now *time.Time) *account.Service {
	for _, id := range []string{"alpha", "beta"} {
		in := issuer.Institution{ID: id, Version: 1, Name: id, Prefix: map[string]string{"alpha": "J220100000001", "beta": "J220200000002"}[id],
			ValidFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ValidUntil: time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC), Status: issuer.Active, EffectiveAt: *now}
		if err := st.PutInstitution(t.Context(), in, nil, issuer.AuditEvent{Action: "institution.register", InstitutionID: id}); err != nil {
			t.Fatal(err)
		}
	}
	svc := account.New(st, issuer.New(st, nil))
	svc.Params, svc.Now = cheap, func() time.Time { return *now }
	return svc
}

// opPassword is the password of newOperator's account.
const opPassword = "the-right-password"

// newOperator makes alpha's operator "op" with password opPassword, as root.
func newOperator(t *testing.T, svc *account.Service) (root, op account.User) {
	t.Helper()
	root = account.User{ID: "root", Name: "root", Role: account.AuthorityAdmin}
	op, _, err := svc.Create(t.Context(), root, account.NewUser{Name: "op", DisplayName: "x", Role: account.CollegeOperator, InstitutionID: "alpha", Password: opPassword})
	if err != nil {
		t.Fatal(err)
	}
	return root, op
}

// eachBackend runs test in parallel on a fresh service per backend, whose
// clock reads *now (the test may move it).
func eachBackend(t *testing.T, test func(t *testing.T, st storetest.AccountStore, svc *account.Service, now *time.Time)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			now := time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)
			st := b.open(t)
			test(t, st, newService(t, st, &now), &now)
		})
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := account.HashPassword("correct horse", account.DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=47104,t=1,p=1$"; h[:len(want)] != want {
		t.Fatalf("hash %q does not record the default parameters", h)
	}
	for _, tc := range []struct {
		hash, pw string
		ok       bool
	}{
		{h, "correct horse", true},
		{h, "correct horsE", false},
		{h, "", false},
		{"$argon2i$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", "x", false},
		{"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$aGFzaA", "x", false},
		{"garbage", "garbage", false},
		{"", "", false},
	} {
		if got := account.CheckPassword(tc.hash, tc.pw); got != tc.ok {
			t.Errorf("CheckPassword(%.30q, %q) = %v, want %v", tc.hash, tc.pw, got, tc.ok)
		}
	}
	h2, _ := account.HashPassword("correct horse", account.DefaultParams)
	if h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
}

func TestMayManage(t *testing.T) {
	root := account.User{Name: "root", Role: account.AuthorityAdmin}
	aAdmin := account.User{Name: "a", Role: account.CollegeAdmin, InstitutionID: "alpha"}
	aOp := account.User{Name: "o", Role: account.CollegeOperator, InstitutionID: "alpha"}
	prov := account.User{Name: "p", Role: account.Auditor}
	tests := []struct {
		by   account.User
		role account.Role
		inst string
		ok   bool
	}{
		{root, account.AuthorityAdmin, "", true},
		{root, account.CollegeOperator, "beta", true},
		{aAdmin, account.CollegeOperator, "alpha", true},
		{aAdmin, account.Auditor, "alpha", true},
		{aAdmin, account.CollegeAdmin, "alpha", true},
		{aAdmin, account.CollegeOperator, "beta", false},
		{aAdmin, account.AuthorityAdmin, "", false},
		{aAdmin, account.Auditor, "", false},
		{aOp, account.CollegeOperator, "alpha", false},
		{prov, account.CollegeOperator, "alpha", false},
		{account.User{Role: account.AuthorityAdmin, Disabled: true}, account.CollegeOperator, "alpha", false},
	}
	for _, tc := range tests {
		err := account.MayManage(tc.by, tc.role, tc.inst)
		if (err == nil) != tc.ok {
			t.Errorf("MayManage(%s %s, %s, %q) = %v, want ok=%v", tc.by.Role, tc.by.InstitutionID, tc.role, tc.inst, err, tc.ok)
		}
	}
}

func TestActor(t *testing.T) {
	tests := []struct {
		u    account.User
		want issuer.Actor
	}{
		{account.User{Name: "r", Role: account.AuthorityAdmin}, issuer.Actor{Name: "r", Authority: true}},
		{account.User{Name: "a", Role: account.CollegeAdmin, InstitutionID: "alpha"}, issuer.Actor{Name: "a", InstitutionID: "alpha"}},
		{account.User{Name: "o", Role: account.CollegeOperator, InstitutionID: "alpha"}, issuer.Actor{Name: "o", InstitutionID: "alpha"}},
		{account.User{Name: "c", Role: account.Auditor, InstitutionID: "alpha"}, issuer.Actor{Name: "c", InstitutionID: "alpha", ReadOnly: true}},
		{account.User{Name: "p", Role: account.Auditor}, issuer.Actor{Name: "p", Authority: true, ReadOnly: true}},
	}
	for _, tc := range tests {
		if got := tc.u.Actor(); got != tc.want {
			t.Errorf("%s: Actor() = %+v, want %+v", tc.u.Role, got, tc.want)
		}
	}
	if err := (account.User{Name: "x", Role: "superuser"}).Actor().MayRead("alpha"); err == nil {
		t.Fatal("an unknown role may read")
	}
}

func TestLoginLockoutAndSessions(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			now := time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)
			st := b.open(t)
			svc := newService(t, st, &now)
			ctx := t.Context()
			root := account.User{ID: "root", Name: "root", Role: account.AuthorityAdmin}
			u, pw, err := svc.Create(ctx, root, account.NewUser{Name: "Op.Alpha", DisplayName: "李经办", Role: account.CollegeOperator, InstitutionID: "alpha"})
			if err != nil || pw == "" || u.Name != "op.alpha" || !u.MustChange {
				t.Fatalf("Create = %+v, %q, %v", u, pw, err)
			}
			if _, err := svc.Login(ctx, "op.alpha", pw, "c1"); err != nil {
				t.Fatalf("login with the generated password: %v", err)
			}
			if _, err := svc.Login(ctx, "OP.ALPHA ", pw, "c1"); err != nil {
				t.Fatalf("login is case-insensitive on the name: %v", err)
			}
			// Unknown name and wrong password give the same answer.
			_, e1 := svc.Login(ctx, "nobody", "whatever", "c1")
			_, e2 := svc.Login(ctx, "op.alpha", "wrong", "c1")
			if e1 == nil || e1.Error() != e2.Error() {
				t.Fatalf("unknown name %v vs wrong password %v", e1, e2)
			}
			for range 4 {
				svc.Login(ctx, "op.alpha", "wrong", "c1")
			}
			// Locked: the right password is answered exactly as a wrong one
			// (TestLockedAnswersAsWrongPassword has the details).
			if _, err = svc.Login(ctx, "op.alpha", pw, "c1"); err == nil || err.Error() != e2.Error() {
				t.Fatalf("after 5 failures the right password gives %v, want %v", err, e2)
			}
			now = now.Add(16 * time.Minute)
			if _, err := svc.Login(ctx, "op.alpha", pw, "c1"); err != nil {
				t.Fatalf("after the lockout: %v", err)
			}
			// Changing the password ends sessions and checks the old one.
			before, _ := st.User(ctx, u.ID)
			if _, err := svc.ChangePassword(ctx, u, "wrong", "a-much-better-one", "c1"); codeOf(err) != "password_wrong" {
				t.Fatalf("change with wrong current: %v", err)
			}
			if _, err := svc.ChangePassword(ctx, u, pw, "short", "c1"); codeOf(err) != "password_length" {
				t.Fatalf("short password: %v", err)
			}
			changed, err := svc.ChangePassword(ctx, u, pw, "a-much-better-one", "c1")
			if err != nil {
				t.Fatal(err)
			}
			after, _ := st.User(ctx, u.ID)
			if after.SessionGen <= before.SessionGen || after.MustChange || changed.SessionGen != after.SessionGen {
				t.Fatalf("password change: gen %d → %d (returned %d), must change %v", before.SessionGen, after.SessionGen, changed.SessionGen, after.MustChange)
			}
			// A session from before the change is over; one for the account
			// the change returned is live.
			if _, err := svc.SessionUser(ctx, u.ID, before.SessionGen); codeOf(err) != "session_ended" {
				t.Fatalf("session from before the password change: %v", err)
			}
			if _, err := svc.SessionUser(ctx, u.ID, changed.SessionGen); err != nil {
				t.Fatalf("session after the password change: %v", err)
			}
			// Disabled accounts cannot log in, even with the right password,
			// and their sessions end.
			if _, err := svc.SetDisabled(ctx, root, u.ID, true); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.SessionUser(ctx, u.ID, changed.SessionGen+1); codeOf(err) != "session_ended" {
				t.Fatalf("session of a disabled account: %v", err)
			}
			if _, err := svc.Login(ctx, "op.alpha", "a-much-better-one", "c1"); err == nil || err.Error() != e2.Error() {
				t.Fatalf("disabled login: %v, want %v", err, e2)
			}
			evs, _ := st.Audit(ctx, issuer.AuditFilter{Subject: "op.alpha"})
			seen := map[string]int{}
			for _, e := range evs {
				seen[e.Action]++
				if e.Actor == "" {
					t.Errorf("event %s without actor", e.Action)
				}
			}
			for action, n := range map[string]int{"account.create": 1, "account.login": 3, "account.login_failed": 7, "account.locked": 1, "account.password_change": 1, "account.disable": 1} {
				if seen[action] != n {
					t.Errorf("audit %s = %d, want %d (all: %v)", action, seen[action], n, seen)
				}
			}
		})
	}
}

// A locked or disabled account answers every password exactly as a wrong
// one, and every such attempt counts: a guesser learns nothing from the
// lock, and cannot guess on for free while it lasts.
func TestLockedAnswersAsWrongPassword(t *testing.T) {
	eachBackend(t, func(t *testing.T, st storetest.AccountStore, svc *account.Service, now *time.Time) {
		ctx := t.Context()
		root, u := newOperator(t, svc)
		_, wrong := svc.Login(ctx, "op", "wrong", "c1")
		if codeOf(wrong) != "login_failed" {
			t.Fatalf("wrong password: %v", wrong)
		}
		for range 4 {
			svc.Login(ctx, "op", "wrong", "c1")
		}
		locked, _ := st.User(ctx, u.ID)
		if !locked.Locked(*now) {
			t.Fatal("five wrong passwords did not lock the account")
		}
		failures := func() int {
			evs, err := st.Audit(ctx, issuer.AuditFilter{Subject: "op", Action: "account.login_failed"})
			if err != nil {
				t.Fatal(err)
			}
			return len(evs)
		}
		before := failures()
		for i, p := range []string{opPassword, "wrong", opPassword, "wrong"} {
			_, err := svc.Login(ctx, "op", p, "c1")
			if err == nil || err.Error() != wrong.Error() || codeOf(err) != codeOf(wrong) {
				t.Fatalf("attempt %d while locked: %v, want exactly %v", i+1, err, wrong)
			}
		}
		if n := failures() - before; n != 4 {
			t.Fatalf("%d of 4 attempts during the lock were counted", n)
		}
		// The fifth guess during the lock locks it again from now.
		*now = now.Add(10 * time.Minute)
		svc.Login(ctx, "op", "wrong", "c1")
		if u2, _ := st.User(ctx, u.ID); !u2.LockedUntil.After(locked.LockedUntil) {
			t.Fatalf("guessing on during the lock did not extend it: %v, was %v", u2.LockedUntil, locked.LockedUntil)
		}
		*now = now.Add(16 * time.Minute)
		if _, err := svc.Login(ctx, "op", opPassword, "c1"); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
		// Disabled: the same answer, counted too.
		if _, err := svc.SetDisabled(ctx, root, u.ID, true); err != nil {
			t.Fatal(err)
		}
		before = failures()
		if _, err := svc.Login(ctx, "op", opPassword, "c1"); err == nil || err.Error() != wrong.Error() {
			t.Fatalf("disabled account, right password: %v, want %v", err, wrong)
		}
		if failures() != before+1 {
			t.Fatal("an attempt on a disabled account was not counted")
		}
		// The audit log, which college auditors read, must not tell
		// which refused attempt had the right password either.
		evs, _ := st.Audit(ctx, issuer.AuditFilter{Subject: "op"})
		for _, e := range evs {
			if e.Action == "account.login_locked" || strings.Contains(e.Detail, "password") {
				t.Fatalf("audit event %s %s tells a right password from a wrong one", e.Action, e.Detail)
			}
		}
	})
}

// The current-password field of a password change is a password guess
// like a sign-in: counted towards the same lockout, audited, and answered
// the same way once the account is locked.
func TestChangePasswordCountsLikeLogin(t *testing.T) {
	eachBackend(t, func(t *testing.T, st storetest.AccountStore, svc *account.Service, now *time.Time) {
		ctx := t.Context()
		_, u := newOperator(t, svc)
		for i := range 5 {
			if _, err := svc.ChangePassword(ctx, u, fmt.Sprintf("guess-%d", i), "a-much-better-one", "198.51.100.7"); codeOf(err) != "password_wrong" {
				t.Fatalf("guess %d: %v", i, err)
			}
		}
		got, _ := st.User(ctx, u.ID)
		if !got.Locked(*now) {
			t.Fatal("five wrong current passwords did not lock the account")
		}
		evs, _ := st.Audit(ctx, issuer.AuditFilter{Subject: "op", Action: "account.password_change_failed"})
		if len(evs) != 5 || !strings.Contains(evs[0].Detail, "198.51.100.7") {
			t.Fatalf("audit of wrong current passwords: %+v", evs)
		}
		// Locked: the right current password is answered as a wrong one,
		// changes nothing, and sign-in is locked too.
		if _, err := svc.ChangePassword(ctx, u, opPassword, "a-much-better-one", "c1"); codeOf(err) != "password_wrong" {
			t.Fatalf("right current password while locked: %v", err)
		}
		if _, err := svc.Login(ctx, "op", opPassword, "c1"); codeOf(err) != "login_failed" {
			t.Fatalf("sign-in after the change-password lock: %v", err)
		}
		*now = now.Add(16 * time.Minute)
		if _, err := svc.ChangePassword(ctx, u, opPassword, "a-much-better-one", "c1"); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
		// A new password the policy refuses is refused before the
		// current one is looked at: no guess is spent, none is learnt.
		got, _ = st.User(ctx, u.ID)
		if _, err := svc.ChangePassword(ctx, u, "anything", "short", "c1"); codeOf(err) != "password_length" {
			t.Fatalf("short new password: %v", err)
		}
		if again, _ := st.User(ctx, u.ID); again.FailedLogins != got.FailedLogins {
			t.Fatal("a refused new password counted as a guess")
		}
	})
}

func TestManageAcrossColleges(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			now := time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)
			st := b.open(t)
			svc := newService(t, st, &now)
			ctx := t.Context()
			root := account.User{ID: "root", Name: "root", Role: account.AuthorityAdmin}
			aAdmin, _, err := svc.Create(ctx, root, account.NewUser{Name: "a.admin", DisplayName: "甲", Role: account.CollegeAdmin, InstitutionID: "alpha"})
			if err != nil {
				t.Fatal(err)
			}
			bOp, _, err := svc.Create(ctx, root, account.NewUser{Name: "b.op", DisplayName: "乙", Role: account.CollegeOperator, InstitutionID: "beta"})
			if err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name string
				do   func() error
				code string
			}{
				{"create in other college", func() error {
					_, _, err := svc.Create(ctx, aAdmin, account.NewUser{Name: "x1", DisplayName: "x", Role: account.CollegeOperator, InstitutionID: "beta"})
					return err
				}, "forbidden"},
				{"create authority admin", func() error {
					_, _, err := svc.Create(ctx, aAdmin, account.NewUser{Name: "x2", DisplayName: "x", Role: account.AuthorityAdmin})
					return err
				}, "forbidden"},
				{"create for unknown college", func() error {
					_, _, err := svc.Create(ctx, root, account.NewUser{Name: "x3", DisplayName: "x", Role: account.CollegeOperator, InstitutionID: "gamma"})
					return err
				}, "institution_unknown"},
				{"over-long name", func() error {
					_, _, err := svc.Create(ctx, root, account.NewUser{Name: "a23456789012345678901234567890123", DisplayName: "x", Role: account.CollegeOperator, InstitutionID: "alpha"})
					return err
				}, "user_invalid"},
				{"disable other college's user", func() error { _, err := svc.SetDisabled(ctx, aAdmin, bOp.ID, true); return err }, "user_not_found"},
				{"reset other college's password", func() error { _, err := svc.ResetPassword(ctx, aAdmin, bOp.ID); return err }, "user_not_found"},
				{"disable self", func() error { _, err := svc.SetDisabled(ctx, aAdmin, aAdmin.ID, true); return err }, "self_disable"},
				{"operator lists users", func() error { _, err := svc.Users(ctx, bOp, account.UserFilter{}); return err }, "forbidden"},
				{"find other college's user by name", func() error { _, err := svc.UserByName(ctx, aAdmin, "b.op"); return err }, "user_not_found"},
				{"find unknown user by name", func() error { _, err := svc.UserByName(ctx, aAdmin, "nobody"); return err }, "user_not_found"},
				{"duplicate name", func() error {
					_, _, err := svc.Create(ctx, root, account.NewUser{Name: "b.op", DisplayName: "x", Role: account.CollegeOperator, InstitutionID: "alpha"})
					return err
				}, "user_exists"},
			}
			for _, tc := range tests {
				if got := codeOf(tc.do()); got != tc.code {
					t.Errorf("%s: code %q, want %q", tc.name, got, tc.code)
				}
			}
			// A college administrator sees its own college's accounts,
			// whatever the filter names; the province filters as it likes.
			for _, f := range []account.UserFilter{{}, {InstitutionID: "beta"}} {
				us, err := svc.Users(ctx, aAdmin, f)
				if err != nil || len(us) != 1 || us[0].ID != aAdmin.ID {
					t.Fatalf("college admin asking for %+v sees %+v, %v", f, us, err)
				}
			}
			if us, err := svc.Users(ctx, root, account.UserFilter{InstitutionID: "beta"}); err != nil || len(us) != 1 || us[0].ID != bOp.ID {
				t.Fatalf("the province asking for beta sees %+v, %v", us, err)
			}
			if u, err := svc.UserByName(ctx, aAdmin, "A.Admin"); err != nil || u.ID != aAdmin.ID {
				t.Fatalf("own account by name: %+v, %v", u, err)
			}
			if u, _ := st.User(ctx, bOp.ID); u.Disabled {
				t.Fatal("another college's admin disabled b.op")
			}
			// An account a college administrator makes without naming a
			// college is one of its own college.
			if u, _, err := svc.Create(ctx, aAdmin, account.NewUser{Name: "a.op", DisplayName: "丙", Role: account.CollegeOperator}); err != nil || u.InstitutionID != "alpha" {
				t.Fatalf("college admin's new account: %+v, %v", u, err)
			}
		})
	}
}

func TestTokens(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			now := time.Date(2026, 5, 1, 2, 0, 0, 0, time.UTC)
			st := b.open(t)
			svc := newService(t, st, &now)
			ctx := t.Context()
			root := account.User{ID: "root", Name: "root", Role: account.AuthorityAdmin}
			op, _, _ := svc.Create(ctx, root, account.NewUser{Name: "op", DisplayName: "x", Role: account.CollegeOperator, InstitutionID: "alpha"})
			tok, secret, err := svc.CreateToken(ctx, op, "教务系统", []account.Scope{account.ScopeLedgerRead}, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Hash == secret || len(secret) < 30 {
				t.Fatalf("token %q stored as %q", secret, tok.Hash)
			}
			u, got, err := svc.Authenticate(ctx, secret)
			if err != nil || u.ID != op.ID || !got.Has(account.ScopeLedgerRead) || got.Has(account.ScopeRevoke) {
				t.Fatalf("Authenticate = %+v %+v %v", u, got, err)
			}
			for _, bad := range []string{"", "certd_", secret + "x", "Bearer " + secret, secret[:len(secret)-1]} {
				if _, _, err := svc.Authenticate(ctx, bad); codeOf(err) != "token_invalid" {
					t.Errorf("Authenticate(%q) = %v", bad, err)
				}
			}
			if _, _, err := svc.CreateToken(ctx, op, "x", []account.Scope{"admin:all"}, 0); codeOf(err) != "token_scopes" {
				t.Errorf("unknown scope: %v", err)
			}
			now = now.Add(2 * time.Hour)
			if _, _, err := svc.Authenticate(ctx, secret); codeOf(err) != "token_invalid" {
				t.Fatalf("expired token accepted: %v", err)
			}
			now = now.Add(-2 * time.Hour)
			other, _, _ := svc.Create(ctx, root, account.NewUser{Name: "op2", DisplayName: "y", Role: account.CollegeOperator, InstitutionID: "alpha"})
			if err := svc.RevokeToken(ctx, other, tok.ID); codeOf(err) != "token_not_found" {
				t.Fatalf("another operator revoked the token: %v", err)
			}
			if err := svc.RevokeToken(ctx, op, tok.ID); err != nil {
				t.Fatal(err)
			}
			if _, _, err := svc.Authenticate(ctx, secret); codeOf(err) != "token_invalid" {
				t.Fatalf("revoked token accepted: %v", err)
			}
		})
	}
}

// A password reset or change, and disabling, end every API token of the
// account, for good: a token must not come back to life when the holder
// sets a new password or is enabled again.
func TestPasswordResetEndsTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, st storetest.AccountStore, svc *account.Service, now *time.Time) {
		ctx := t.Context()
		root, op := newOperator(t, svc)
		usable := func(secret string) bool {
			_, _, err := svc.Authenticate(ctx, secret)
			return err == nil
		}
		mint := func() string {
			u, _ := st.User(ctx, op.ID)
			_, secret, err := svc.CreateToken(ctx, u, "教务系统", []account.Scope{account.ScopeLedgerRead}, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !usable(secret) {
				t.Fatal("a fresh token does not work")
			}
			return secret
		}
		// An administrator's reset, then the holder's new password.
		old := mint()
		generated, err := svc.ResetPassword(ctx, root, op.ID)
		if err != nil {
			t.Fatal(err)
		}
		if usable(old) {
			t.Fatal("a token works after its account's password was reset")
		}
		if _, err := svc.ChangePassword(ctx, op, generated, "a-much-better-one", "c1"); err != nil {
			t.Fatal(err)
		}
		if usable(old) {
			t.Fatal("the token came back when the holder set a new password")
		}
		// The holder's own change.
		old = mint()
		if _, err := svc.ChangePassword(ctx, op, "a-much-better-one", "another-good-one", "c1"); err != nil {
			t.Fatal(err)
		}
		if usable(old) {
			t.Fatal("a token works after its holder changed the password")
		}
		// Disabling, then enabling.
		old = mint()
		if _, err := svc.SetDisabled(ctx, root, op.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SetDisabled(ctx, root, op.ID, false); err != nil {
			t.Fatal(err)
		}
		if usable(old) {
			t.Fatal("a token of a disabled account came back when it was enabled again")
		}
	})
}

// College administrators see and revoke their college's API tokens, the
// authority's administrators anyone's; nobody else sees another account's
// tokens, and another college's are "not found".
func TestAdminsManageTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, st storetest.AccountStore, svc *account.Service, now *time.Time) {
		ctx := t.Context()
		root := account.User{ID: "root", Name: "root", Role: account.AuthorityAdmin}
		mk := func(name string, role account.Role, inst string) account.User {
			u, _, err := svc.Create(ctx, root, account.NewUser{Name: name, DisplayName: name, Role: role, InstitutionID: inst, Password: "a-good-long-password"})
			if err != nil {
				t.Fatal(err)
			}
			return u
		}
		aAdm, aOp, aAud := mk("a.adm", account.CollegeAdmin, "alpha"), mk("a.op", account.CollegeOperator, "alpha"), mk("a.aud", account.Auditor, "alpha")
		bAdm, bOp := mk("b.adm", account.CollegeAdmin, "beta"), mk("b.op", account.CollegeOperator, "beta")
		mint := func(u account.User) (account.Token, string) {
			tok, secret, err := svc.CreateToken(ctx, u, "x", []account.Scope{account.ScopeLedgerRead}, 0)
			if err != nil {
				t.Fatal(err)
			}
			return tok, secret
		}
		aTok, aSecret := mint(aOp)
		bTok, _ := mint(bOp)
		ids := func(by account.User) ([]string, error) {
			ts, err := svc.ManagedTokens(ctx, by)
			var out []string
			for _, tok := range ts {
				out = append(out, tok.ID)
			}
			return out, err
		}
		if got, err := ids(aAdm); err != nil || len(got) != 1 || got[0] != aTok.ID {
			t.Fatalf("alpha's administrator sees %v, %v", got, err)
		}
		if got, err := ids(root); err != nil || len(got) != 2 {
			t.Fatalf("the authority sees %v, %v", got, err)
		}
		for _, by := range []account.User{aOp, aAud} {
			if _, err := ids(by); codeOf(err) != "forbidden" {
				t.Errorf("%s lists tokens: %v", by.Name, err)
			}
		}
		// Revoking across colleges, or as a non-administrator, finds nothing.
		for _, tc := range []struct {
			by account.User
			id string
		}{{bAdm, aTok.ID}, {aAdm, bTok.ID}, {aAud, aTok.ID}, {bOp, aTok.ID}} {
			if err := svc.RevokeToken(ctx, tc.by, tc.id); codeOf(err) != "token_not_found" {
				t.Errorf("%s revoking %s: %v", tc.by.Name, tc.id, err)
			}
		}
		if _, _, err := svc.Authenticate(ctx, aSecret); err != nil {
			t.Fatalf("a refused revocation revoked the token: %v", err)
		}
		if err := svc.RevokeToken(ctx, aAdm, aTok.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Authenticate(ctx, aSecret); codeOf(err) != "token_invalid" {
			t.Fatalf("the token revoked by the administrator still works: %v", err)
		}
		if err := svc.RevokeToken(ctx, root, bTok.ID); err != nil {
			t.Fatalf("the authority revoking beta's token: %v", err)
		}
		evs, _ := st.Audit(ctx, issuer.AuditFilter{Action: "token.revoke"})
		if len(evs) != 2 || evs[0].Actor != "a.adm" || evs[0].InstitutionID != "alpha" || !strings.Contains(evs[0].Detail, "a.op") || evs[1].InstitutionID != "beta" {
			t.Fatalf("audit of the revocations: %+v", evs)
		}
	})
}

func codeOf(err error) string {
	if e, ok := issuer.AsError(err); ok {
		return e.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}
