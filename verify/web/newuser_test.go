package web

import (
	"net/url"
	"strings"
	"testing"

	"certd/verify/internal/verifytest"
)

// What a new user meets on the public side (issue 13, point 6): the home
// page takes the printed verification code; numbers and codes typed with a
// Chinese input method or pasted with spaces are found; the browser's
// language is honoured unless a link says otherwise; "not found" points to
// the national query for other bodies' certificates and names no product.
func TestWhatANewUserMeets(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	a := newApp(t, w.Store, Deps{})
	c := w.Certs[0]

	t.Run("home page asks for the code", func(t *testing.T) {
		_, body := a.do(t, "GET", "/", nil)
		if !strings.Contains(body, `name="c"`) || !strings.Contains(body, "验证码") {
			t.Fatalf("no verification code field: %.600s", body)
		}
	})

	t.Run("typed number and code", func(t *testing.T) {
		wide := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' {
				return r - '0' + '０'
			}
			return r
		}, c.Number[:1]) + c.Number[1:5] + " " + c.Number[5:12] + "\u3000" + c.Number[12:]
		code := strings.ToLower(c.VerifyCode[:8]) + " " + c.VerifyCode[8:]
		q := url.Values{"number": {wide}, "c": {code}}
		resp, _ := a.do(t, "GET", "/v/lookup?"+q.Encode(), nil)
		want := "/v/" + c.Number + "?c=" + c.VerifyCode
		if resp.StatusCode != 303 || resp.Header.Get("Location") != want {
			t.Fatalf("lookup of %q / %q: %d to %q, want %q", wide, code, resp.StatusCode, resp.Header.Get("Location"), want)
		}
		resp, body := a.do(t, "GET", want, nil)
		if resp.StatusCode != 200 || !strings.Contains(body, c.Holder.Name) {
			t.Fatalf("the code's page does not show the holder's name: %d", resp.StatusCode)
		}
		resp, _ = a.do(t, "GET", "/v/lookup?number="+c.Number+"&c=NOTACODE", nil)
		if resp.StatusCode != 400 {
			t.Fatalf("a malformed code: %d, want 400", resp.StatusCode)
		}
	})

	t.Run("browser language", func(t *testing.T) {
		for _, tc := range []struct {
			query, accept string
			english       bool
		}{
			{"", "en-GB,en;q=0.9", true},
			{"", "en", true},
			{"", "zh-CN,zh;q=0.9,en;q=0.8", false},
			{"", "", false},
			{"?lang=zh", "en-US,en", false},
			{"?lang=en", "zh-CN", true},
			{"", "enx", false},
		} {
			resp, body := a.do(t, "GET", "/v/"+c.Number+tc.query, nil, "Accept-Language", tc.accept)
			en := strings.Contains(body, "Checks behind the verdict")
			if en != tc.english || !strings.Contains(resp.Header.Get("Vary"), "Accept-Language") {
				t.Errorf("%q with Accept-Language %q: English %v, Vary %q", tc.query, tc.accept, en, resp.Header.Get("Vary"))
			}
			if tc.english && !strings.Contains(body, "no official English names") {
				t.Errorf("%q %q: the English page does not say why the occupation is in Chinese", tc.query, tc.accept)
			}
			if tc.english && !strings.Contains(body, `lang=zh`) {
				t.Errorf("%q %q: the English page has no way back to Chinese that stays", tc.query, tc.accept)
			}
		}
	})

	t.Run("not found", func(t *testing.T) {
		missing := c.Number[:len(c.Number)-6] + "999999"
		resp, body := a.do(t, "GET", "/v/"+missing, nil)
		if resp.StatusCode != 404 || !strings.Contains(body, "jndj.osta.org.cn") || strings.Contains(strings.ToLower(body), "certd") {
			t.Fatalf("not found page: %d, national query linked %v, product named %v", resp.StatusCode,
				strings.Contains(body, "jndj.osta.org.cn"), strings.Contains(strings.ToLower(body), "certd"))
		}
	})
}
