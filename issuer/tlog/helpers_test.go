package tlog_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"certd/issuer/tlog"
	"certd/issuer/tlog/witness"
)

const origin = "certd.example/log"

// testWitness is a witness on loopback that can be taken down.
type testWitness struct {
	*witness.Witness
	name     string
	dir      string
	srv      *httptest.Server
	down     atomic.Bool
	requests atomic.Int64
}

func startWitness(t testing.TB, name string, logKeys ...string) *testWitness {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	dir := t.TempDir()
	w, err := witness.New(witness.Config{Name: name, Key: key, Dir: dir, Logs: logKeys})
	if err != nil {
		t.Fatal(err)
	}
	tw := &testWitness{Witness: w, name: name, dir: dir}
	tw.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		tw.requests.Add(1)
		if tw.down.Load() {
			http.Error(rw, "down", http.StatusServiceUnavailable)
			return
		}
		w.ServeHTTP(rw, r)
	}))
	t.Cleanup(tw.srv.Close)
	return tw
}

// fixture is a log with three witnesses on loopback and a quorum of two.
type fixture struct {
	dir       string
	key       ed25519.PrivateKey
	policy    *tlog.Policy
	log       *tlog.Log
	witnesses []*testWitness
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	vkey, err := tlog.VerifierKey(origin, key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{dir: t.TempDir(), key: key}
	text := "log " + vkey + "\n"
	for i := 1; i <= 3; i++ {
		w := startWitness(t, fmt.Sprintf("w%d.example", i), vkey)
		fx.witnesses = append(fx.witnesses, w)
		text += fmt.Sprintf("witness w%d %s %s\n", i, w.VerifierKey(), w.srv.URL)
	}
	text += "group two-of-three 2 w1 w2 w3\nquorum two-of-three\n"
	if fx.policy, err = tlog.ParsePolicy([]byte(text)); err != nil {
		t.Fatal(err)
	}
	fx.open(t)
	return fx
}

func (fx *fixture) open(t testing.TB) {
	t.Helper()
	l, err := tlog.Open(context.Background(), tlog.Config{
		Dir: fx.dir, Origin: origin, Key: fx.key, Policy: fx.policy,
		CheckpointInterval: 100 * time.Millisecond, BatchMaxAge: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	fx.log = l
	t.Cleanup(func() { l.Close(context.Background()) })
}

// testEntry is an entry as certd would make it, with what only certd keeps.
type testEntry struct {
	tlog.Entry
	bytes  []byte
	salt   []byte // certificate kinds
	number string // certificate kinds
}

var (
	institutions = []string{"jlvtc", "demo", "ccpt"}
	occupations  = []string{"4-04-05-01", "6-18-01-01", "2-02-10-03"}
	days         = []string{"2026-12-01", "2026-12-02"}
)

// genEntries makes n entries cycling through every kind, starting at seq.
func genEntries(t testing.TB, seq, n int) []testEntry {
	t.Helper()
	var out []testEntry
	var lastNumber tlog.Hash
	for i := seq; i < seq+n; i++ {
		kind := tlog.Kinds[i%len(tlog.Kinds)]
		kid := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%032d", i%4))
		e := testEntry{Entry: tlog.Entry{Kind: kind, Institution: institutions[i%3], KeyID: kid, Day: days[i%2]}}
		header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA"}`))
		payload := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"seq":%d}`, i))
		var err error
		if e.Record, err = tlog.CommitRecord(header + "." + payload + ".c2ln"); err != nil {
			t.Fatal(err)
		}
		if kind.Certificate() {
			e.Occupation, e.Level = occupations[i%3], 1+i%5
			e.number = fmt.Sprintf("Y0000220000092632%05d", i)
			e.salt, _ = tlog.NewSalt()
			if e.Number, err = tlog.CommitNumber(e.salt, e.number); err != nil {
				t.Fatal(err)
			}
			if kind == tlog.Reissued {
				e.Replaces = lastNumber
				if e.Replaces.IsZero() {
					e.Replaces[0] = 1
				}
			}
			lastNumber = e.Number
		}
		if e.bytes, err = e.Encode(); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func allBytes(es []testEntry) [][]byte {
	b := make([][]byte, len(es))
	for i, e := range es {
		b[i] = e.bytes
	}
	return b
}

// appendPublished appends es and waits until a published checkpoint covers them.
func (fx *fixture) appendPublished(t testing.TB, es []testEntry) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	idx, err := fx.log.AppendBatch(ctx, allBytes(es))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.log.AwaitPublished(ctx, idx[len(idx)-1]); err != nil {
		t.Fatal(err)
	}
	return idx
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds; the deadline only turns a hang into a failure.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
