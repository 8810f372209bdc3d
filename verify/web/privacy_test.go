package web

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"certd/issuer"
	"certd/issuer/credential"
	"certd/issuer/ident"
	"certd/verify/internal/verifytest"
)

// TestNoPublicAnswerRecoversTheIDNumber plays an attacker who holds a
// forwarded QR link (number and verification code) and the holder's name,
// and collects every answer the public side gives about one certificate:
// the number-only page and API, the code page and API, the name-confirmed
// and ID-confirmed answers, the bulk check (JSON, CSV and XLSX), the PDF
// check of the genuine file, and the directory and trust documents. The
// code view gives the ID number masked to its first 6 and last 4
// characters, leaving a birth date to guess. The attacker harvests every
// commitment to the ID number found in those answers (a document hash in
// any JSON, in any signed record found anywhere) and spends a budget of
// 10^6 offline guesses on them: every birth date of a century, most likely
// ages first, with the check character filtering candidates before any
// hash. It must not recover the ID number. As a control, the same attack on
// the same answers plus the signed record (which the code view used to
// carry) must recover it, so the test can fail. Online, the failed-check
// cap leaves at most 20 guesses a day.
func TestNoPublicAnswerRecoversTheIDNumber(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	c := w.Certs[0]
	pdf := verifytest.FakePDF(c.Token, "")
	if err := w.Store.PutPDF(w.Ctx, c.Number, pdf); err != nil {
		t.Fatal(err)
	}
	a := newApp(t, w.Store, Deps{})
	name, id := c.Holder.Name, c.Holder.DocNumber
	cert := "/api/v1/certificates/" + c.Number
	form := "application/x-www-form-urlencoded"

	var answers []string
	get := func(target string) {
		resp, body := a.do(t, "GET", target, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", target, resp.StatusCode)
		}
		answers = append(answers, body)
	}
	post := func(target, ctype, body string) string {
		resp, out := a.do(t, "POST", target, strings.NewReader(body), "Content-Type", ctype)
		if resp.StatusCode != 200 {
			t.Fatalf("POST %s: %d %.200s", target, resp.StatusCode, out)
		}
		answers = append(answers, out)
		return out
	}
	for _, q := range []string{"", "?lang=en", "?c=" + c.VerifyCode, "?c=" + c.VerifyCode + "&lang=en"} {
		get("/v/" + c.Number + q)
		get(cert + q)
	}
	get(cert + "?name=" + url.QueryEscape(name))
	get(cert + "?c=" + c.VerifyCode + "&name=" + url.QueryEscape(name))
	get(cert + "?name=" + url.QueryEscape(name) + "&id_number=" + id)
	post("/v/"+c.Number, form, "name="+url.QueryEscape(name))
	post("/v/"+c.Number, form, "name="+url.QueryEscape(name)+"&id_number="+id)
	items, _ := json.Marshal(verifyRequest{Items: []item{{Number: c.Number, Name: name}, {Number: c.Number, Name: name, IDNumber: id}}})
	post("/api/v1/verify", "application/json", string(items))
	post("/api/v1/verify", "application/pdf", string(pdf))
	post("/api/v1/verify", "application/jose", c.Token)
	rows := [][]string{{"证书编号", "姓名", "证件号码"}, {c.Number, name, ""}, {c.Number, name, id}}
	var sheet bytes.Buffer
	_ = csv.NewWriter(&sheet).WriteAll(rows)
	for _, up := range []struct {
		file string
		data []byte
	}{{"list.csv", sheet.Bytes()}, {"list.xlsx", xlsxOf(t, rows)}} {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", up.file)
		fw.Write(up.data)
		mw.Close()
		out := post("/bulk", mw.FormDataContentType(), body.String())
		if strings.HasSuffix(up.file, ".xlsx") {
			answers[len(answers)-1] = xlsxText(t, out)
		}
	}
	for _, p := range []string{"/", "/bulk", "/trust.json", "/.well-known/jwks.json", "/institutions", "/institutions/jlvtc",
		"/api/v1/institutions", "/api/v1/institutions/jlvtc", "/api/openapi.json"} {
		get(p)
	}

	masked := maskedIDs(answers)
	if len(masked) != 1 || masked[0] != ident.MaskDoc(id) {
		t.Fatalf("the code view should give the masked ID number %s; found %v", ident.MaskDoc(id), masked)
	}
	for _, body := range answers {
		if strings.Contains(body, id) {
			t.Fatal("an answer carries the full ID number")
		}
	}
	issued := c.IssuedAt.In(issuer.ChinaTime).Year()

	commits := harvest(answers)
	if got, guesses, hashes := attack(masked[0], commits, issued, 1_000_000); got != "" {
		t.Fatalf("the ID number was recovered from the public answers after %d guesses (%d hashes)", guesses, hashes)
	} else {
		t.Logf("%d commitments in %d public answers; %d guesses, %d hashes, nothing recovered", len(commits), len(answers), guesses, hashes)
	}

	// Control: the same answers and the signed record, as the code view
	// gave it before. The attack must work, or this test proves nothing.
	control := harvest(append(answers, `{"record":"`+c.Token+`"}`))
	got, guesses, hashes := attack(masked[0], control, issued, 1_000_000)
	if got != id {
		t.Fatalf("control: with the record the attack should recover the ID number; got %q after %d guesses", got, guesses)
	}
	t.Logf("control: recovered with the record after %d guesses (%d hashes)", guesses, hashes)

	// Online, an ID number is checked only after the name matched, and
	// every failure counts against the client and the certificate: the
	// sixth wrong guess of the day from one client is refused, and so is
	// the right one after it.
	answered := 0
	for i := range 30 {
		guess := ident.CompleteResidentID(fmt.Sprintf("%s1990%02d%02d%s", id[:6], 1+i%12, 1+i, id[14:17]))
		resp, body := a.do(t, "GET", cert+"?name="+url.QueryEscape(name)+"&id_number="+guess, nil)
		if resp.StatusCode == 200 {
			answered++
			if !strings.Contains(body, `"id_number":false`) {
				t.Fatalf("a wrong guess was not answered as wrong: %s", body)
			}
		} else if resp.StatusCode != 429 || !strings.Contains(body, codeConfirmLimited) {
			t.Fatalf("guess %d: %d %s", i, resp.StatusCode, body)
		}
	}
	// The collection above spent no failures (every confirmation in it was
	// right), so exactly the cap was answered.
	if answered != maxClientFailures {
		t.Errorf("%d wrong ID guesses answered online, want %d (the cap)", answered, maxClientFailures)
	}
	if resp, _ := a.do(t, "GET", cert+"?name="+url.QueryEscape(name)+"&id_number="+id, nil); resp.StatusCode != 429 {
		t.Errorf("after the cap, the right guess answered %d", resp.StatusCode)
	}
}

// commitment is anything found in an answer that can tell a right guess of
// the ID number from a wrong one.
type commitment struct {
	where string
	hash  credential.DocHash
}

var (
	jwsShape    = regexp.MustCompile(`[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}`)
	maskedShape = regexp.MustCompile(`\b[0-9]{6}\*{8}[0-9]{3}[0-9Xx]\b`)
)

// harvest finds every document hash in the answers: in any JSON they are
// or hold, and in the payload of any signed record in them.
func harvest(answers []string) []commitment {
	var out []commitment
	var walk func(where string, v any)
	scan := func(where, s string) {
		for _, m := range jwsShape.FindAllString(s, -1) {
			parts := strings.Split(m, ".")
			raw, err := base64.RawURLEncoding.DecodeString(parts[1])
			var payload any
			if err == nil && json.Unmarshal(raw, &payload) == nil {
				walk(where+" (signed record)", payload)
			}
		}
	}
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["alg"] == "argon2id" {
				var h credential.DocHash
				b, _ := json.Marshal(v)
				if json.Unmarshal(b, &h) == nil {
					out = append(out, commitment{where, h})
				}
			}
			for _, x := range v {
				walk(where, x)
			}
		case []any:
			for _, x := range v {
				walk(where, x)
			}
		case string:
			scan(where, v)
		}
	}
	for i, body := range answers {
		where := fmt.Sprintf("answer %d", i)
		var v any
		if json.Unmarshal([]byte(body), &v) == nil {
			walk(where, v)
		}
		scan(where, body)
	}
	return out
}

func maskedIDs(answers []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, body := range answers {
		for _, m := range maskedShape.FindAllString(body, -1) {
			if !seen[m] {
				seen[m] = true
				out = append(out, m)
			}
		}
	}
	return out
}

// attack tries birth dates for the 8 masked digits, most likely ages first
// (holders are mostly students about 22 at issue), a century in all; the
// check character rules out about ten candidates in eleven before any
// hash. It returns the ID number a commitment confirmed, the guesses made
// and the hashes computed, stopping at budget guesses.
func attack(masked string, commits []commitment, issued, budget int) (found string, guesses, hashes int) {
	if len(commits) == 0 {
		return "", 0, 0
	}
	years := make([]int, 0, 100)
	for y := issued - 100; y < issued; y++ {
		years = append(years, y)
	}
	likely := issued - 22
	sort.SliceStable(years, func(i, j int) bool { return abs(years[i]-likely) < abs(years[j]-likely) })
	for _, y := range years {
		for d := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() == y; d = d.AddDate(0, 0, 1) {
			if guesses++; guesses > budget {
				return "", guesses - 1, hashes
			}
			id := ident.CompleteResidentID(masked[:6] + d.Format("20060102") + masked[14:17])
			if id[17] != strings.ToUpper(masked)[17] {
				continue
			}
			for _, c := range commits {
				hashes++
				if c.hash.Matches(string(ident.ResidentID), id) {
					return id, guesses, hashes
				}
			}
		}
	}
	return "", guesses, hashes
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// xlsxText is the cell text of a workbook, one line per row.
func xlsxText(t *testing.T, b string) string {
	f, err := excelize.OpenReader(strings.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, _ := f.GetRows(f.GetSheetList()[0])
	var out strings.Builder
	for _, r := range rows {
		out.WriteString(strings.Join(r, "\t") + "\n")
	}
	return out.String()
}
