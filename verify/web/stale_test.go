package web

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"mime/multipart"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/verify"
	"certd/verify/cache"
	"certd/verify/internal/verifytest"
)

// TestStaleAnswers: an instance that has not read the register's changes
// for more than the freshness bound withholds "valid" and "not found" in
// every channel (page, API, bulk, a presented record) and says instead that
// it cannot confirm the current status, as of when; it never shows the
// green verdict, nor the red one, and it is not ready. Revoked stays
// revoked. Once it reads the changes again it answers as before.
func TestStaleAnswers(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 2)
	valid, revoked, unknown := w.Certs[0], w.Certs[1].Number, "Y000022000001263999999"
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, revoked, issuer.ReasonMisconduct, ""); err != nil {
		t.Fatal(err)
	}
	bs := &verifytest.BrokenStore{Store: st}
	a := newApp(t, bs, Deps{})
	for _, n := range []string{valid.Number, revoked, unknown} {
		a.do(t, "GET", "/api/v1/certificates/"+n, nil)
	}
	bs.AuditFrozen.Store(true)
	frozen := time.Now()
	// Everything the instance knows was read before frozen. (A wait, not
	// a measure of speed.)
	time.Sleep(time.Until(frozen.Add(cache.DefaultFreshness + 10*time.Millisecond)))

	t.Run("api", func(t *testing.T) {
		for _, n := range []string{valid.Number, unknown} {
			resp, body := a.do(t, "GET", "/api/v1/certificates/"+n, nil)
			var v verify.View
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Fatal(err)
			}
			asOf, err := time.Parse(time.RFC3339, v.AsOf)
			if resp.StatusCode != 200 || v.Verdict != verify.Stale || v.VerdictZh != "无法确认当前状态" || v.Status != nil || err != nil || asOf.After(frozen) {
				t.Errorf("%s: %d %.400s", n, resp.StatusCode, body)
			}
			if strings.Contains(body, `"valid"`) {
				t.Errorf("%s: a stale answer says valid somewhere: %.400s", n, body)
			}
		}
		if _, body := a.do(t, "GET", "/api/v1/certificates/"+revoked, nil); !strings.Contains(body, `"verdict":"revoked"`) {
			t.Errorf("revoked while stale: %.200s", body)
		}
	})

	t.Run("page", func(t *testing.T) {
		for _, path := range []string{"/v/" + valid.Number + "?c=" + valid.VerifyCode, "/v/" + unknown} {
			resp, page := a.do(t, "GET", path, nil)
			if resp.StatusCode != 200 || !strings.Contains(page, `class="verdict v-stale"`) || !strings.Contains(page, "无法确认当前状态") ||
				!strings.Contains(page, "状态截至") || !strings.Contains(page, "这不表示证书无效") {
				t.Errorf("%s: %d %.2000s", path, resp.StatusCode, page)
			}
			for _, wrong := range []string{`verdict v-valid"`, `verdict v-invalid"`, `verdict v-not_found"`, "<span>有效</span>", "<span>无效</span>", "未找到编号", "未通过签名核验"} {
				if strings.Contains(page, wrong) {
					t.Errorf("%s: stale page shows %q", path, wrong)
				}
			}
		}
		_, page := a.do(t, "GET", "/v/"+valid.Number+"?lang=en", nil)
		if !strings.Contains(page, "Cannot confirm the current status") || !strings.Contains(page, "status as of") || !strings.Contains(page, "does not mean the certificate is invalid") {
			t.Errorf("English stale page: %.2000s", page)
		}
	})

	t.Run("bulk", func(t *testing.T) {
		items := []item{{Number: valid.Number, Name: valid.Holder.Name}, {Number: unknown, Name: "张三"}, {Number: revoked, Name: "张三"}}
		b, _ := json.Marshal(verifyRequest{Items: items})
		_, body := a.do(t, "POST", "/api/v1/verify", bytes.NewReader(b), "Content-Type", "application/json")
		var out struct {
			Results []itemResult `json:"results"`
		}
		_ = json.Unmarshal([]byte(body), &out)
		if len(out.Results) != 3 {
			t.Fatalf("%.400s", body)
		}
		for i, want := range []verify.Verdict{verify.Stale, verify.Stale, verify.Revoked} {
			r := out.Results[i]
			if r.Verdict != want || r.Confirmed || (want == verify.Stale) != (r.AsOf != "") {
				t.Errorf("item %d: %+v", i, r)
			}
		}
		var sheet bytes.Buffer
		_ = csv.NewWriter(&sheet).WriteAll([][]string{{"证书编号", "姓名"}, {valid.Number, valid.Holder.Name}})
		var form bytes.Buffer
		mw := multipart.NewWriter(&form)
		fw, _ := mw.CreateFormFile("file", "list.csv")
		_, _ = fw.Write(sheet.Bytes())
		_ = mw.Close()
		_, res := a.do(t, "POST", "/bulk", &form, "Content-Type", mw.FormDataContentType())
		rows, _ := csv.NewReader(strings.NewReader(strings.TrimPrefix(res, "\xef\xbb\xbf"))).ReadAll()
		if len(rows) != 2 || rows[1][2] != "无法确认当前状态" || rows[1][4] != "否 no" || !strings.Contains(rows[1][7], "状态截至") {
			t.Errorf("result sheet: %v", rows)
		}
	})

	t.Run("presented record", func(t *testing.T) {
		_, body := a.do(t, "POST", "/api/v1/verify", strings.NewReader(valid.Token), "Content-Type", "application/jose")
		var tr verify.TokenResult
		_ = json.Unmarshal([]byte(body), &tr)
		if tr.Verdict != verify.Stale || tr.Status != nil || tr.Number != valid.Number {
			t.Errorf("presented record while stale: %.600s", body)
		}
	})

	t.Run("readyz", func(t *testing.T) {
		resp, body := a.do(t, "GET", "/readyz", nil)
		if resp.StatusCode != 503 || !strings.Contains(body, "stale") {
			t.Errorf("readyz while stale: %d %s", resp.StatusCode, body)
		}
	})

	bs.AuditFrozen.Store(false)
	verifytest.Eventually(t, 10*time.Second, "ready again", func() bool {
		resp, _ := a.do(t, "GET", "/readyz", nil)
		return resp.StatusCode == 200
	})
	if _, body := a.do(t, "GET", "/api/v1/certificates/"+valid.Number, nil); !strings.Contains(body, `"verdict":"valid"`) {
		t.Errorf("after the freeze: %.200s", body)
	}
	if resp, page := a.do(t, "GET", "/v/"+unknown, nil); resp.StatusCode != 404 || !strings.Contains(page, "v-not_found") {
		t.Errorf("unknown number after the freeze: %d", resp.StatusCode)
	}
}

// TestOpenAPIVerdicts: the published API names every verdict an answer can
// carry.
func TestOpenAPIVerdicts(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				Verdict struct {
					Enum []string `json:"enum"`
				} `json:"Verdict"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(doc.Components.Schemas.Verdict.Enum, ",")
	for _, v := range []verify.Verdict{verify.Valid, verify.Revoked, verify.Superseded, verify.Invalid, verify.NotFound, verify.Undecided, verify.Stale} {
		if !strings.Contains(","+got+",", ","+string(v)+",") {
			t.Errorf("verdict %q is not in openapi.json's Verdict enum %s", v, got)
		}
	}
}
