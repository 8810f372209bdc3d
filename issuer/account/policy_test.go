package account_test

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/account"
	"certd/issuer/keys"
	"certd/issuer/store/storetest"
)

func codeOf2(err error) string {
	if e, ok := issuer.AsError(err); ok {
		return e.Code
	}
	return ""
}

// TestPasswordPolicy: passwords a guesser tries first are refused for
// accounts that sign state certificates. Before the common-password list,
// every one of the "refused" rows was accepted (only length and the login
// name were checked).
func TestPasswordPolicy(t *testing.T) {
	eachBackend(t, func(t *testing.T, st storetest.AccountStore, svc *account.Service, now *time.Time) {
		root := account.User{ID: "root", Name: "root", Role: account.AuthorityAdmin}
		for _, c := range []struct {
			login, display, inst, pw, code string
		}{
			{"zhang.wei", "张伟", "alpha", "1234567890", "password_common"},
			{"zhang.wei", "张伟", "alpha", "qwertyuiop", "password_common"},
			{"zhang.wei", "张伟", "alpha", "password2026!", "password_common"},
			{"zhang.wei", "张伟", "alpha", "woaini1314", "password_common"},
			{"zhang.wei", "张伟", "alpha", "aaaaaaaaaaaa", "password_common"},
			{"zhang.wei", "张伟", "alpha", "abcdefghijk", "password_common"},
			{"zhang.wei", "张伟", "alpha", "0987654321", "password_common"},
			{"zhang.wei", "张伟", "alpha", "1qaz2wsx3edc", "password_common"},
			{"zhang.wei", "张伟", "alpha", "iloveyouiloveyou", "password_common"},
			{"zhang.wei", "张伟", "alpha", "Zhang.Wei-2026", "password_personal"},
			{"zhang.wei", "张伟", "alpha", "zhang19900101", "password_personal"},
			{"zhang.wei", "张伟", "alpha", "张伟的密码是不是这个", "password_personal"},
			{"zhang.wei", "张伟", "alpha", "alpha-college-2026", "password_personal"},
			{"zhang.wei", "张伟", "alpha", "short", "password_length"},
			{"zhang.wei", "张伟", "alpha", "blue-kettle-river-stamp", ""},
			{"zhang.wei", "张伟", "alpha", "长白山下的松花江水边", ""},
		} {
			_, _, err := svc.Create(t.Context(), root, account.NewUser{Name: c.login, DisplayName: c.display, Role: account.CollegeOperator, InstitutionID: c.inst, Password: c.pw})
			if got := codeOf2(err); got != c.code {
				t.Errorf("password %q for %s: code %q (%v), want %q", c.pw, c.login, got, err, c.code)
			}
			if err == nil {
				// The login is now taken; make the next accepted row a new one.
				u, _ := st.UserByName(t.Context(), c.login)
				if _, err := svc.SetDisabled(t.Context(), root, u.ID, true); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		// A change of one's own password is held to the same policy.
		_, op := newOperator(t, svc)
		if _, err := svc.ChangePassword(t.Context(), op, opPassword, "1234567890", "c1"); codeOf2(err) != "password_common" {
			t.Fatalf("changing to 1234567890: %v", err)
		}
		if e, _ := issuer.AsError(func() error {
			_, err := svc.ChangePassword(t.Context(), op, opPassword, "password123", "c1")
			return err
		}()); e == nil || !strings.Contains(e.Zh, "常见") || !strings.Contains(e.En, "common") {
			t.Fatalf("the refusal does not say why in both languages: %+v", e)
		}
	})
}

func kek(t *testing.T) *keys.KEK {
	raw := make([]byte, keys.KEKSize)
	rand.Read(raw)
	k, err := keys.NewKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestTOTP walks an authority administrator through enrolment and a
// two-step sign-in, and checks what an attacker with the password tries.
func TestTOTP(t *testing.T) {
	eachBackend(t, func(t *testing.T, st storetest.AccountStore, svc *account.Service, now *time.Time) {
		ctx := t.Context()
		root := account.User{ID: "root", Name: "root", Role: account.AuthorityAdmin}
		const pw = "blue-kettle-river-stamp"
		adm, _, err := svc.Create(ctx, root, account.NewUser{Name: "prov.admin", DisplayName: "省厅", Role: account.AuthorityAdmin, Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		if !adm.TOTPRequired() {
			t.Fatal("an authority administrator must need TOTP")
		}
		if _, err := svc.BeginTOTP(ctx, adm); codeOf2(err) != "totp_unavailable" {
			t.Fatalf("without a KEK: %v", err)
		}
		svc.Sealer = kek(t)
		e, err := svc.BeginTOTP(ctx, adm)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(e.URL, "otpauth://totp/certd:prov.admin?") || !strings.HasPrefix(e.QR, "data:image/png;base64,") || len(strings.ReplaceAll(e.Secret, " ", "")) != 32 {
			t.Fatalf("enrolment %+v", e)
		}
		// Reloading the page shows the same secret; the database holds it sealed.
		if e2, _ := svc.BeginTOTP(ctx, adm); e2.Secret != e.Secret {
			t.Fatal("a reload made a new secret")
		}
		stored, _ := st.User(ctx, adm.ID)
		if strings.Contains(string(stored.TOTPSealed), strings.ReplaceAll(e.Secret, " ", "")) || len(stored.TOTPSealed) < 20 {
			t.Fatal("the secret is not sealed")
		}
		code := func(at time.Time) string {
			c, err := account.TOTPCode(e.Secret, at)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		// A wrong code does not enable and counts as a failure.
		if _, err := svc.ConfirmTOTP(ctx, adm, "000000", "c1"); codeOf2(err) != "totp_wrong" {
			t.Fatalf("wrong code: %v", err)
		}
		adm, err = svc.ConfirmTOTP(ctx, adm, " "+code(*now)[:3]+" "+code(*now)[3:], "c1")
		if err != nil || !adm.TOTPEnabled {
			t.Fatalf("confirm: %v %+v", err, adm)
		}
		// The password step alone is not a sign-in, and does not clear
		// failures: alternate the known password with code guesses and
		// the account still locks after 5.
		*now = now.Add(2 * time.Minute)
		for i := range 5 {
			u, err := svc.Login(ctx, "prov.admin", pw, "c1")
			if err != nil {
				if i == 4 {
					break // locked: the password answer is the login failure
				}
				t.Fatalf("password step %d: %v", i, err)
			}
			if !u.TOTPEnabled {
				t.Fatal("Login did not say a code is needed")
			}
			if _, err := svc.LoginTOTP(ctx, u.ID, u.SessionGen, "123456", "c1"); codeOf2(err) != "totp_wrong" {
				t.Fatalf("guess %d: %v", i, err)
			}
		}
		locked, _ := st.User(ctx, adm.ID)
		if !locked.Locked(*now) {
			t.Fatalf("5 wrong codes between right passwords did not lock the account (failures %d)", locked.FailedLogins)
		}
		// The right code while locked is refused too.
		if _, err := svc.LoginTOTP(ctx, adm.ID, adm.SessionGen, code(*now), "c1"); err == nil {
			t.Fatal("a locked account signed in with the right code")
		}
		*now = now.Add(16 * time.Minute)
		u, err := svc.Login(ctx, "prov.admin", pw, "c1")
		if err != nil {
			t.Fatal(err)
		}
		c := code(*now)
		if _, err := svc.LoginTOTP(ctx, u.ID, u.SessionGen, c, "c1"); err != nil {
			t.Fatalf("right code: %v", err)
		}
		// The same code again (seen over a shoulder) is refused.
		if _, err := svc.LoginTOTP(ctx, u.ID, u.SessionGen, c, "c2"); codeOf2(err) != "totp_wrong" {
			t.Fatalf("replayed code: %v", err)
		}
		// A code from the previous 30 s step is older than the one used.
		if _, err := svc.LoginTOTP(ctx, u.ID, u.SessionGen, code(now.Add(-30*time.Second)), "c2"); err == nil {
			t.Fatal("an older step was accepted after a newer one")
		}
		// The next step's code works (clock drift), once.
		*now = now.Add(30 * time.Second)
		if _, err := svc.LoginTOTP(ctx, u.ID, u.SessionGen, code(*now), "c2"); err != nil {
			t.Fatalf("next step: %v", err)
		}
		// A college operator is not offered TOTP; reset is for managers.
		_, op := newOperator(t, svc)
		if _, err := svc.BeginTOTP(ctx, op); codeOf2(err) != "totp_not_offered" {
			t.Fatalf("operator: %v", err)
		}
		if _, err := svc.ResetTOTP(ctx, op, adm.ID); err == nil {
			t.Fatal("an operator reset an authority administrator's TOTP")
		}
		r, err := svc.ResetTOTP(ctx, root, adm.ID)
		if err != nil || r.TOTPEnabled || r.TOTPSealed != nil || r.SessionGen == adm.SessionGen {
			t.Fatalf("reset: %v %+v", err, r)
		}
	})
}
