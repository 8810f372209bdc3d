package tlog_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"certd/issuer/tlog"
)

// TestLogEndToEnd: entries of every kind go into a log with three witnesses
// and a quorum of two; every entry's proof verifies offline against the
// policy, dates the entry, and carries what a verifier needs to rebuild it.
func TestLogEndToEnd(t *testing.T) {
	fx := newFixture(t)
	ctx := testCtx(t)
	start := time.Now().Truncate(time.Second)
	es := genEntries(t, 0, 60)
	idx := fx.appendPublished(t, es)
	for i := range idx {
		if idx[i] != uint64(i) {
			t.Fatalf("entry %d got index %d in a fresh log", i, idx[i])
		}
	}
	cp, err := fx.log.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	c, err := fx.policy.VerifyCheckpoint(cp)
	if err != nil {
		t.Fatalf("published checkpoint: %v\n%s", err, cp)
	}
	if c.Size != 60 || len(c.Cosignatures) < 2 {
		t.Fatalf("published checkpoint has size %d and %d cosignatures", c.Size, len(c.Cosignatures))
	}
	for i, e := range es {
		pr, err := fx.log.Prove(ctx, idx[i], e.salt)
		if err != nil {
			t.Fatalf("prove %d: %v", i, err)
		}
		inc, err := fx.policy.VerifyProof(pr, e.bytes)
		if err != nil {
			t.Fatalf("entry %d (%s): %v\n%s", i, e.Kind, err, pr)
		}
		if inc.Index != idx[i] || !bytes.Equal(inc.Extra, e.salt) {
			t.Fatalf("entry %d: inclusion %+v", i, inc)
		}
		if na := inc.Checkpoint.NotAfter; na.Before(start) || na.After(time.Now()) {
			t.Fatalf("entry %d dated %v, outside the test's run", i, na)
		}
		if e.Kind.Certificate() {
			// A verifier holding the certificate rebuilds the commitment
			// from the number and the proof's salt.
			n, err := tlog.CommitNumber(inc.Extra, e.number)
			if err != nil || n != e.Number {
				t.Fatalf("entry %d: the salt in the proof does not rebuild the number commitment", i)
			}
		}
	}
}

// TestProofTampering: each way of forging or bending a proof is refused, by name.
func TestProofTampering(t *testing.T) {
	fx := newFixture(t)
	ctx := testCtx(t)
	es := genEntries(t, 0, 20)
	fx.appendPublished(t, es)
	const i = 5
	first, err := fx.log.Prove(ctx, i, es[i].salt)
	if err != nil {
		t.Fatal(err)
	}
	fx.appendPublished(t, genEntries(t, 20, 30))
	later, err := fx.log.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.policy.VerifyProof(first, es[i].bytes); err != nil {
		t.Fatalf("the untampered proof: %v", err)
	}
	edit := func(f func(p *tlog.Proof)) []byte {
		p, err := tlog.ParseProof(first)
		if err != nil {
			t.Fatal(err)
		}
		f(p)
		return p.Marshal()
	}
	_, strangerKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, tc := range map[string]struct {
		proof []byte
		entry []byte
		want  error
	}{
		"proof for another tree size": {edit(func(p *tlog.Proof) { p.Checkpoint = later }), es[i].bytes, tlog.ErrInclusion},
		"flipped hash in the proof":   {edit(func(p *tlog.Proof) { p.Hashes[1][7] ^= 1 }), es[i].bytes, tlog.ErrInclusion},
		"proof for another entry":     {first, es[i+1].bytes, tlog.ErrInclusion},
		"index moved":                 {edit(func(p *tlog.Proof) { p.Index++ }), es[i].bytes, tlog.ErrInclusion},
		"hash dropped":                {edit(func(p *tlog.Proof) { p.Hashes = p.Hashes[1:] }), es[i].bytes, tlog.ErrInclusion},
		"checkpoint signed by an unknown key": {edit(func(p *tlog.Proof) {
			p.Checkpoint = resign(t, p.Checkpoint, strangerKey)
		}), es[i].bytes, tlog.ErrUnknownLog},
		"cosignature removed": {edit(func(p *tlog.Proof) {
			p.Checkpoint = dropLastSignature(p.Checkpoint)
		}), es[i].bytes, tlog.ErrQuorum},
		"cosignature altered": {edit(func(p *tlog.Proof) {
			p.Checkpoint = alterLastSignature(p.Checkpoint)
		}), es[i].bytes, tlog.ErrBadSignature},
		"size altered": {edit(func(p *tlog.Proof) {
			lines := bytes.SplitN(p.Checkpoint, []byte("\n"), 3)
			n, _ := strconv.Atoi(string(lines[1]))
			p.Checkpoint = bytes.Join([][]byte{lines[0], []byte(strconv.Itoa(n + 1)), lines[2]}, []byte("\n"))
		}), es[i].bytes, tlog.ErrBadSignature},
		"garbage": {[]byte("c2sp.org/tlog-proof@v1\nindex x\n\n"), es[i].bytes, tlog.ErrMalformedProof},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := fx.policy.VerifyProof(tc.proof, tc.entry); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// resign replaces the log's signature with one by key (same origin), keeping
// the witnesses' cosignatures, which still match the text.
func resign(t testing.TB, cp []byte, key ed25519.PrivateKey) []byte {
	t.Helper()
	text, sigs, _ := bytes.Cut(cp, []byte("\n\n"))
	lines := strings.Split(strings.TrimSuffix(string(sigs), "\n"), "\n")
	s, err := tlog.NewSigner(origin, key)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := note.Sign(&note.Note{Text: string(text) + "\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	return append(signed, []byte(strings.Join(lines[1:], "\n")+"\n")...)
}

func dropLastSignature(cp []byte) []byte {
	i := bytes.LastIndex(cp[:len(cp)-1], []byte("\n"))
	return cp[:i+1]
}

func alterLastSignature(cp []byte) []byte {
	out := bytes.Clone(cp)
	// The line ends "...XY==\n" or similar: change a character well inside
	// the signature (past the key hash) to another base64 character.
	j := len(out) - 10
	if out[j] == 'A' {
		out[j] = 'B'
	} else {
		out[j] = 'A'
	}
	return out
}

// TestWitnessRefusesSplitView: a witness that cosigned the log's checkpoint
// refuses a checkpoint, signed by the same log key, that shows another
// history (a split view), and forgets nothing.
func TestWitnessRefusesSplitView(t *testing.T) {
	fx := newFixture(t)
	fx.appendPublished(t, genEntries(t, 0, 10))
	var w *testWitness
	for _, c := range fx.witnesses {
		if size, _ := c.Latest(origin); size == 10 {
			w = c
		}
	}
	if w == nil {
		t.Fatal("no witness cosigned size 10")
	}
	_, root := w.Latest(origin)

	// The fork: other entries from the start, signed with the real log key.
	fork := testonly.New(rfc6962.DefaultHasher)
	for i := range 13 {
		fork.AppendData(fmt.Appendf(nil, "forged %d", i))
	}
	signer, err := tlog.NewSigner(origin, fx.key)
	if err != nil {
		t.Fatal(err)
	}
	forkCP := func(size uint64) []byte {
		text := fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(fork.HashAt(size)))
		b, err := note.Sign(&note.Note{Text: text}, signer)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	proof10to13, err := fork.ConsistencyProof(10, 13)
	if err != nil {
		t.Fatal(err)
	}
	post := func(old uint64, proof [][]byte, cp []byte) (int, string, string) {
		body := fmt.Sprintf("old %d\n", old)
		for _, h := range proof {
			body += base64.StdEncoding.EncodeToString(h) + "\n"
		}
		resp, err := http.Post(w.srv.URL+"/add-checkpoint", "text/plain", strings.NewReader(body+"\n"+string(cp)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}

	if code, _, _ := post(10, proof10to13, forkCP(13)); code != http.StatusUnprocessableEntity {
		t.Errorf("a forked extension got %d, want 422", code)
	}
	if code, _, _ := post(10, nil, forkCP(10)); code != http.StatusConflict {
		t.Errorf("another root for the cosigned size got %d, want 409", code)
	}
	if code, ct, body := post(3, nil, forkCP(13)); code != http.StatusConflict || ct != "text/x.tlog.size" || body != "10\n" {
		t.Errorf("a wrong old size got %d %q %q, want 409 text/x.tlog.size \"10\\n\"", code, ct, body)
	}
	if code, _, _ := post(0, nil, forkCP(13)); code != http.StatusConflict {
		t.Errorf("starting over from 0 got %d, want 409", code)
	}
	if size, r := w.Latest(origin); size != 10 || r != root {
		t.Fatalf("the witness moved to size %d after refusing", size)
	}
	evidence, _ := filepath.Glob(filepath.Join(w.dir, "evidence-*"))
	if len(evidence) < 2 {
		t.Errorf("the witness kept %d pieces of evidence of the fork, want 2", len(evidence))
	}
	// The real log carries on: the witness still cosigns its next checkpoint.
	fx.appendPublished(t, genEntries(t, 10, 3))
	waitFor(t, "the witness to follow the real log", func() bool { s, _ := w.Latest(origin); return s >= 13 })
}

// TestQuorumNotMet: with two of three witnesses away, entries are sequenced
// but no checkpoint is published, their files are not served, and no proof
// is given; when a second witness returns, the checkpoint appears.
func TestQuorumNotMet(t *testing.T) {
	fx := newFixture(t)
	ctx := testCtx(t)
	fx.appendPublished(t, genEntries(t, 0, 1))
	w1, w2, w3 := fx.witnesses[0], fx.witnesses[1], fx.witnesses[2]
	w2.down.Store(true)
	w3.down.Store(true)
	r0 := w1.requests.Load()
	idx, err := fx.log.Append(ctx, genEntries(t, 1, 1)[0].bytes)
	if err != nil || idx != 1 {
		t.Fatalf("append: %d, %v", idx, err)
	}
	// Three requests reach w1 only if a second publication attempt began,
	// which means the first one has finished.
	waitFor(t, "two publication attempts", func() bool { return w1.requests.Load() >= r0+3 })

	cp, err := fx.log.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if c, err := fx.policy.VerifyCheckpoint(cp); err != nil || c.Size != 1 {
		t.Fatalf("published checkpoint changed without the quorum: %v\n%s", err, cp)
	}
	if _, err := fx.log.Prove(ctx, 1, nil); !errors.Is(err, tlog.ErrNotPublished) {
		t.Fatalf("proof for an unpublished entry: %v", err)
	}
	// Tessera has written the bundle, but it is not served before a
	// checkpoint commits to it.
	if _, err := os.Stat(filepath.Join(fx.dir, "tile/entries/000.p/2")); err != nil {
		t.Fatalf("expected tessera to have written the bundle: %v", err)
	}
	if _, err := fx.log.Public("tile/entries/000.p/2"); !errors.Is(err, tlog.ErrNotFound) {
		t.Fatalf("an uncommitted bundle was served: %v", err)
	}

	w2.down.Store(false)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cp, err = fx.log.AwaitPublished(wctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := fx.policy.VerifyCheckpoint(cp); err != nil || c.Size != 2 {
		t.Fatalf("after the witness returned: %v", err)
	}
	if _, err := fx.log.Public("tile/entries/000.p/2"); err != nil {
		t.Fatalf("the committed bundle is not served: %v", err)
	}
}

func TestServe(t *testing.T) {
	fx := newFixture(t)
	fx.appendPublished(t, genEntries(t, 0, 300))
	srv := httptest.NewServer(http.StripPrefix("/log", fx.log.Reader))
	defer srv.Close()
	for _, tc := range []struct {
		path, cache string
		status      int
	}{
		{"/checkpoint", tlog.CacheCheckpoint, 200},
		{"/tile/0/000", tlog.CacheFull, 200},
		{"/tile/entries/000", tlog.CacheFull, 200},
		{"/tile/0/001.p/44", tlog.CachePartial, 200},
		{"/tile/entries/001.p/44", tlog.CachePartial, 200},
		{"/tile/1/000.p/1", tlog.CachePartial, 200},
		{"/tile/0/001", tlog.CacheMissing, 404},      // not full yet
		{"/tile/0/001.p/45", tlog.CacheMissing, 404}, // beyond the checkpoint
		{"/tile/entries/002.p/1", tlog.CacheMissing, 404},
		{"/.state/treeState", tlog.CacheMissing, 404},
		{"/.certd/checkpoints", tlog.CacheMissing, 404},
		{"/tile/0/../../.state/treeState", tlog.CacheMissing, 404},
		{"/tile/entries/../../go.mod", tlog.CacheMissing, 404},
		{"/tile/0/0", tlog.CacheMissing, 404},
		{"/tile/00/000", tlog.CacheMissing, 404},
		{"/tile/0/x000/000", tlog.CacheMissing, 404},
		{"/tile/0/000.p/0", tlog.CacheMissing, 404},
		{"/tile/0/000.p/256", tlog.CacheMissing, 404},
		{"/tile/0/000/", tlog.CacheMissing, 404},
		{"/tile/64/000", tlog.CacheMissing, 404},
		{"/tile/0/.p/1", tlog.CacheMissing, 404},
		{"/", tlog.CacheMissing, 404},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.URL.Path = "/log" + tc.path // as sent, unclean
			http.StripPrefix("/log", fx.log.Reader).ServeHTTP(rec, req)
			if rec.Code != tc.status || rec.Header().Get("Cache-Control") != tc.cache {
				t.Fatalf("%s: %d %q, want %d %q", tc.path, rec.Code, rec.Header().Get("Cache-Control"), tc.status, tc.cache)
			}
			if tc.status == 200 {
				want, _ := os.ReadFile(filepath.Join(fx.dir, tc.path))
				if !bytes.Equal(rec.Body.Bytes(), want) {
					t.Fatalf("%s: served bytes differ from the file", tc.path)
				}
			}
		})
	}
	resp, err := http.Post(srv.URL+"/log/checkpoint", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST got %d", resp.StatusCode)
	}
}

func FuzzPublicPath(f *testing.F) {
	for _, p := range []string{"checkpoint", "tile/0/000", "tile/entries/x001/002.p/7", "tile/1/000.p/1", "tile/0/.p/", "tile/0/x.p/5"} {
		f.Add(p)
	}
	r := tlog.NewReader(f.TempDir())
	f.Fuzz(func(t *testing.T, path string) {
		// An empty directory serves nothing, and no path may panic.
		if _, err := r.Public(path); !errors.Is(err, tlog.ErrNotFound) {
			t.Fatalf("%q: %v", path, err)
		}
	})
}

func TestOpenTwiceRefused(t *testing.T) {
	fx := newFixture(t)
	_, err := tlog.Open(context.Background(), tlog.Config{Dir: fx.dir, Origin: origin, Key: fx.key, Policy: fx.policy})
	if !errors.Is(err, tlog.ErrLogInUse) {
		t.Fatalf("second appender: %v", err)
	}
	_, err = tlog.Open(context.Background(), tlog.Config{Dir: fx.dir, Origin: "other.example/log", Key: fx.key})
	if err == nil {
		t.Fatal("opened a log under another origin")
	}
}

func TestAppendRefusesMalformed(t *testing.T) {
	fx := newFixture(t)
	ctx := testCtx(t)
	good := genEntries(t, 0, 2)
	_, err := fx.log.AppendBatch(ctx, [][]byte{good[0].bytes, []byte("hello\n"), good[1].bytes})
	if !errors.Is(err, tlog.ErrMalformedEntry) {
		t.Fatalf("err = %v", err)
	}
	if n, _ := fx.log.IntegratedSize(ctx); n != 0 {
		t.Fatalf("a refused batch left %d entries", n)
	}
}

// TestEntriesAfterReopen: what a sequencer reads back after a restart is
// exactly what was appended, in order; appending the same bytes again in the
// same process returns the first index (tessera's in-memory dedup).
func TestEntriesAfterReopen(t *testing.T) {
	fx := newFixture(t)
	ctx := testCtx(t)
	es := genEntries(t, 0, 40)
	fx.appendPublished(t, es)
	again, err := fx.log.Append(ctx, es[7].bytes)
	if err != nil || again != 7 {
		t.Fatalf("re-appending entry 7 gave %d, %v", again, err)
	}
	if err := fx.log.Close(ctx); err != nil {
		t.Fatal(err)
	}
	fx.open(t)
	var got [][]byte
	for leaf, err := range fx.log.Entries(ctx, 30) {
		if err != nil {
			t.Fatal(err)
		}
		if leaf.Index != uint64(30+len(got)) {
			t.Fatalf("leaf index %d at position %d", leaf.Index, len(got))
		}
		got = append(got, leaf.Data)
	}
	if len(got) != 10 {
		t.Fatalf("read %d entries from 30, want 10", len(got))
	}
	for i, b := range got {
		if !bytes.Equal(b, es[30+i].bytes) {
			t.Fatalf("entry %d differs after reopening", 30+i)
		}
	}
}

// TestLogKeyRotation: during a rotation the log signs with the new and the
// old key, so verifiers holding either policy accept its checkpoints; proofs
// built on checkpoints from before the rotation need the old key in the
// policy (which is why a policy keeps retired log keys unless compromised).
func TestLogKeyRotation(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	_, oldKey, _ := ed25519.GenerateKey(rand.Reader)
	_, newKey, _ := ed25519.GenerateKey(rand.Reader)
	policyFor := func(keys ...ed25519.PrivateKey) *tlog.Policy {
		text := ""
		for _, k := range keys {
			v, _ := tlog.VerifierKey(origin, k.Public().(ed25519.PublicKey))
			text += "log " + v + "\n"
		}
		p, err := tlog.ParsePolicy([]byte(text + "quorum none\n"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	open := func(key ed25519.PrivateKey, also ...ed25519.PrivateKey) *tlog.Log {
		l, err := tlog.Open(ctx, tlog.Config{Dir: dir, Origin: origin, Key: key, AlsoSignWith: also, Policy: policyFor(append([]ed25519.PrivateKey{key}, also...)...),
			CheckpointInterval: 100 * time.Millisecond, BatchMaxAge: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	es := genEntries(t, 0, 4)
	l := open(oldKey)
	i0, err := l.Append(ctx, es[0].bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AwaitPublished(ctx, i0); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}

	l = open(newKey, oldKey)
	defer l.Close(context.Background())
	i1, err := l.Append(ctx, es[1].bytes)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.AwaitPublished(ctx, i1)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*tlog.Policy{"old key only": policyFor(oldKey), "new key only": policyFor(newKey)} {
		if _, err := p.VerifyCheckpoint(cp); err != nil {
			t.Errorf("%s: the rotated log's checkpoint: %v", name, err)
		}
	}
	pr, err := l.Prove(ctx, i0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policyFor(newKey).VerifyProof(pr, es[0].bytes); !errors.Is(err, tlog.ErrUnknownLog) {
		t.Errorf("a proof on a pre-rotation checkpoint under the new key alone: %v", err)
	}
	if _, err := policyFor(oldKey, newKey).VerifyProof(pr, es[0].bytes); err != nil {
		t.Errorf("with both keys: %v", err)
	}
	latest, _ := l.Checkpoint()
	pr, err = l.ProveAt(ctx, i0, latest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policyFor(newKey).VerifyProof(pr, es[0].bytes); err != nil {
		t.Errorf("a proof rebuilt on the latest checkpoint: %v", err)
	}
}
