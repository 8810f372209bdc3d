package web

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"certd/verify"
	"certd/verify/internal/verifytest"
)

// TestBulkCheckReadInBatches: a credit office's cold list is read in a few
// queries, not one per row, and every row gets its own answer.
func TestBulkCheckReadInBatches(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 150)
	cs := &verifytest.CountingStore{Store: st}
	a := newApp(t, cs, Deps{})
	var items []map[string]string
	for i, c := range w.Certs {
		name := c.Holder.Name
		if i%10 == 0 {
			name = "王某某" // a wrong name: not confirmed
		}
		items = append(items, map[string]string{"number": c.Number, "name": name})
	}
	items = append(items, map[string]string{"number": "Y000022000001263999999", "name": "张三"})
	req, _ := json.Marshal(map[string]any{"items": items})
	resp, body := a.do(t, "POST", "/api/v1/verify", bytes.NewReader(req), "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("bulk: %d %.300s", resp.StatusCode, body)
	}
	var out struct {
		Results []itemResult `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || len(out.Results) != len(items) {
		t.Fatalf("bulk answer: %v, %d results for %d items", err, len(out.Results), len(items))
	}
	for i, r := range out.Results {
		switch {
		case i == len(w.Certs):
			if r.Verdict != verify.NotFound {
				t.Errorf("unknown number: %s", r.Verdict)
			}
		case r.Number != w.Certs[i].Number || r.Verdict != verify.Valid || r.Confirmed != (i%10 != 0):
			t.Errorf("row %d: number %s verdict %s confirmed %v", i, r.Number, r.Verdict, r.Confirmed)
		}
	}
	// 151 numbers: ceil(151/64) = 3 full batches, plus the few the loaders
	// take alone before the queue fills.
	if q := cs.Queries.Load(); q > 12 {
		t.Errorf("%d queries for a list of %d numbers", q, len(items))
	}
}

// TestDatabaseDownIsNotNotFound: when the database cannot be read, a
// number that is not cached gets "temporarily unavailable" (503, retry),
// never "not found" and never a verdict; a cached one still answers; and
// nothing from the outage is cached once the database is back.
func TestDatabaseDownIsNotNotFound(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 2)
	bs := &verifytest.BrokenStore{Store: st}
	a := newApp(t, bs, Deps{})
	cached, cold := w.Certs[0].Number, w.Certs[1].Number
	a.do(t, "GET", "/api/v1/certificates/"+cached, nil)
	bs.Broken.Store(true)
	for _, path := range []string{"/api/v1/certificates/" + cold, "/v/" + cold} {
		resp, body := a.do(t, "GET", path, nil)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || strings.Contains(body, "未找到") || strings.Contains(body, `"verdict"`) ||
			!(strings.Contains(body, `"reason":"unavailable"`) || strings.Contains(body, "这不表示证书无效")) {
			t.Errorf("%s with the database down: %d %.300s", path, resp.StatusCode, body)
		}
	}
	if resp, body := a.do(t, "GET", "/api/v1/certificates/"+cached, nil); resp.StatusCode != 200 || !strings.Contains(body, `"verdict":"valid"`) {
		t.Errorf("cached view with the database down: %d %.200s", resp.StatusCode, body)
	}
	bs.Broken.Store(false)
	if resp, body := a.do(t, "GET", "/api/v1/certificates/"+cold, nil); resp.StatusCode != 200 || !strings.Contains(body, `"verdict":"valid"`) {
		t.Errorf("after the database came back: %d %.200s", resp.StatusCode, body)
	}
}
