package tlogtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	_ "modernc.org/sqlite"

	"certd/issuer"
	"certd/issuer/keys"
	"certd/issuer/publog"
	"certd/issuer/store/sqlite"
	"certd/issuer/tlog"
	"certd/issuer/tlog/witness"
	"certd/verify"
	"certd/verify/internal/verifytest"
)

const origin = "certd.test/log"

type harness struct {
	t         testing.TB
	ctx       context.Context
	st        *sqlite.Store
	dbPath    string
	w         *verifytest.World
	dir       string
	policy    *tlog.Policy // with URLs (the log's)
	public    *tlog.Policy // the bundle's
	witnesses []*witness.Witness
	servers   []*httptest.Server
	prover    *publog.Prover
	seq       *publog.Sequencer
}

// newHarness: certd on SQLite with a log whose policy names three
// witnesses on loopback and a quorum of two, and its sequencer running.
func newHarness(t testing.TB) *harness { return newHarnessOf(t, 6, true) }

// newHarnessOf issues n certificates first; fast shortens the checkpoint
// interval (tests), otherwise the production defaults apply (benchmarks).
func newHarnessOf(t testing.TB, n int, fast bool) *harness {
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, ctx: ctx, dbPath: filepath.Join(t.TempDir(), "certd.db"), dir: filepath.Join(t.TempDir(), "log")}
	st, err := sqlite.Open(ctx, h.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	h.st = st
	h.w = verifytest.NewWorld(t, st, n)
	kek, err := keys.NewKEK(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	priv, key, err := publog.LogKey(ctx, st, kek, origin)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := publog.LogVKey(key)
	if err != nil {
		t.Fatal(err)
	}
	wp := &tlog.Policy{Groups: []tlog.PolicyGroup{{Name: "two-of-three", Threshold: 2}}, Quorum: "two-of-three"}
	for i := range 3 {
		_, wpriv, _ := ed25519.GenerateKey(rand.Reader)
		name := fmt.Sprintf("witness%d.test/w", i+1)
		wt, err := witness.New(witness.Config{Name: name, Key: wpriv, Dir: t.TempDir(), Logs: []string{vkey}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(wt)
		h.witnesses, h.servers = append(h.witnesses, wt), append(h.servers, srv)
		wp.Witnesses = append(wp.Witnesses, tlog.PolicyWitness{Name: name, VKey: wt.VerifierKey(), URL: srv.URL})
		wp.Groups[0].Members = append(wp.Groups[0].Members, name)
	}
	if h.policy, err = publog.Policy(key, "", wp); err != nil {
		t.Fatal(err)
	}
	h.public = publog.PublicPolicy(h.policy)
	h.prover = &publog.Prover{Store: st, Reader: tlog.NewReader(h.dir)}
	h.seq = &publog.Sequencer{Store: st, Poll: 50 * time.Millisecond, Open: func(ctx context.Context) (*tlog.Log, error) {
		cfg := tlog.Config{Dir: h.dir, Origin: origin, Key: priv, Policy: h.policy}
		if fast {
			cfg.CheckpointInterval, cfg.BatchMaxAge = 100*time.Millisecond, 10*time.Millisecond
		}
		return tlog.Open(ctx, cfg)
	}}
	done := make(chan struct{})
	go func() { defer close(done); _ = h.seq.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, s := range h.servers {
			s.Close()
		}
		_ = st.Close()
	})
	return h
}

// proof waits (at most 30s) for the certificate's proof.
func (h *harness) proof(number string) []byte {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := h.prover.Proof(h.ctx, number)
		if err == nil {
			return p
		}
		if !errors.Is(err, tlog.ErrNotPublished) || time.Now().After(deadline) {
			h.t.Fatalf("proof of %s: %v", number, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settled waits until every outbox row is in a published checkpoint.
func (h *harness) settled() {
	h.t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		rs, err := h.st.LogRecords(h.ctx, issuer.LogFilter{})
		if err != nil {
			h.t.Fatal(err)
		}
		cp, _ := h.prover.Reader.Checkpoint()
		size, _ := checkpointSize(cp)
		all := true
		for _, r := range rs {
			if !r.Indexed || r.Index >= size {
				all = false
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the log did not publish every outbox row within 120s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func checkpointSize(cp []byte) (uint64, bool) {
	lines := strings.SplitN(string(cp), "\n", 3)
	if len(lines) < 2 {
		return 0, false
	}
	var n uint64
	_, err := fmt.Sscan(lines[1], &n)
	return n, err == nil
}

func (h *harness) audit() *publog.AuditReport {
	h.t.Helper()
	m := &tlog.Monitor{Policy: h.public, Origin: origin, Fetch: tlog.NewReader(h.dir).Fetch}
	rep, err := publog.Audit(h.ctx, h.st, m, nil, time.Now())
	if err != nil {
		h.t.Fatalf("audit: %v", err)
	}
	return rep
}

func findings(rep *publog.AuditReport) map[string][]string {
	out := map[string][]string{}
	for _, f := range rep.Findings {
		out[f.Name] = append(out[f.Name], f.Subject)
	}
	return out
}

// verdict is what the page says of a stored certificate with the log check.
func (h *harness) verdict(number string) (verify.Verdict, verify.Check) {
	h.t.Helper()
	c, err := h.st.Certificate(h.ctx, number)
	if err != nil {
		h.t.Fatal(err)
	}
	tb, err := h.w.Iss.TrustBundle(h.ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	reg, err := verify.NewRegistry(&tb)
	if err != nil {
		h.t.Fatal(err)
	}
	v := &verify.Verifier{Registry: reg, PublicLog: verify.LogProofs{Prover: h.prover, Policy: h.public}}
	recs, _ := v.Records([]issuer.Certificate{c})
	for _, ch := range recs[0].Checks {
		if ch.ID == verify.CheckLog {
			if testing.Verbose() {
				h.t.Logf("%s: %+v", number, recs[0].Checks)
			}
			return recs[0].Verdict, ch
		}
	}
	return recs[0].Verdict, verify.Check{}
}

// TestLogDoneWhen is issue 11's "done when": issue, revoke, reissue and
// rotate a key with three witnesses and a quorum of two; every proof
// verifies; each tampering is caught by the auditor or the verifier.
func TestLogDoneWhen(t *testing.T) {
	h := newHarness(t)
	ctx, w := h.ctx, h.w
	if _, err := w.Iss.Revoke(ctx, verifytest.Authority, w.Certs[0].Number, issuer.ReasonError, "录入错误"); err != nil {
		t.Fatal(err)
	}
	repl, err := w.Iss.Reissue(ctx, verifytest.Authority, w.Certs[1].Number, issuer.Correction{Reason: "姓名更正", Name: "李四"})
	if err != nil {
		t.Fatal(err)
	}
	// Key windows have second precision: a record signed in the second of
	// the rotation would fall outside the old key's window.
	time.Sleep(1100 * time.Millisecond)
	if _, err := w.Iss.RotateKey(ctx, verifytest.Authority, "jlvtc"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	after := w.Issue(2, 100) // signed with the new key
	h.settled()

	// Every certificate's proof verifies offline against the bundle's policy,
	// with at least the quorum's cosignatures dating it.
	all, err := h.st.Certificates(ctx, issuer.CertificateFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 6+1+2 {
		t.Fatalf("%d certificates", len(all))
	}
	for _, c := range all {
		inc, err := publog.VerifyRecord(h.public, h.proof(c.Number), c.Token)
		if err != nil {
			t.Fatalf("%s (%s): proof does not verify: %v", c.Number, c.Status, err)
		}
		if len(inc.Checkpoint.Cosignatures) < 2 || inc.Checkpoint.NotAfter.IsZero() || inc.Checkpoint.NotAfter.Before(c.IssuedAt) {
			t.Fatalf("%s: %d cosignatures, not after %v (issued %v)", c.Number, len(inc.Checkpoint.Cosignatures), inc.Checkpoint.NotAfter, c.IssuedAt)
		}
		if v, ch := h.verdict(c.Number); ch.Outcome != verify.Pass || (c.Status == issuer.Valid) != (v == verify.Valid) {
			t.Fatalf("%s (%s): verdict %s, log check %+v", c.Number, c.Status, v, ch)
		}
	}
	// What the log holds: 2 registrations and key events at setup and
	// rotation, 6+2 issued, 1 revoked, 1 reissued.
	rs, _ := h.st.LogRecords(ctx, issuer.LogFilter{})
	kinds := map[string]int{}
	for _, r := range rs {
		kinds[r.Kind]++
	}
	if kinds["issued"] != 8 || kinds["revoked"] != 1 || kinds["reissued"] != 1 || kinds["registration"] != 2 || kinds["key-added"] != 2 || kinds["key-retired"] != 1 {
		t.Fatalf("outbox kinds: %v", kinds)
	}
	if rep := h.audit(); len(rep.Findings) != 0 {
		t.Fatalf("a clean deployment has findings: %+v", rep.Findings)
	}

	// A quorum of two survives one witness going away.
	h.servers[2].Close()
	late := w.Issue(1, 200)[0]
	if _, err := publog.VerifyRecord(h.public, h.proof(late.Number), late.Token); err != nil {
		t.Fatalf("with two witnesses of three: %v", err)
	}

	t.Run("console", func(t *testing.T) { foreignEntry(t, h) })
	t.Run("proofs", func(t *testing.T) { tamperProofs(t, h, after[0]) })
	t.Run("witness split view", func(t *testing.T) { splitView(t, h) })
	t.Run("log files", func(t *testing.T) { tamperFiles(t, h) })
	t.Run("database", func(t *testing.T) { tamperDatabase(t, h, repl, after[1]) })
}

// tamperProofs: a proof for another tree size, a flipped hash, a checkpoint
// signed by an unknown key. Each fails by name; none gives "valid".
func tamperProofs(t *testing.T, h *harness, c issuer.Certificate) {
	good := h.proof(c.Number)
	pr, err := tlog.ParseProof(good)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := h.prover.Reader.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(latest, pr.Checkpoint) {
		t.Fatal("no later checkpoint to present the proof against")
	}
	otherSize := *pr
	otherSize.Checkpoint = latest
	flipped := *pr
	flipped.Hashes = append([][]byte(nil), pr.Hashes...)
	flipped.Hashes[0] = append([]byte(nil), pr.Hashes[0]...)
	flipped.Hashes[0][5] ^= 1
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	text, _, _ := bytes.Cut(pr.Checkpoint, []byte("\n\n"))
	signer, err := tlog.NewSigner(origin, stranger)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := note.Sign(&note.Note{Text: string(text) + "\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	unknown := *pr
	unknown.Checkpoint = forged
	for _, tc := range []struct {
		name string
		p    *tlog.Proof
		want error
	}{
		{"another tree size", &otherSize, tlog.ErrInclusion},
		{"a flipped hash", &flipped, tlog.ErrInclusion},
		{"a checkpoint signed by an unknown key", &unknown, tlog.ErrUnknownLog},
	} {
		_, err := publog.VerifyRecord(h.public, tc.p.Marshal(), c.Token)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		ch := verify.CheckLogProof(h.public, tc.p.Marshal(), c.Token)
		if ch.Outcome != verify.Fail || ch.DetailEn == "" {
			t.Errorf("%s: check %+v", tc.name, ch)
		}
		if res := (verify.Result{Verdict: verify.Valid}).With(ch); res.Verdict == verify.Valid {
			t.Errorf("%s: verdict valid", tc.name)
		}
	}
	// The proof of one certificate does not prove another.
	if _, err := publog.VerifyRecord(h.public, good, h.w.Certs[2].Token); !errors.Is(err, tlog.ErrInclusion) {
		t.Errorf("another certificate's proof: %v", err)
	}
}

// splitView: a witness that cosigned the log's history refuses a checkpoint
// of the same size with another root (a fork shown to someone else).
func splitView(t *testing.T, h *harness) {
	wt := h.witnesses[0]
	size, _ := wt.Latest(origin)
	if size == 0 {
		t.Fatal("the witness cosigned nothing")
	}
	k, err := h.st.LogKey(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	kek, _ := keys.NewKEK(bytes.Repeat([]byte{7}, 32))
	priv, err := kek.Open(k.Sealed, tlog.KeyPurpose, k.Origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := tlog.NewSigner(origin, priv)
	root := make([]byte, 32)
	root[0] = 0xfe
	fork, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root))}, signer)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("old %d\n\n%s", size, fork)
	resp, err := http.Post(h.servers[0].URL+"/add-checkpoint", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("a split view got %d, want 409", resp.StatusCode)
	}
	if s, _ := wt.Latest(origin); s != size {
		t.Fatalf("the witness's view moved to %d", s)
	}
}

// tamperFiles: truncating or rewriting the log's files is reported by the
// monitor (from the public files alone) and by the auditor.
func tamperFiles(t *testing.T, h *harness) {
	for _, tc := range []struct {
		name   string
		tamper func(dir string) error
	}{
		{"truncated entry bundle", func(dir string) error {
			return os.Truncate(filepath.Join(dir, "tile/entries/000"), 100)
		}},
		{"rewritten entry", func(dir string) error {
			p := filepath.Join(dir, "tile/entries/000")
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			i := bytes.Index(b, []byte("kind issued"))
			copy(b[i:], "kind revoke")
			return os.WriteFile(p, b, 0o600)
		}},
		{"rewritten tile", func(dir string) error {
			p := filepath.Join(dir, "tile/0/000")
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[40] ^= 1
			return os.WriteFile(p, b, 0o600)
		}},
	} {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS(h.dir)); err != nil {
			t.Fatal(err)
		}
		// The partial bundle is the one tessera keeps beside the full one:
		// tamper with whichever holds the entries.
		if _, err := os.Stat(filepath.Join(dir, "tile/entries/000")); err != nil {
			matches, _ := filepath.Glob(filepath.Join(dir, "tile/entries/000.p/*"))
			if len(matches) == 0 {
				t.Fatal("no entry bundle")
			}
			_ = os.MkdirAll(filepath.Join(dir, "tile/entries"), 0o700)
			for _, m := range matches {
				_ = os.Rename(m, filepath.Join(dir, "tile/entries/000"))
			}
			matches, _ = filepath.Glob(filepath.Join(dir, "tile/0/000.p/*"))
			for _, m := range matches {
				_ = os.Rename(m, filepath.Join(dir, "tile/0/000"))
			}
		}
		if err := tc.tamper(dir); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		m := &tlog.Monitor{Policy: h.public, Origin: origin, Fetch: tlog.NewReader(dir).Fetch}
		if _, err := m.Check(h.ctx, nil); !errors.Is(err, tlog.ErrFilesMismatch) {
			t.Errorf("%s: monitor says %v, want %v", tc.name, err, tlog.ErrFilesMismatch)
		}
		if _, err := publog.Audit(h.ctx, h.st, m, nil, time.Now()); !errors.Is(err, tlog.ErrFilesMismatch) {
			t.Errorf("%s: auditor says %v", tc.name, err)
		}
	}
	// A log rolled back to an earlier checkpoint is not append-only for a
	// monitor that remembers the later one.
	cp, _ := h.prover.Reader.Checkpoint()
	first, err := h.prover.Reader.FirstCheckpoint(0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(h.dir)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "checkpoint"), first, 0o600); err != nil {
		t.Fatal(err)
	}
	m := &tlog.Monitor{Policy: h.public, Origin: origin, Fetch: tlog.NewReader(dir).Fetch}
	if _, err := m.Check(h.ctx, cp); !errors.Is(err, tlog.ErrInconsistent) {
		t.Errorf("rolled-back log: %v, want %v", err, tlog.ErrInconsistent)
	}
}

// tamperDatabase: edits straight in the database, each reported by name by
// the auditor, and none verified as valid.
func tamperDatabase(t *testing.T, h *harness, reissued, spare issuer.Certificate) {
	db, err := sql.Open("sqlite", h.dbPath+"?_pragma=foreign_keys(0)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	certs := h.w.Certs
	edited, deleted, revoked := certs[3].Number, certs[4].Number, certs[0].Number
	backdated := "Y000022000001253999999"
	// Edit a signed record: another certificate's record in its place.
	exec(`UPDATE certificates SET token = (SELECT token FROM certificates WHERE number = ?) WHERE number = ?`, certs[5].Number, edited)
	// Delete a certificate row.
	exec(`DELETE FROM certificates WHERE number = ?`, deleted)
	// Insert a backdated certificate (a copy of a real one under a new
	// number, a year earlier, for someone else).
	exec(`CREATE TEMP TABLE forged AS SELECT * FROM certificates WHERE number = ?`, spare.Number)
	exec(`UPDATE forged SET number = ?, doc_number = '220102200301010000', verify_code = 'FORGEDCODE000000', issued_on = '2025-06-01', issued_at = '2025-06-01T02:00:00.000000Z', status_index = (SELECT MAX(status_index) + 1000 FROM certificates)`, backdated)
	exec(`INSERT INTO certificates SELECT * FROM forged`)
	// Flip a revoked certificate back to valid; undo the supersession of a
	// reissued one.
	exec(`UPDATE certificates SET status = 'valid', revoked_reason = NULL, revoked_note = NULL, revoked_at = NULL, revoked_by = NULL WHERE number = ?`, revoked)
	exec(`UPDATE certificates SET status = 'revoked' WHERE number = ?`, reissued.Number) // keep the one-valid-holding index happy
	exec(`UPDATE certificates SET status = 'valid', superseded_by = NULL WHERE number = ?`, reissued.Supersedes)

	got := findings(h.audit())
	want := map[string][]string{
		publog.RecordEdited:            {edited},
		publog.EntryWithoutCertificate: {deleted},
		publog.MissingFromLog:          {backdated},
		publog.RevocationUndone:        {revoked, reissued.Supersedes},
	}
	for name, subjects := range want {
		for _, s := range subjects {
			found := false
			for _, g := range got[name] {
				found = found || g == s
			}
			if !found {
				t.Errorf("auditor did not report %s for %s; findings %v", name, s, got)
			}
		}
	}
	// The backdated certificate is not in the log: the page's check fails
	// and its verdict is not valid, however well its record verifies.
	if v, ch := h.verdict(backdated); ch.Outcome != verify.Fail || v == verify.Valid {
		t.Errorf("backdated certificate: verdict %s, log check %+v", v, ch)
	}
	if v, _ := h.verdict(edited); v == verify.Valid {
		t.Errorf("edited record verified valid")
	}
}

// foreignEntry: the college's view of the log lists its entries, all made by
// certd for it, until an entry under its id arrives that it did not make
// (here: written through another institution's outbox row); then it is
// named.
func foreignEntry(t *testing.T, h *harness) {
	m := &tlog.Monitor{Policy: h.public, Origin: origin, Fetch: tlog.NewReader(h.dir).Fetch}
	l, err := publog.OfInstitution(h.ctx, h.st, m, "jlvtc")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Foreign) != 0 || len(l.Entries) < 10 {
		t.Fatalf("before: %d entries, %d foreign", len(l.Entries), len(l.Foreign))
	}
	tok := h.w.Certs[2].Token
	e, err := issuer.CertificateEntry(tlog.Issued, "jlvtc", h.w.Certs[2].KID, "4-04-05-05", 3, "Y000022000001263777777", tok, bytes.Repeat([]byte{9}, 32), tlog.Hash{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.Encode()
	ev := issuer.AuditEvent{Actor: "rogue", Action: "test.rogue", InstitutionID: "other", Subject: "x",
		Log: []issuer.LogItem{{Kind: "issued", InstitutionID: "other", Subject: "rogue", Entry: b}}}
	if err := h.st.AppendAudit(h.ctx, ev); err != nil {
		t.Fatal(err)
	}
	h.settled()
	l, err = publog.OfInstitution(h.ctx, h.st, m, "jlvtc")
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Foreign) != 1 || l.Foreign[0].Kind != tlog.Issued || l.Foreign[0].Subject != "" {
		t.Fatalf("after a foreign entry: %+v", l.Foreign)
	}
}

// TestBackfill: certificates from before the log (no outbox rows) get their
// entries once, a revoked one its revocation too, and then verify.
func TestBackfill(t *testing.T) {
	h := newHarness(t)
	old := h.w.Certs[:3]
	if _, err := h.w.Iss.Revoke(h.ctx, verifytest.Authority, old[0].Number, issuer.ReasonError, ""); err != nil {
		t.Fatal(err)
	}
	h.settled()
	db, err := sql.Open("sqlite", h.dbPath+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Forget their rows: as if they were issued before the log existed.
	for _, c := range old {
		if _, err := db.Exec(`DELETE FROM tlog_outbox WHERE subject = ?`, c.Number); err != nil {
			t.Fatal(err)
		}
		if _, ch := h.verdict(c.Number); ch.Outcome != verify.Fail {
			t.Fatalf("%s without rows: %+v", c.Number, ch)
		}
	}
	n, err := publog.Backfill(h.ctx, h.st)
	if err != nil || n != 3 {
		t.Fatalf("backfilled %d, %v; want 3", n, err)
	}
	if n, err := publog.Backfill(h.ctx, h.st); err != nil || n != 0 {
		t.Fatalf("second backfill: %d, %v", n, err)
	}
	h.settled()
	for _, c := range old {
		if _, err := publog.VerifyRecord(h.public, h.proof(c.Number), c.Token); err != nil {
			t.Fatalf("%s after the backfill: %v", c.Number, err)
		}
	}
	if rs, _ := h.st.LogRecords(h.ctx, issuer.LogFilter{Subject: old[0].Number, Kind: "revoked"}); len(rs) != 1 {
		t.Fatalf("the revoked certificate's revocation was not backfilled: %+v", rs)
	}
}

// TestConsoleLogViewIsIncremental: the console's view of a college's log
// entries replayed the whole log at every view. InstitutionLogs keeps what
// it replayed: a second view fetches no full entry bundle it read before,
// and still says what a full replay says, a foreign entry added since
// included.
func TestConsoleLogViewIsIncremental(t *testing.T) {
	h := newHarnessOf(t, 300, true) // more than one full entry bundle (256)
	h.settled()
	var mu sync.Mutex
	fetched := map[string]int{}
	reader := tlog.NewReader(h.dir)
	m := &tlog.Monitor{Policy: h.public, Origin: origin, Fetch: func(ctx context.Context, path string) ([]byte, error) {
		mu.Lock()
		fetched[path]++
		mu.Unlock()
		return reader.Fetch(ctx, path)
	}}
	views := &publog.InstitutionLogs{Store: h.st, Monitor: m}
	same := func(what string) *publog.InstitutionLog {
		t.Helper()
		got, err := views.Of(h.ctx, "jlvtc")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		full, err := publog.OfInstitution(h.ctx, h.st, &tlog.Monitor{Policy: h.public, Origin: origin, Fetch: reader.Fetch}, "jlvtc")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, full) {
			t.Fatalf("%s: the kept view (%d entries, %d foreign, size %d) differs from a full replay (%d, %d, %d)",
				what, len(got.Entries), len(got.Foreign), got.Size, len(full.Entries), len(full.Foreign), full.Size)
		}
		return got
	}
	first := same("first view")
	if len(first.Entries) < 300 || len(first.Foreign) != 0 {
		t.Fatalf("first view: %d entries, %d foreign", len(first.Entries), len(first.Foreign))
	}
	const fullBundle = "tile/entries/000"
	if fetched[fullBundle] == 0 {
		t.Fatalf("the first view did not read the first entry bundle: %v", fetched)
	}
	mu.Lock()
	clear(fetched)
	mu.Unlock()

	h.w.Issue(1, 900)
	tok := h.w.Certs[2].Token
	e, err := issuer.CertificateEntry(tlog.Issued, "jlvtc", h.w.Certs[2].KID, "4-04-05-05", 3, "Y000022000001263777777", tok, bytes.Repeat([]byte{9}, 32), tlog.Hash{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.Encode()
	ev := issuer.AuditEvent{Actor: "rogue", Action: "test.rogue", InstitutionID: "other", Subject: "x",
		Log: []issuer.LogItem{{Kind: "issued", InstitutionID: "other", Subject: "rogue", Entry: b}}}
	if err := h.st.AppendAudit(h.ctx, ev); err != nil {
		t.Fatal(err)
	}
	h.settled()
	mu.Lock()
	clear(fetched)
	mu.Unlock()
	second := same("after new entries")
	if n := fetched[fullBundle]; n != 0 {
		t.Fatalf("the second view read the first, full entry bundle again (%d times): %v", n, fetched)
	}
	if len(second.Entries) != len(first.Entries)+2 || len(second.Foreign) != 1 || second.Foreign[0].Subject != "" {
		t.Fatalf("second view: %d entries (first %d), foreign %+v", len(second.Entries), len(first.Entries), second.Foreign)
	}
}
