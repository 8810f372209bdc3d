package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"certd/issuer/ident"
	"certd/issuer/store/sqlite"
	"certd/verify/internal/verifytest"
)

// guess is the i-th wrong name for 欧阳娜娜.
func guess(i int) string { return url.QueryEscape(fmt.Sprintf("欧阳%c", '一'+rune(i))) }

// from names the client of a request (the app trusts 0.0.0.0 as a proxy).
func from(ip string) []string { return []string{"X-Forwarded-For", ip} }

// testClientSecret is the deployment secret of the test apps: one for all,
// as the instances of one deployment share theirs.
var testClientSecret = []byte("certd test client secret")

func proxiedApp(t *testing.T, st verifytest.Store) *testApp {
	return newApp(t, st, Deps{TrustedProxies: []string{"0.0.0.0/32"}, ClientSecret: testClientSecret})
}

// TestStrangerCannotLockACertificate: one client's wrong names lock only
// that client out of that certificate's name check. The real employer,
// from another network, still gets the answer, on the page (with the
// verdict) and in a bulk check; the locked client's page still shows the
// verdict and says honestly what is limited; the QR code works for
// everyone. Before, 20 wrong names from anyone refused everyone's check
// for the day, and the page showed no verdict and blamed "your network".
func TestStrangerCannotLockACertificate(t *testing.T) {
	t.Run("database", func(t *testing.T) {
		w := verifytest.NewWorld(t, openSQLite(t), 2)
		strangerCannotLock(t, w, proxiedApp(t, w.Store))
	})
	t.Run("redis", func(t *testing.T) {
		w := verifytest.NewWorld(t, openSQLite(t), 2)
		strangerCannotLock(t, w, newApp(t, w.Store, Deps{TrustedProxies: []string{"0.0.0.0/32"},
			RedisURL: verifytest.RedisURL(t), RedisPrefix: "certd-test:" + verifytest.RandHex() + ":"}))
	})
}

func strangerCannotLock(t *testing.T, w *verifytest.World, a *testApp) {
	c := w.Certs[0]
	api := "/api/v1/certificates/" + c.Number
	stranger, employer := from("198.51.100.7"), from("203.0.113.20")
	answered := 0
	for i := range 3 * maxFailedConfirms {
		if resp, _ := a.do(t, "GET", api+"?name="+guess(i), nil, stranger...); resp.StatusCode == 200 {
			answered++
		}
	}
	if answered != maxClientFailures {
		t.Errorf("the stranger got %d answers, want %d", answered, maxClientFailures)
	}
	// The employer's check of the right name works, on the page and in the API.
	resp, page := a.do(t, "POST", "/v/"+c.Number+"?lang=zh", strings.NewReader("name="+url.QueryEscape(c.Holder.Name)), append(employer, "Content-Type", "application/x-www-form-urlencoded")...)
	if resp.StatusCode != 200 || !strings.Contains(page, `class="verdict v-valid"`) || !strings.Contains(page, c.Holder.Name) {
		t.Fatalf("the employer's check after a stranger's guesses: %d", resp.StatusCode)
	}
	if _, body := a.do(t, "GET", api+"?name="+url.QueryEscape(c.Holder.Name), nil, employer...); !strings.Contains(body, `"name":true`) {
		t.Errorf("the employer's API check: %s", body)
	}
	// So does a credit office's bulk row, from a third network.
	req, _ := json.Marshal(map[string]any{"items": []map[string]string{{"number": c.Number, "name": c.Holder.Name}}})
	if _, body := a.do(t, "POST", "/api/v1/verify", bytes.NewReader(req), append(from("192.0.2.44"), "Content-Type", "application/json")...); !strings.Contains(body, `"confirmed":true`) {
		t.Errorf("bulk row of the right name: %s", body)
	}
	// The stranger's page shows the verdict, no name, and says what is limited.
	resp, page = a.do(t, "POST", "/v/"+c.Number+"?lang=zh", strings.NewReader("name="+url.QueryEscape(c.Holder.Name)), append(stranger, "Content-Type", "application/x-www-form-urlencoded")...)
	if resp.StatusCode != 429 || !strings.Contains(page, `class="verdict v-holder_not_checked"`) || !strings.Contains(page, "证书编号本身的核验结论：有效") || strings.Contains(page, c.Holder.Name) {
		t.Errorf("the locked client's page: %d, verdict shown %v", resp.StatusCode, strings.Contains(page, "证书编号本身的核验结论：有效"))
	}
	if !strings.Contains(page, "只限制姓名核对，不影响证书的核验结论") || strings.Contains(page, "来自您网络的查询过于频繁") {
		t.Error("the locked page does not say honestly what is limited")
	}
	// The QR code works for the stranger too.
	if resp, body := a.do(t, "GET", api+"?c="+c.VerifyCode, nil, stranger...); resp.StatusCode != 200 || !strings.Contains(body, c.Holder.Name) {
		t.Errorf("QR code refused: %d", resp.StatusCode)
	}
}

// TestGuessingFromManyClientsIsCapped: once a certificate has had
// maxFailedConfirms failures from everyone, a client that has failed on it
// is refused, and each fresh client gets one try; a client that has not
// failed still confirms the right name. Other certificates are unaffected.
func TestGuessingFromManyClientsIsCapped(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 2)
	a := proxiedApp(t, w.Store)
	c := w.Certs[0]
	api := "/api/v1/certificates/" + c.Number
	n := 0
	for client := 0; n < maxFailedConfirms; client++ {
		for range maxClientFailures - 1 { // each under its own cap
			if n == maxFailedConfirms {
				break
			}
			if resp, body := a.do(t, "GET", api+"?name="+guess(n), nil, from(fmt.Sprintf("198.51.100.%d", client+1))...); resp.StatusCode != 200 {
				t.Fatalf("guess %d: %d %s", n, resp.StatusCode, body)
			}
			n++
		}
	}
	// A guesser that has failed today is refused, even under its own cap.
	if resp, body := a.do(t, "GET", api+"?name="+url.QueryEscape(c.Holder.Name), nil, from("198.51.100.4")...); resp.StatusCode != 429 || !strings.Contains(body, "someone may be guessing") {
		t.Errorf("a guesser after the pattern: %d %s", resp.StatusCode, body)
	}
	// A fresh client gets one try, then is refused too.
	fresh := from("198.51.100.200")
	if resp, _ := a.do(t, "GET", api+"?name="+guess(99), nil, fresh...); resp.StatusCode != 200 {
		t.Errorf("a fresh client's first try: %d", resp.StatusCode)
	}
	if resp, _ := a.do(t, "GET", api+"?name="+guess(98), nil, fresh...); resp.StatusCode != 429 {
		t.Errorf("a fresh client's second try: %d", resp.StatusCode)
	}
	// The real employer, who has not failed, confirms the right name.
	if _, body := a.do(t, "GET", api+"?name="+url.QueryEscape(c.Holder.Name), nil, from("203.0.113.20")...); !strings.Contains(body, `"name":true`) {
		t.Errorf("the employer after a guessing pattern: %s", body)
	}
	other := w.Certs[1]
	if _, body := a.do(t, "GET", "/api/v1/certificates/"+other.Number+"?name="+url.QueryEscape(other.Holder.Name), nil, from("198.51.100.4")...); !strings.Contains(body, `"name":true`) {
		t.Errorf("another certificate blocked: %s", body)
	}
	// A refused bulk row keeps its verdict and says the name was not checked.
	req, _ := json.Marshal(map[string]any{"items": []map[string]string{{"number": c.Number, "name": c.Holder.Name}}})
	_, body := a.do(t, "POST", "/api/v1/verify", bytes.NewReader(req), append(from("198.51.100.4"), "Content-Type", "application/json")...)
	if !strings.Contains(body, `"verdict":"valid"`) || !strings.Contains(body, `"conclusion":"holder_not_checked"`) || strings.Contains(body, `"confirmed":true`) {
		t.Errorf("refused bulk row: %s", body)
	}
}

// TestFailedConfirmationsSurviveARestart: without Redis the counts are
// kept in the database, so a new service over the same SQLite file (a
// restart) gives neither the client nor the certificate a fresh budget.
func TestFailedConfirmationsSurviveARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certd.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	w := verifytest.NewWorld(t, st, 1)
	c := w.Certs[0]
	api := "/api/v1/certificates/" + c.Number
	a := proxiedApp(t, st)
	for i := range maxClientFailures {
		if resp, body := a.do(t, "GET", api+"?name="+guess(i), nil, from("198.51.100.7")...); resp.StatusCode != 200 {
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
	b := proxiedApp(t, st)
	if resp, body := b.do(t, "GET", api+"?name="+url.QueryEscape(c.Holder.Name), nil, from("198.51.100.7")...); resp.StatusCode != 429 || strings.Contains(body, c.Holder.Name) {
		t.Fatalf("after a restart the spent budget was renewed: %d %s", resp.StatusCode, body)
	}
	if _, body := b.do(t, "GET", api+"?name="+url.QueryEscape(c.Holder.Name), nil, from("203.0.113.20")...); !strings.Contains(body, `"name":true`) {
		t.Errorf("another client after the restart: %s", body)
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
			resp, _ := a.do(t, "GET", "/api/v1/certificates/"+c.Number+"?name="+guess(i), nil)
			if resp.StatusCode == 200 {
				answered.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := answered.Load(); n != maxClientFailures {
		t.Errorf("%d of %d concurrent wrong guesses answered, want %d", n, 3*maxFailedConfirms, maxClientFailures)
	}
}

// TestIDGuessingFromManyClients: once a certificate shows a guessing
// pattern, a fresh client's try checks the name only: guessing the birth
// date hidden in a masked ID number one try per address gets nowhere.
func TestIDGuessingFromManyClients(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	a := proxiedApp(t, w.Store)
	c := w.Certs[0]
	api := "/api/v1/certificates/" + c.Number + "?name=" + url.QueryEscape(c.Holder.Name) + "&id_number="
	id := c.Holder.DocNumber
	wrong := func(i int) string {
		return ident.CompleteResidentID(fmt.Sprintf("%s1970%02d%02d%s", id[:6], 1+i%12, 1+i%28, id[14:17]))
	}
	for i := range maxFailedConfirms {
		if resp, body := a.do(t, "GET", api+wrong(i), nil, from(fmt.Sprintf("198.51.100.%d", 1+i/4))...); resp.StatusCode != 200 || !strings.Contains(body, `"id_number":false`) {
			t.Fatalf("guess %d: %d %s", i, resp.StatusCode, body)
		}
	}
	// Each fresh address now learns nothing about ID numbers, right or wrong.
	for i, guess := range []string{wrong(40), id} {
		resp, body := a.do(t, "GET", api+guess, nil, from(fmt.Sprintf("192.0.2.%d", i+1))...)
		if resp.StatusCode != 200 || strings.Contains(body, `"id_number":`) || !strings.Contains(body, `"id_number_not_checked":true`) || !strings.Contains(body, `"conclusion":"holder_not_checked"`) {
			t.Errorf("fresh client %d: %d %s", i, resp.StatusCode, body)
		}
	}
}

// TestStoredClientKeysNeedTheSecret: what stands for a client in the
// failed-check counts cannot be turned back into its address by hashing
// every IPv4 address: it is keyed with the deployment's secret. Before it
// was FNV-1a of the address, computable by anyone who read the table.
func TestStoredClientKeysNeedTheSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certd.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	w := verifytest.NewWorld(t, st, 1)
	a := proxiedApp(t, st)
	const ip = "198.51.100.7"
	if resp, body := a.do(t, "GET", "/api/v1/certificates/"+w.Certs[0].Number+"?name="+guess(0), nil, from(ip)...); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var client string
	if err := db.QueryRow(`SELECT client FROM failed_confirmations WHERE client <> ''`).Scan(&client); err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr(ip)
	raw, _ := addr.MarshalBinary()
	unkeyed := fnv.New64a()
	_, _ = unkeyed.Write(raw)
	plain := sha256.Sum256(raw)
	for _, bad := range []string{ip, hex.EncodeToString(unkeyed.Sum(nil)), hex.EncodeToString(plain[:]), hex.EncodeToString(plain[:12])} {
		if client == bad {
			t.Fatalf("the stored client %q is computable from the address alone", client)
		}
	}
	other := &handlers{clientSecret: sha256.Sum256([]byte("another deployment"))}
	same := &handlers{clientSecret: sha256.Sum256(testClientSecret)}
	if client != same.keyOf(addr) || client == other.keyOf(addr) {
		t.Fatalf("stored %q; keyed with the deployment's secret %q, another %q", client, same.keyOf(addr), other.keyOf(addr))
	}
}
