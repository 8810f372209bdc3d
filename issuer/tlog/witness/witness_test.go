package witness

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"certd/issuer/tlog"
)

const origin = "certd.example/log"

type harness struct {
	t       *testing.T
	logKey  ed25519.PrivateKey
	signer  note.Signer
	logVKey string
	tree    *testonly.Tree
	dir     string
	wkey    ed25519.PrivateKey
	w       *Witness
}

func newHarness(t *testing.T) *harness {
	_, logKey, _ := ed25519.GenerateKey(rand.Reader)
	_, wkey, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := tlog.NewSigner(origin, logKey)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := tlog.VerifierKey(origin, logKey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, logKey: logKey, signer: signer, logVKey: vkey, tree: testonly.New(rfc6962.DefaultHasher), dir: t.TempDir(), wkey: wkey}
	for i := range 20 {
		h.tree.AppendData(fmt.Appendf(nil, "entry %d", i))
	}
	h.reopen()
	return h
}

func (h *harness) reopen() {
	w, err := New(Config{Name: "w.example/witness", Key: h.wkey, Dir: h.dir, Logs: []string{h.logVKey}})
	if err != nil {
		h.t.Fatal(err)
	}
	h.w = w
}

func (h *harness) checkpoint(size uint64, signers ...note.Signer) string {
	text := fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(h.tree.HashAt(size)))
	if len(signers) == 0 {
		signers = []note.Signer{h.signer}
	}
	b, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

func (h *harness) proof(from, to uint64) string {
	if from == 0 {
		return ""
	}
	p, err := h.tree.ConsistencyProof(from, to)
	if err != nil {
		h.t.Fatal(err)
	}
	var b strings.Builder
	for _, x := range p {
		b.WriteString(base64.StdEncoding.EncodeToString(x) + "\n")
	}
	return b.String()
}

func (h *harness) post(body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.w.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/add-checkpoint", strings.NewReader(body)))
	return rec
}

// add submits the checkpoint of size to, claiming the witness is at from.
func (h *harness) add(from, to uint64) *httptest.ResponseRecorder {
	return h.post(fmt.Sprintf("old %d\n%s\n%s", from, h.proof(from, to), h.checkpoint(to)))
}

func TestAddCheckpoint(t *testing.T) {
	h := newHarness(t)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	strangerSigner, _ := tlog.NewSigner(origin, stranger)
	otherLog, _ := tlog.NewSigner("other.example/log", stranger)

	// A first checkpoint is accepted on trust; the cosignature verifies
	// with the witness's published key.
	rec := h.add(0, 5)
	if rec.Code != http.StatusOK {
		t.Fatalf("first checkpoint: %d %s", rec.Code, rec.Body)
	}
	v, err := tlog.ParsePolicy([]byte(fmt.Sprintf("log %s\nwitness w %s\nquorum w\n", h.logVKey, h.w.VerifierKey())))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := v.VerifyCheckpoint([]byte(h.checkpoint(5) + rec.Body.String()))
	if err != nil || len(cp.Cosignatures) != 1 || cp.NotAfter.IsZero() {
		t.Fatalf("cosignature does not verify: %v\n%s", err, rec.Body)
	}

	for _, tc := range []struct {
		name   string
		body   string
		status int
		size   string // body of a 409 size answer
	}{
		{"consistent extension", fmt.Sprintf("old 5\n%s\n%s", h.proof(5, 9), h.checkpoint(9)), 200, ""},
		{"same checkpoint again", "old 9\n\n" + h.checkpoint(9), 200, ""},
		{"stale old size", fmt.Sprintf("old 5\n%s\n%s", h.proof(5, 12), h.checkpoint(12)), 409, "9\n"},
		{"old from scratch", "old 0\n\n" + h.checkpoint(12), 409, "9\n"},
		{"bad consistency proof", fmt.Sprintf("old 9\n%s\n%s", h.proof(8, 12), h.checkpoint(12)), 422, ""},
		{"no proof", "old 9\n\n" + h.checkpoint(12), 422, ""},
		{"old larger than checkpoint", "old 15\n\n" + h.checkpoint(12), 400, ""},
		{"unknown log", "old 0\n\n" + strings.Replace(h.checkpoint(12, otherLog), origin, "other.example/log", 1), 404, ""},
		{"signed by an unknown key", "old 9\n" + h.proof(9, 12) + "\n" + h.checkpoint(12, strangerSigner), 403, ""},
		{"no blank line", "old 9\n" + h.checkpoint(12), 400, ""},
		{"old with leading zero", "old 09\n" + h.proof(9, 12) + "\n" + h.checkpoint(12), 400, ""},
		{"proof not base64", "old 9\nnot-a-hash\n\n" + h.checkpoint(12), 400, ""},
		{"64 proof lines", "old 9\n" + strings.Repeat(base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n", 64) + "\n" + h.checkpoint(12), 400, ""},
		{"proof with old 0", "old 0\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n\n" + h.checkpoint(12), 400, ""},
		{"too large", "old 9\n\n" + h.checkpoint(12) + strings.Repeat("x", maxBody), 413, ""},
		{"consistent extension after refusals", fmt.Sprintf("old 9\n%s\n%s", h.proof(9, 12), h.checkpoint(12)), 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := h.post(tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.size != "" && (rec.Body.String() != tc.size || rec.Header().Get("Content-Type") != "text/x.tlog.size") {
				t.Fatalf("409 answer %q (%s), want %q", rec.Body, rec.Header().Get("Content-Type"), tc.size)
			}
		})
	}
	if size, _ := h.w.Latest(origin); size != 12 {
		t.Fatalf("witness at %d, want 12", size)
	}
	rec = httptest.NewRecorder()
	h.w.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/add-checkpoint", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", rec.Code)
	}
}

// TestStateSurvivesRestart: after a restart the witness still refuses to go
// back, and a damaged state file stops it rather than resetting it.
func TestStateSurvivesRestart(t *testing.T) {
	h := newHarness(t)
	if rec := h.add(0, 10); rec.Code != 200 {
		t.Fatal(rec.Body)
	}
	h.reopen()
	if size, root := h.w.Latest(origin); size != 10 || root != [32]byte(h.tree.HashAt(10)) {
		t.Fatalf("after restart: size %d", size)
	}
	if rec := h.add(0, 3); rec.Code != http.StatusConflict {
		t.Fatalf("rolled back after restart: %d", rec.Code)
	}
	if err := os.WriteFile(h.w.statePath(origin), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Name: "w.example/witness", Key: h.wkey, Dir: h.dir, Logs: []string{h.logVKey}}); err == nil {
		t.Fatal("opened on a damaged state file")
	}
}

// TestConcurrentRequestsNeverRollBack: many requests racing from the same
// old size; exactly one wins, and the witness ends at the largest size any
// cosignature was given for.
func TestConcurrentRequestsNeverRollBack(t *testing.T) {
	h := newHarness(t)
	if rec := h.add(0, 4); rec.Code != 200 {
		t.Fatal(rec.Body)
	}
	var wg sync.WaitGroup
	results := make([]int, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = h.add(4, uint64(5+i%15)).Code
		}()
	}
	wg.Wait()
	wins := 0
	for _, c := range results {
		if c == 200 {
			wins++
		} else if c != http.StatusConflict {
			t.Fatalf("unexpected status %d", c)
		}
	}
	// Equal sizes may both win (same checkpoint twice); never two different ones.
	size, _ := h.w.Latest(origin)
	for i, c := range results {
		if c == 200 && uint64(5+i%15) != size {
			t.Fatalf("cosigned size %d but the witness is at %d", 5+i%15, size)
		}
	}
	if wins == 0 {
		t.Fatal("no request won")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	for name, cfg := range map[string]Config{
		"name with space": {Name: "w example", Key: key, Dir: t.TempDir()},
		"no key":          {Name: "w.example", Dir: t.TempDir()},
		"bad log key":     {Name: "w.example", Key: key, Dir: t.TempDir(), Logs: []string{"nonsense"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
