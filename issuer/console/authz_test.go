package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"certd/issuer"
	"certd/issuer/account"
)

// roles in the order of the expectation strings below.
var roles = []string{"anon", "auth", "prov", "aadm", "aop", "aaud", "badm", "bop"}

// Outcomes: L = sent to sign in (401 for the API), D = refused (403),
// N = not found (404: another college's record, indistinguishable from a
// missing one), O = let through (anything else: the page, a redirect, or a
// validation error of the empty test form). Every record named in a path
// belongs to college alpha.
var matrix = []struct {
	method, path, want string
}{
	//                                                             anon auth prov aadm aop aaud badm bop
	{"GET", "/console/login", "OOOOOOOO"},
	{"POST", "/console/login", "DDDDDDDD"},      // no pre-session cookie: CSRF refuses everyone
	{"GET", "/console/login/totp", "LLLLLLLL"},  // no password step done: back to the password
	{"POST", "/console/login/totp", "DDDDDDDD"}, // no password step done: refused
	{"GET", "/console/lang/en", "OOOOOOOO"},
	{"GET", "/console", "LOOOOOOO"},
	{"GET", "/console/account", "LOOOOOOO"},
	{"POST", "/console/account/password", "LOOOOOOO"},
	{"GET", "/console/account/totp", "LODODDOD"}, // administrators only
	{"POST", "/console/account/totp", "LODODDOD"},
	{"POST", "/console/account/tokens", "LOOOOOOO"},
	{"POST", "/console/account/tokens/{tokenA}/revoke", "LONOONNN"}, // its holder, or an administrator who manages it

	{"GET", "/console/issue", "LDDOODOO"},
	{"GET", "/console/issue/template.xlsx", "LDDOODOO"},
	{"POST", "/console/issue", "LDDOODOO"},
	{"GET", "/console/issue/{job}", "LDDOODNN"},
	{"GET", "/console/issue/{job}/marked.xlsx", "LDDOODNN"},
	{"POST", "/console/issue/{job}/confirm", "LDDOODNN"},
	{"GET", "/console/batches/{batch}", "LOOOOONN"},
	{"GET", "/console/batches/{batch}/progress.json", "LOOOOONN"},
	{"GET", "/console/batches/{batch}/print.pdf", "LOOOOONN"},
	{"GET", "/console/batches/{batch}/certificates.zip", "LOOOOONN"},
	{"GET", "/console/batches/{batch}/slips.pdf", "LDDOODNN"}, // holder codes: the college's operators only
	{"GET", "/console/batches/{batch}/numbers.xlsx", "LOOOOONN"},
	{"GET", "/console/batches/{batch}/numbers.csv", "LOOOOONN"},

	{"GET", "/console/certificates", "LOOOOOOO"},
	{"GET", "/console/certificates/export.xlsx", "LOOOOOOO"},
	{"GET", "/console/certificates/{cert}", "LOOOOONN"},
	{"GET", "/console/certificates/{cert}/pdf", "LOOOOONN"},
	{"POST", "/console/certificates/{cert}/holder-code", "LDDOODNN"},
	{"GET", "/console/certificates/{cert}/slip.pdf", "LDDOODNN"},
	{"GET", "/console/certificates/{cert}/revoke", "LDDOODNN"},
	{"POST", "/console/certificates/{cert}/revoke", "LDDOODNN"},
	{"GET", "/console/certificates/{cert}/reissue", "LDDOODNN"},
	{"POST", "/console/certificates/{cert}/reissue", "LDDOODNN"},

	{"GET", "/console/settings", "LDDODDOD"},
	{"POST", "/console/settings/print", "LDDODDOD"},
	{"POST", "/console/settings/seal", "LDDODDOD"},
	{"POST", "/console/settings/seal/confirm", "LDDODDOD"},
	{"GET", "/console/settings/seal.png", "LDDODDOD"}, // the college's own seal (204 while none is on file)
	{"POST", "/console/settings/fees", "LDDODDOD"},
	{"GET", "/console/settings/fees-template.xlsx", "LDDODDOD"},
	{"GET", "/console/settings/calibration.pdf", "LDDODDOD"},

	{"GET", "/console/users", "LODODDOD"},
	{"POST", "/console/users", "LODODDOD"},
	{"POST", "/console/users/{victim}/disable", "LODODDND"},
	{"POST", "/console/users/{victim}/enable", "LODODDND"},
	{"POST", "/console/users/{victim}/reset", "LODODDND"},
	{"POST", "/console/users/{victim}/totp-reset", "LODODDND"},
	{"POST", "/console/users/tokens/{tokenA}/revoke", "LODODDND"},

	{"GET", "/console/institutions", "LOODDDDD"},
	{"GET", "/console/institutions/new", "LODDDDDD"},
	{"POST", "/console/institutions", "LODDDDDD"},
	{"GET", "/console/institutions/alpha", "LOODDDDD"},
	{"POST", "/console/institutions/alpha", "LODDDDDD"},
	{"POST", "/console/institutions/alpha/status", "LODDDDDD"},
	{"POST", "/console/institutions/alpha/renew", "LODDDDDD"},
	{"POST", "/console/institutions/alpha/rotate", "LODDDDDD"},
	{"GET", "/console/catalogue", "LOODDDDD"},
	{"POST", "/console/catalogue", "LODDDDDD"},
	{"POST", "/console/catalogue/entry", "LODDDDDD"},
	{"GET", "/console/catalogue/template.xlsx", "LOODDDDD"},
	{"GET", "/console/audit", "LOOODOOD"},
	{"GET", "/console/log", "LOOOOOOO"}, // each college its own entries; the authority picks one
	{"GET", "/console/audit/export.xlsx", "LOOODOOD"},
	{"GET", "/console/dashboard", "LOODDDDD"},
	// The expected list: the authority's administrators change it, its
	// auditors read it, colleges neither.
	{"GET", "/console/expected", "LOODDDDD"},
	{"POST", "/console/expected", "LODDDDDD"},
	{"POST", "/console/expected/import", "LODDDDDD"},
	{"GET", "/console/expected/template.xlsx", "LOODDDDD"},
	{"GET", "/console/expected/unregistered.xlsx", "LOODDDDD"},
	{"GET", "/console/expected/{expected}", "LOODDDDD"},
	{"POST", "/console/expected/{expected}", "LODDDDDD"},
	{"POST", "/console/expected/{expected}/link", "LODDDDDD"},
	{"POST", "/console/expected/{expected}/delete", "LODDDDDD"}, // last of its rows: the administrator's removes it

	{"GET", "/api/console/v1/certificates", "LOOOOOOO"},
	{"GET", "/api/console/v1/certificates/{cert}", "LOOOOONN"},
	{"POST", "/api/console/v1/certificates/{cert}/revoke", "LDDOODNN"},
	{"POST", "/api/console/v1/rosters", "LDDOODOO"},
	{"GET", "/api/console/v1/audit", "LOOODOOD"},

	{"POST", "/console/logout", "LOOOOOOO"}, // last: it ends the session
}

// bodies keep allowed state-changing requests harmless: each fails
// validation after authorization, or changes nothing another row needs.
var bodies = map[string]url.Values{
	"/console/settings/fees":               {"fees": {"nonsense"}},
	"/console/institutions/alpha/renew":    {"until": {"not-a-date"}},
	"/console/certificates/{cert}/revoke":  {"reason": {""}},
	"/console/certificates/{cert}/reissue": {"reason": {""}},
	"/console/settings/print":              {"layout": {"sideways"}},
	"/console/institutions/alpha/status":   {"status": {"suspended"}, "note": {""}},
	"/console/institutions/alpha":          {"name": {""}},
	"/console/users":                       {"name": {"X"}},
	"/console/account/password":            {"current": {"x"}, "new": {"y"}, "repeat": {"z"}},
	"/console/account/tokens":              {"label": {""}},
	"/console/institutions":                {"id": {""}},
	"/console/expected":                    {"name": {""}},
	"/console/expected/{expected}":         {"name": {""}},
	"/console/expected/{expected}/link":    {"institution": {""}},
}

func TestAuthorizationMatrix(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, b.open)
			ctx := context.Background()
			// A roster job of alpha with a problem, so confirming issues nothing.
			ck, csrf := w.session("aop")
			up := upload(t, w, ck, csrf, "r.csv", []byte(rosterCSV(2, 7, 1)))
			jobID, ok := strings.CutPrefix(up.loc, "/console/issue/")
			if up.status != http.StatusSeeOther || !ok {
				t.Fatalf("fixture roster: %d %q", up.status, up.loc)
			}
			if _, _, err := w.acc.CreateToken(ctx, w.users["aop"], "fixture", []account.Scope{account.ScopeAuditRead}, 0); err != nil {
				t.Fatal(err)
			}
			tokA, _ := w.acc.Tokens(ctx, w.users["aop"])
			exp, err := w.svc.SaveExpected(ctx, issuer.Actor{Name: "setup", Authority: true}, "", issuer.ExpectedSpec{Name: "吉林alpha职业技术学院", Kind: "高职", City: "长春市"})
			if err != nil {
				t.Fatal(err)
			}
			subst := strings.NewReplacer("{expected}", exp.ID, "{cert}", w.certA, "{batch}", w.batchA, "{job}", jobID, "{victim}", w.users["victim"].ID, "{tokenA}", tokA[0].ID)

			// Every route the console serves is in the matrix, and nothing else.
			inMatrix := map[string]bool{}
			for _, m := range matrix {
				inMatrix[m.method+" "+m.path] = true
			}
			for _, r := range Routes() {
				p := r.Path
				for _, x := range []struct{ from, to string }{{":number", "{cert}"}, {":job", "{job}"}, {":lang", "en"}} {
					p = strings.ReplaceAll(p, x.from, x.to)
				}
				switch {
				case strings.HasPrefix(p, "/console/batches/:id"):
					p = strings.Replace(p, ":id", "{batch}", 1)
				case strings.HasPrefix(p, "/console/users/tokens/:id"):
					p = strings.Replace(p, ":id", "{tokenA}", 1)
				case strings.HasPrefix(p, "/console/users/:id"):
					p = strings.Replace(p, ":id", "{victim}", 1)
				case strings.HasPrefix(p, "/console/account/tokens/:id"):
					p = strings.Replace(p, ":id", "{tokenA}", 1)
				case strings.HasPrefix(p, "/console/expected/:id"):
					p = strings.Replace(p, ":id", "{expected}", 1)
				case strings.HasPrefix(p, "/console/institutions/:id"):
					p = strings.Replace(p, ":id", "alpha", 1)
				}
				if !inMatrix[r.Method+" "+p] {
					t.Errorf("route %s %s has no row in the authorization matrix", r.Method, r.Path)
				}
				delete(inMatrix, r.Method+" "+p)
			}
			for k := range inMatrix {
				t.Errorf("matrix row %s names no route", k)
			}

			type cred struct {
				cookie *http.Cookie
				csrf   string
				bearer string
			}
			creds := map[string]cred{"anon": {}}
			for _, role := range roles[1:] {
				ck, csrf := w.session(role)
				_, secret, err := w.acc.CreateToken(ctx, w.users[role], "matrix", account.Scopes, 0)
				if err != nil {
					t.Fatal(err)
				}
				creds[role] = cred{ck, csrf, secret}
			}
			for _, m := range matrix {
				target := subst.Replace(m.path)
				for i, role := range roles {
					cr := creds[role]
					var form url.Values
					hdr := map[string]string{}
					api := strings.HasPrefix(m.path, "/api/")
					if m.method == "POST" && !api {
						form = url.Values{}
						for k, v := range bodies[m.path] {
							form[k] = v
						}
						if cr.csrf != "" {
							form.Set("_csrf", cr.csrf)
						}
					}
					cookie := cr.cookie
					if api {
						cookie = nil
						if cr.bearer != "" {
							hdr["Authorization"] = "Bearer " + cr.bearer
						}
					}
					r := w.do(m.method, target, cookie, form, hdr)
					got := outcome(r)
					if want := string(m.want[i]); got != want {
						t.Errorf("%s %s as %s: got %s (status %d, location %q), want %s", m.method, m.path, role, got, r.status, r.loc, want)
					}
					if got == "O" && (role == "badm" || role == "bop") && strings.Contains(r.body, w.certA) {
						t.Errorf("%s %s as %s: the page shows alpha's certificate %s", m.method, m.path, role, w.certA)
					}
				}
			}
			// Nothing a refused request did may have changed alpha's records.
			c, _ := w.st.Certificate(ctx, w.certA)
			if c.Status != issuer.Valid {
				t.Fatalf("alpha's certificate is %s after the matrix", c.Status)
			}
			if u, _ := w.st.User(ctx, w.users["victim"].ID); u.Disabled {
				t.Fatal("the victim account ended disabled") // enable ran after disable
			}
			in, _ := w.st.Institution(ctx, "alpha")
			if in.Status != issuer.Active {
				t.Fatalf("alpha is %s after the matrix", in.Status)
			}
		})
	}
}

func outcome(r resp) string {
	switch {
	case r.status == http.StatusUnauthorized || (r.status == http.StatusSeeOther && strings.HasPrefix(r.loc, "/console/login") && !strings.Contains(r.loc, "why=logout")):
		return "L"
	case r.status == http.StatusForbidden:
		return "D"
	case r.status == http.StatusNotFound:
		return "N"
	}
	return "O"
}
