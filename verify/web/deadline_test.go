package web

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"strings"
	"testing"
	"time"

	"certd/verify/internal/verifytest"
)

// TestCostlyRequestsHaveADeadline: every public request that works for an
// anonymous caller (a PDF, a signed record, a JSON list, a bulk sheet)
// stops at the per-request deadline and says so with 503 and the code
// "deadline", instead of working on for a client that may be long gone.
// A deadline of a nanosecond has passed before any of them starts; the
// cached page, which needs none, still answers.
func TestCostlyRequestsHaveADeadline(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	a := newApp(t, w.Store, Deps{Deadline: time.Nanosecond})
	c := w.Certs[0]
	items, _ := json.Marshal(verifyRequest{Items: []item{{Number: c.Number, Name: c.Holder.Name}}})
	var sheet bytes.Buffer
	mw := multipart.NewWriter(&sheet)
	fw, _ := mw.CreateFormFile("file", "list.csv")
	fw.Write([]byte("证书编号,姓名\n" + c.Number + "," + c.Holder.Name + "\n"))
	mw.Close()
	for _, tc := range []struct {
		name, path, ctype, body string
	}{
		{"PDF", "/api/v1/verify", "application/pdf", string(verifytest.FakePDF(c.Token, ""))},
		{"signed record", "/api/v1/verify", "application/jose", c.Token},
		{"signed record in JSON", "/api/v1/verify", "application/json", `{"token":"` + c.Token + `"}`},
		{"JSON list", "/api/v1/verify", "application/json", string(items)},
		{"bulk sheet", "/bulk", mw.FormDataContentType(), sheet.String()},
	} {
		resp, body := a.do(t, "POST", tc.path, strings.NewReader(tc.body), "Content-Type", tc.ctype)
		if resp.StatusCode != 503 || (strings.HasPrefix(tc.path, "/api/") && !strings.Contains(body, `"code":"deadline"`)) ||
			(!strings.HasPrefix(tc.path, "/api/") && !strings.Contains(body, "核验超时")) {
			t.Errorf("%s: %d %.200s", tc.name, resp.StatusCode, body)
		}
	}
	if resp, _ := a.do(t, "GET", "/v/"+c.Number, nil); resp.StatusCode != 200 {
		t.Errorf("cached page: %d", resp.StatusCode)
	}
}
