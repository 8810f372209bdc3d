package web

import (
	"bytes"
	"certd/verify/internal/verifytest"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// Guessing a holder's name is capped per certificate, not only per client:
// after maxFailedConfirms wrong names nobody can confirm on that number
// today, while other certificates are unaffected.
func TestFailedConfirmationsCappedPerCertificate(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 2)
	a := newApp(t, w.Store, Deps{})
	c := w.Certs[0]
	api := "/api/v1/certificates/" + c.Number
	for i := range maxFailedConfirms {
		resp, body := a.do(t, "GET", api+"?name="+url.QueryEscape(fmt.Sprintf("欧阳%c", '一'+rune(i))), nil)
		if resp.StatusCode != 200 || !strings.Contains(body, `"name":false`) {
			t.Fatalf("guess %d: %d %s", i, resp.StatusCode, body)
		}
	}
	// The right name is refused now: the budget is spent.
	resp, body := a.do(t, "GET", api+"?name="+url.QueryEscape(c.Holder.Name), nil)
	if resp.StatusCode != 429 || strings.Contains(body, c.Holder.Name) {
		t.Fatalf("after %d failures: %d %s", maxFailedConfirms, resp.StatusCode, body)
	}
	// The bulk API is held to the same budget.
	req, _ := json.Marshal(map[string]any{"items": []map[string]string{{"number": c.Number, "name": c.Holder.Name}}})
	_, body = a.do(t, "POST", "/api/v1/verify", bytes.NewReader(req), "Content-Type", "application/json")
	if strings.Contains(body, `"name":true`) || !strings.Contains(body, "too many failed name checks") {
		t.Fatalf("bulk after the cap: %s", body)
	}
	// The QR code still works, and another certificate is unaffected.
	if resp, _ := a.do(t, "GET", api+"?c="+c.VerifyCode, nil); resp.StatusCode != 200 {
		t.Errorf("QR code refused: %d", resp.StatusCode)
	}
	other := w.Certs[1]
	if _, body := a.do(t, "GET", "/api/v1/certificates/"+other.Number+"?name="+url.QueryEscape(other.Holder.Name), nil); !strings.Contains(body, `"name":true`) {
		t.Errorf("another certificate blocked: %s", body)
	}
}
