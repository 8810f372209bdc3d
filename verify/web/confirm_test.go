package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"certd/issuer/store/sqlite"
	"certd/verify/internal/verifytest"
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

// TestFailedConfirmationsSurviveARestart: without Redis the count is kept
// in the database, so a new service over the same SQLite file (a restart)
// does not give the certificate a fresh budget.
func TestFailedConfirmationsSurviveARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certd.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	w := verifytest.NewWorld(t, st, 1)
	c := w.Certs[0]
	api := "/api/v1/certificates/" + c.Number
	a := newApp(t, st, Deps{})
	for i := range maxFailedConfirms {
		if resp, body := a.do(t, "GET", api+"?name="+url.QueryEscape(fmt.Sprintf("欧阳%c", '一'+rune(i))), nil); resp.StatusCode != 200 {
			t.Fatalf("guess %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if err := a.app.ShutdownWithTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st, err = sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	b := newApp(t, st, Deps{})
	if resp, body := b.do(t, "GET", api+"?name="+url.QueryEscape(c.Holder.Name), nil); resp.StatusCode != 429 || strings.Contains(body, c.Holder.Name) {
		t.Fatalf("after a restart the spent budget was renewed: %d %s", resp.StatusCode, body)
	}
}

// TestConcurrentGuessesAreCapped: guesses sent at once get no more answers
// than the cap; check, compare and count are one step per certificate.
func TestConcurrentGuessesAreCapped(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	a := newApp(t, w.Store, Deps{})
	c := w.Certs[0]
	var answered atomic.Int32
	var wg sync.WaitGroup
	for i := range 3 * maxFailedConfirms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := a.do(t, "GET", "/api/v1/certificates/"+c.Number+"?name="+url.QueryEscape(fmt.Sprintf("欧阳%c", '一'+rune(i))), nil)
			if resp.StatusCode == 200 {
				answered.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := answered.Load(); n != maxFailedConfirms {
		t.Errorf("%d of %d concurrent wrong guesses answered, want %d", n, 3*maxFailedConfirms, maxFailedConfirms)
	}
}
