package cache

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"certd/issuer"
	"certd/issuer/store/sqlite"
	"certd/verify"
	"certd/verify/internal/verifytest"
)

// TestEditedRecordInBatch: a record edited in the database is read in the
// same batch as good ones. Its signature fails the batch; then it alone is
// judged invalid, with the signature check failed, and the others stay
// valid.
func TestEditedRecordInBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certd.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := verifytest.NewWorld(t, st, 30)

	// Someone with write access to the database renames a holder.
	victim := w.Certs[17]
	parts := strings.Split(victim.Token, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	edited := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), victim.Holder.Name, "李四", 1))) + "." + parts[2]
	if edited == victim.Token {
		t.Fatal("edit did not change the record")
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE certificates SET token = ? WHERE number = ?`, edited, victim.Number); err != nil {
		t.Fatal(err)
	}

	// The edited record is read in one batch with the good ones, as a
	// loader reads a queue of misses.
	a := start(t, st, "", Options{})
	batch := make([]loadReq, len(w.Certs))
	for i, c := range w.Certs {
		batch[i] = loadReq{number: c.Number, deadline: time.Now().Add(loadTimeout), done: make(chan loadResult, 1)}
	}
	a.loadBatch(context.Background(), batch)
	got := make([]*Entry, len(w.Certs))
	for i, r := range batch {
		res := <-r.done
		if res.err != nil {
			t.Fatalf("%s: %v", r.number, res.err)
		}
		got[i] = res.e
	}
	for i, c := range w.Certs {
		rec := got[i].rec
		if c.Number == victim.Number {
			if rec.Verdict != verify.Invalid || outcomeOf(rec.Checks, verify.CheckSignature) != verify.Fail {
				t.Errorf("edited record: verdict %s, signature %s; want invalid, failed", rec.Verdict, outcomeOf(rec.Checks, verify.CheckSignature))
			}
			continue
		}
		if rec.Verdict != verify.Valid {
			t.Errorf("%s: verdict %s, want valid", c.Number, rec.Verdict)
		}
	}
	if n := testutil.ToFloat64(a.m.batchFallbacks); n < 1 {
		t.Errorf("batch failures counted %v, want at least 1", n)
	}
}

func outcomeOf(cs []verify.Check, id string) verify.Outcome {
	return verify.Result{Checks: cs}.Outcome(id)
}

// TestL1BoundedByMemory: a flood of different numbers keeps the in-process
// cache within its byte budget, and what it evicts is read again when asked.
func TestL1BoundedByMemory(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 60)
	per := recordWeight(&verify.Record{Found: true, Token: w.Certs[0].Token})
	budget := int64(per) * 20
	a := start(t, st, "", Options{L1Bytes: budget})
	for _, c := range w.Certs {
		a.lookup(t, c.Number)
	}
	a.l1.CleanUp()
	if got := a.l1.WeightedSize(); got > uint64(budget) {
		t.Errorf("cache holds %d bytes (estimated) after 60 views, budget %d", got, budget)
	}
	if n := a.l1.EstimatedSize(); n > 21 || n < 10 {
		t.Errorf("cache holds %d views, want about 20", n)
	}
	// Rendering pages makes entries heavier; the budget still holds. (A
	// verification page is about 8 KB, its JSON 2 KB.)
	page, json := bytes.Repeat([]byte("p"), 8<<10), bytes.Repeat([]byte("j"), 2<<10)
	render := func(in *instance, number string) {
		e, err := in.Lookup(context.Background(), number)
		if err != nil {
			t.Fatal(err)
		}
		in.Render(e, 0, func() []byte { return page })
		in.Render(e, 4, func() []byte { return json })
	}
	for _, c := range w.Certs {
		render(a, c.Number)
	}
	a.l1.CleanUp()
	if got := a.l1.WeightedSize(); got > uint64(budget) {
		t.Errorf("cache holds %d bytes (estimated) after rendering, budget %d", got, budget)
	}
	// A view that renders its page is weighed again, page included (on an
	// instance with room, so the cache's policy keeps it).
	roomy := start(t, st, "", Options{})
	n := w.Certs[0].Number
	render(roomy, n)
	if e, ok := roomy.l1.GetEntryQuietly(n); !ok || e.Weight < per+8<<10 {
		t.Errorf("a view with its page rendered weighs %d (cached %v), bare %d", e.Weight, ok, per)
	}
	// Evicted or not, every view still answers, and right.
	for _, c := range w.Certs {
		if rec := a.lookup(t, c.Number); rec.Verdict != verify.Valid {
			t.Fatalf("%s after eviction: %s", c.Number, rec.Verdict)
		}
	}
}

// TestRenderKeepsForms: a rendered form is built once per view and kept
// with it; a build that fails (nil) is not kept; an invalidated view's
// forms go with it.
func TestRenderKeepsForms(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 1)
	a := start(t, st, "", Options{})
	n := w.Certs[0].Number
	e, err := a.Lookup(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	builds := 0
	build := func() []byte { builds++; return bytes.Repeat([]byte("<p>有效</p>"), 100) }
	b1 := a.Render(e, 1, build)
	b2 := a.Render(e, 1, build)
	if b1 != b2 || builds != 1 {
		t.Errorf("the form was built %d times for two uses", builds)
	}
	if gz := b1.Gzipped(); len(gz) == 0 || len(gz) >= len(b1.Body()) {
		t.Errorf("gzip form %d bytes of %d", len(gz), len(b1.Body()))
	}
	if NewBlob([]byte("x")).ETag() == NewBlob([]byte("y")).ETag() || !strings.HasPrefix(b1.ETag(), `"`) {
		t.Errorf("ETags do not name their bodies: %s", b1.ETag())
	}
	if b := a.Render(e, 2, func() []byte { return nil }); b != nil {
		t.Error("a failed build was kept")
	}
	if b := a.Render(e, 2, build); b == nil || builds != 2 {
		t.Error("a failed build was not tried again")
	}
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, n, issuer.ReasonError, ""); err != nil {
		t.Fatal(err)
	}
	verifytest.Eventually(t, time.Second, "revocation applied", func() bool { return a.lookup(t, n).Verdict == verify.Revoked })
	e2, _ := a.Lookup(context.Background(), n)
	if a.Render(e2, 1, build) == b1 || builds != 3 {
		t.Error("a revoked view kept the form rendered from the valid one")
	}
}

// TestBulkCheckQueuedAtOnce: Prefetch queues a cold list all at once, so
// that it is read in a few full batches, not one query per number.
func TestBulkCheckQueuedAtOnce(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 150)
	cs := &verifytest.CountingStore{Store: st}
	a := start(t, cs, "", Options{})
	var numbers []string
	for _, c := range w.Certs {
		numbers = append(numbers, c.Number)
	}
	numbers = append(numbers, "Y000022000001263999999")
	a.Prefetch(numbers)
	reads := cs.Reads.Load()
	for i, n := range numbers {
		if rec := a.lookup(t, n); rec.Found != (i < len(w.Certs)) {
			t.Errorf("%s: found %v", n, rec.Found)
		}
	}
	if reads != int64(len(numbers)) || cs.Reads.Load() != reads {
		t.Errorf("%d numbers read by Prefetch, %d after the lookups; want each of %d once", reads, cs.Reads.Load(), len(numbers))
	}
	// 151 numbers: ceil(151/64) = 3 full batches, plus the few the loaders
	// take alone before the queue fills.
	if q := cs.Queries.Load(); q > 12 {
		t.Errorf("%d queries for a list of %d numbers", q, len(numbers))
	}
}

// TestRedisHitsDoNotWaitForTheDatabase: in a batch that mixes a view Redis
// has with one it lacks, the first is answered while the database query for
// the second is still stuck.
func TestRedisHitsDoNotWaitForTheDatabase(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 2)
	rs := startRedis(t, 0)
	a := start(t, st, rs.url(), Options{})
	// b starts first: a starting instance drops the Redis views of recent
	// changes, these certificates' issuance among them.
	cs := &verifytest.CountingStore{Store: st, Gate: make(chan struct{})}
	defer close(cs.Gate)
	b := start(t, cs, rs.url(), Options{})
	inRedis, cold := w.Certs[0].Number, w.Certs[1].Number
	a.shareInRedis(t, rs, inRedis)
	hit := loadReq{number: inRedis, deadline: time.Now().Add(loadTimeout), done: make(chan loadResult, 1)}
	miss := loadReq{number: cold, deadline: time.Now().Add(loadTimeout), done: make(chan loadResult, 1)}
	go b.loadBatch(context.Background(), []loadReq{miss, hit})
	select {
	case res := <-hit.done:
		if res.err != nil || res.e.rec.Verdict != verify.Valid {
			t.Fatalf("Redis hit: %v", res.err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the Redis hit waited for the stuck database query")
	}
	select {
	case <-miss.done:
		t.Fatal("the cold number was answered while its query was held")
	default:
	}
}

// panickyStore panics on a certificate batch read.
type panickyStore struct {
	verify.Store
	panics atomic.Bool
}

func (p *panickyStore) Certificates(ctx context.Context, f issuer.CertificateFilter) ([]issuer.Certificate, error) {
	if len(f.Numbers) > 0 && p.panics.Load() {
		panic("boom")
	}
	return p.Store.Certificates(ctx, f)
}

// TestLoaderSurvivesAPanic: a panic while loading answers its waiters
// "unavailable" and leaves the loaders working.
func TestLoaderSurvivesAPanic(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 1)
	ps := &panickyStore{Store: st}
	ps.panics.Store(true)
	a := start(t, ps, "", Options{})
	n := w.Certs[0].Number
	if _, err := a.Lookup(context.Background(), n); !errors.Is(err, ErrUnavailable) || !errors.Is(err, issuer.ErrUnavailable) {
		t.Fatalf("lookup during the panic: %v", err)
	}
	ps.panics.Store(false)
	for range loaders + 1 {
		if rec := a.lookup(t, n); rec.Verdict != verify.Valid {
			t.Fatalf("lookup after the panic: %s", rec.Verdict)
		}
	}
	if !strings.Contains(a.logs.String(), "panic while loading") {
		t.Error("the panic was not logged")
	}
}

// TestDatabaseDownIsUnavailable: while the database cannot be read, a
// number that is not cached is "unavailable", never "not found"; a cached
// one still answers; nothing from the outage is cached.
func TestDatabaseDownIsUnavailable(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 2)
	bs := &verifytest.BrokenStore{Store: st}
	a := start(t, bs, "", Options{})
	cached, cold := w.Certs[0].Number, w.Certs[1].Number
	a.lookup(t, cached)
	bs.Broken.Store(true)
	if e, err := a.Lookup(context.Background(), cold); !errors.Is(err, issuer.ErrUnavailable) {
		t.Fatalf("lookup with the database down: %v, %v", e, err)
	}
	if rec := a.lookup(t, cached); rec.Verdict != verify.Valid {
		t.Errorf("cached view with the database down: %s", rec.Verdict)
	}
	bs.Broken.Store(false)
	if rec := a.lookup(t, cold); rec.Verdict != verify.Valid {
		t.Errorf("after the database came back: %s", rec.Verdict)
	}
}

// TestOneReadPerMiss: concurrent misses for one number cause one database
// read, and unknown numbers are cached too.
func TestOneReadPerMiss(t *testing.T) {
	base := openSQLite(t)
	w := verifytest.NewWorld(t, base, 1)
	cs := &verifytest.CountingStore{Store: base}
	a := start(t, cs, "", Options{})
	for _, n := range []string{w.Certs[0].Number, "Y000022000001263999999"} {
		before := cs.Reads.Load()
		var wg sync.WaitGroup
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := a.Lookup(context.Background(), n); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		for i := 0; i < 100; i++ {
			a.lookup(t, n)
		}
		if got := cs.Reads.Load() - before; got != 1 {
			t.Errorf("%s: %d database reads for 164 lookups, want 1", n, got)
		}
	}
}

// TestMissesAreBatched: a flood of different numbers (a cold cache, a bulk
// check) is read in a few queries, each number once, and every answer is
// the right one, found or not.
func TestMissesAreBatched(t *testing.T) {
	base := openSQLite(t)
	w := verifytest.NewWorld(t, base, max(150, loaders+100))
	cs := &verifytest.CountingStore{Store: base, Gate: make(chan struct{})}
	// What is tested is the batching, not freshness: on a busy machine
	// under the race detector the tail's reads can take longer than the
	// default, and the answers would (rightly) come back stale.
	a := start(t, cs, "", Options{Freshness: time.Minute})
	var numbers []string
	for _, c := range w.Certs {
		numbers = append(numbers, c.Number)
	}
	for i := 0; i < 50; i++ {
		numbers = append(numbers, fmt.Sprintf("Y000022000001263%06d", 900000+i))
	}
	got := make([]*Entry, len(numbers))
	var wg sync.WaitGroup
	for i, n := range numbers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := a.Lookup(context.Background(), n)
			if err != nil {
				t.Error(err)
			}
			got[i] = e
		}()
	}
	// Let the loaders block on their first queries while the rest queue.
	waitQueued(t, a.Service, cs, len(numbers))
	close(cs.Gate)
	wg.Wait()
	if r := cs.Reads.Load(); r != int64(len(numbers)) {
		t.Errorf("%d numbers read for %d distinct lookups, want each read once", r, len(numbers))
	}
	// The loaders' first queries, then batches of up to maxLoadBatch.
	if q, most := cs.Queries.Load(), int64(loaders+(len(numbers)+maxLoadBatch-1)/maxLoadBatch+loaders); q > most {
		t.Errorf("%d queries for %d numbers, want at most %d", q, len(numbers), most)
	}
	for i, n := range numbers {
		if got[i] == nil {
			continue
		}
		if got[i].rec.Number != n {
			t.Fatalf("lookup of %s answered with %s", n, got[i].rec.Number)
		}
		if wantFound := i < len(w.Certs); got[i].rec.Found != wantFound || (wantFound && got[i].rec.Verdict != verify.Valid) {
			t.Errorf("%s: found=%v verdict=%s", n, got[i].rec.Found, got[i].rec.Verdict)
		}
	}
}
