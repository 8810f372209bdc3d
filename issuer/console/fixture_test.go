package console

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/account"
	"certd/issuer/ident"
	"certd/issuer/keys"
	"certd/issuer/store/postgres/pgtest"
	"certd/issuer/store/sqlite"
	"certd/issuer/store/storetest"
)

var cheap = account.Params{Memory: 64, Time: 1, Threads: 1}

type backend struct {
	name string
	open func(t testing.TB) storetest.AccountStore
}

var backends = []backend{
	{"sqlite", func(t testing.TB) storetest.AccountStore {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "certd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"postgres", func(t testing.TB) storetest.AccountStore { return pgtest.Open(t) }},
}

// world is a console with two colleges, alpha and beta, each with issued
// certificates, and an account of every role.
type world struct {
	t      testing.TB
	app    *fiber.App
	c      *Console
	st     storetest.AccountStore
	svc    *issuer.Service
	acc    *account.Service
	users  map[string]account.User
	certA  string // a certificate of alpha
	certB  string
	batchA string
	now    time.Time
}

const testPassword = "correct-horse-battery"

func rosterCSV(n int, seed int, badRow int) string {
	var b strings.Builder
	b.WriteString("姓名,证件类型,证件号码,职业编码,工种,等级,考生类别,学号,专业,考核日期\n")
	for i := 0; i < n; i++ {
		doc := ident.CompleteResidentID(fmt.Sprintf("2201022004%02d%02d%03d", 1+(seed+i)%12, 1+i%28, (seed*7+i)%1000))
		if i == badRow {
			doc = "220102200401011234" // checksum wrong
		}
		fmt.Fprintf(&b, "%s,居民身份证,%s,4-04-05-05,,三级/高级工,毕业年度学生,S%d%04d,人工智能技术应用,2026-04-20\n", personName(i), doc, seed, i)
	}
	return b.String()
}

func personName(i int) string {
	family := []rune("王李张刘陈杨赵黄周吴")
	given := []rune("伟芳娜敏静丽强磊军洋")
	return string(family[i%10]) + string(given[(i/10)%10]) + string(given[(i+3)%10])
}

func newWorld(t testing.TB, open func(t testing.TB) storetest.AccountStore) *world {
	t.Helper()
	ctx := context.Background()
	st := open(t)
	raw := make([]byte, 32)
	rand.Read(raw)
	kek, err := keys.NewKEK(raw)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 10, 2, 0, 0, 0, time.UTC)
	svc := issuer.New(st, kek)
	svc.Now, svc.Log = func() time.Time { return now }, slog.New(slog.DiscardHandler)
	root := issuer.Actor{Name: "setup", Authority: true}
	if _, err := svc.Init(ctx, root, "吉林省人力资源和社会保障厅"); err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, st: st, svc: svc, users: map[string]account.User{}, now: now}
	for i, id := range []string{"alpha", "beta"} {
		spec := issuer.InstitutionSpec{ID: id, Name: "吉林" + id + "职业技术学院", USCC: []string{"12220000MB0123457W", "12220000MB0123457W"}[i], Prefix: fmt.Sprintf("Y00002200000%d", i+1),
			FilingNo: "吉人社认备〔2026〕00" + fmt.Sprint(i+1) + "号", City: "长春市", Kind: "高职", ValidFrom: "2026-01-01",
			Scope: []issuer.ScopeSpec{{Occupation: "4-04-05-05", Levels: []string{"5", "4", "3"}}}}
		if _, err := svc.AddInstitution(ctx, root, spec); err != nil {
			t.Fatalf("register %s: %v", id, err)
		}
		rep, err := svc.Issue(ctx, issuer.Actor{Name: "setup", InstitutionID: id}, issuer.IssueRequest{InstitutionID: id, Roster: []byte(rosterCSV(3, i*100, -1)), Filename: id + ".csv"})
		if err != nil || len(rep.Problems) > 0 {
			t.Fatalf("issue %s: %v %+v", id, err, rep)
		}
		if err := st.PutPDF(ctx, rep.Numbers[0], []byte("%PDF-1.4 test")); err != nil {
			t.Fatal(err)
		}
		if id == "alpha" {
			w.certA, w.batchA = rep.Numbers[0], rep.Batch.ID
		} else {
			w.certB = rep.Numbers[0]
		}
	}
	w.acc = account.New(st, svc)
	w.acc.Params, w.acc.Now, w.acc.Sealer = cheap, func() time.Time { return w.now }, kek
	admin := account.User{ID: "setup", Name: "setup", Role: account.AuthorityAdmin}
	for _, u := range []struct {
		key  string
		role account.Role
		inst string
	}{
		{"auth", account.AuthorityAdmin, ""}, {"prov", account.Auditor, ""},
		{"aadm", account.CollegeAdmin, "alpha"}, {"aop", account.CollegeOperator, "alpha"}, {"aaud", account.Auditor, "alpha"},
		{"badm", account.CollegeAdmin, "beta"}, {"bop", account.CollegeOperator, "beta"},
		{"victim", account.CollegeOperator, "alpha"},
	} {
		created, _, err := w.acc.Create(ctx, admin, account.NewUser{Name: u.key, DisplayName: u.key, Role: u.role, InstitutionID: u.inst, Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		if u.role == account.AuthorityAdmin {
			// The authority administrator has its second factor set up,
			// as it must before it can work (TestTOTPSignIn walks that).
			sealed, err := kek.SealSecret([]byte("12345678901234567890"), "totp", created.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.SetTOTP(ctx, created.ID, sealed, true, 0, issuer.AuditEvent{At: now, Actor: "setup", Action: "account.totp_enable"}); err != nil {
				t.Fatal(err)
			}
			created.TOTPSealed, created.TOTPEnabled = sealed, true
		}
		w.users[u.key] = created
	}
	w.app = fiber.New(fiber.Config{Immutable: true, DisableStartupMessage: true, BodyLimit: MaxUpload})
	w.c, err = Mount(w.app, Deps{Service: svc, Accounts: w.acc, KEK: kek, PublicURL: "https://certd.example.cn", UploadDir: t.TempDir(),
		Now: func() time.Time { return w.now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// session returns a cookie and CSRF token for a user, as a login would.
func (w *world) session(key string) (*http.Cookie, string) {
	u, err := w.st.User(context.Background(), w.users[key].ID)
	if err != nil {
		w.t.Fatal(err)
	}
	jti := newJTI()
	tok, _, err := w.c.sess.issue(u, jti, w.now)
	if err != nil {
		w.t.Fatal(err)
	}
	return &http.Cookie{Name: w.c.sessionCookie(), Value: tok}, w.c.sess.csrfToken(jti)
}

type resp struct {
	status int
	loc    string
	body   string
}

func (w *world) do(method, target string, cookie *http.Cookie, form url.Values, header map[string]string) resp {
	w.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := w.app.Test(req, -1)
	if err != nil {
		w.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header.Get("Location"), string(b)}
}
