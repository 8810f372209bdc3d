package verify

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"certd/issuer"
	"certd/issuer/store/sqlite"
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
	w := newWorld(t, st, 30)

	// Someone with write access to the database renames a holder.
	victim := w.certs[17]
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
	a := newApp(t, st, Deps{})
	batch := make([]loadReq, len(w.certs))
	for i, c := range w.certs {
		batch[i] = loadReq{number: c.Number, deadline: time.Now().Add(loadTimeout), done: make(chan loadResult, 1)}
	}
	a.svc.loadBatch(context.Background(), batch)
	got := make([]*entry, len(w.certs))
	for i, r := range batch {
		res := <-r.done
		if res.err != nil {
			t.Fatalf("%s: %v", r.number, res.err)
		}
		got[i] = res.e
	}
	for i, c := range w.certs {
		rec := got[i].rec
		if c.Number == victim.Number {
			if rec.Verdict != Invalid || outcomeOf(rec.Checks, CheckSignature) != Fail {
				t.Errorf("edited record: verdict %s, signature %s; want invalid, failed", rec.Verdict, outcomeOf(rec.Checks, CheckSignature))
			}
			continue
		}
		if rec.Verdict != Valid {
			t.Errorf("%s: verdict %s, want valid", c.Number, rec.Verdict)
		}
	}
	if n := testutil.ToFloat64(a.svc.m.batchFallbacks); n < 1 {
		t.Errorf("batch failures counted %v, want at least 1", n)
	}
}

func outcomeOf(cs []Check, id string) Outcome {
	for _, c := range cs {
		if c.ID == id {
			return c.Outcome
		}
	}
	return ""
}

// TestL1BoundedByMemory: a flood of different numbers keeps the in-process
// cache within its byte budget, and what it evicts is read again when asked.
func TestL1BoundedByMemory(t *testing.T) {
	st := openSQLite(t)
	w := newWorld(t, st, 60)
	per := (&Record{Found: true, Token: w.certs[0].Token}).weight()
	budget := int64(per) * 20
	cs := &countingStore{Store: st}
	a := newApp(t, cs, Deps{Options: Options{L1Bytes: budget}})
	for _, c := range w.certs {
		if _, err := a.svc.Lookup(context.Background(), c.Number); err != nil {
			t.Fatal(err)
		}
	}
	a.svc.l1.CleanUp()
	if got := a.svc.l1.WeightedSize(); got > uint64(budget) {
		t.Errorf("cache holds %d bytes (estimated) after 60 views, budget %d", got, budget)
	}
	if n := a.svc.l1.EstimatedSize(); n > 21 || n < 10 {
		t.Errorf("cache holds %d views, want about 20", n)
	}
	// Rendering pages makes entries heavier; the budget still holds.
	for _, c := range w.certs {
		a.do(t, "GET", "/v/"+c.Number, nil)
		a.do(t, "GET", "/api/v1/certificates/"+c.Number, nil)
	}
	a.svc.l1.CleanUp()
	if got := a.svc.l1.WeightedSize(); got > uint64(budget) {
		t.Errorf("cache holds %d bytes (estimated) after rendering, budget %d", got, budget)
	}
	// A view that renders its page is weighed again, page included (on an
	// instance with room, so the cache's policy keeps it).
	roomy := newApp(t, st, Deps{})
	n := w.certs[0].Number
	roomy.do(t, "GET", "/v/"+n, nil)
	if e, ok := roomy.svc.l1.GetEntryQuietly(n); !ok || e.Weight < per+8<<10 {
		t.Errorf("a view with its page rendered weighs %d (cached %v), bare %d", e.Weight, ok, per)
	}
	// Evicted or not, every view still answers, and right.
	for _, c := range w.certs {
		if e, err := a.svc.Lookup(context.Background(), c.Number); err != nil || e.rec.Verdict != Valid {
			t.Fatalf("%s after eviction: %v", c.Number, err)
		}
	}
}

// TestBulkCheckReadInBatches: a credit office's cold list is read in a few
// queries, not one per row, and every row gets its own answer.
func TestBulkCheckReadInBatches(t *testing.T) {
	st := openSQLite(t)
	w := newWorld(t, st, 150)
	cs := &countingStore{Store: st}
	a := newApp(t, cs, Deps{})
	var items []map[string]string
	for i, c := range w.certs {
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
		Results []ItemResult `json:"results"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil || len(out.Results) != len(items) {
		t.Fatalf("bulk answer: %v, %d results for %d items", err, len(out.Results), len(items))
	}
	for i, r := range out.Results {
		switch {
		case i == len(w.certs):
			if r.Verdict != NotFound {
				t.Errorf("unknown number: %s", r.Verdict)
			}
		case r.Number != w.certs[i].Number || r.Verdict != Valid || r.Confirmed != (i%10 != 0):
			t.Errorf("row %d: number %s verdict %s confirmed %v", i, r.Number, r.Verdict, r.Confirmed)
		}
	}
	// 151 numbers: ceil(151/64) = 3 full batches, plus the few the loaders
	// take alone before the queue fills.
	if q := cs.queries.Load(); q > 12 {
		t.Errorf("%d queries for a list of %d numbers", q, len(items))
	}
}

// brokenStore is a real store whose certificate reads fail, as when the
// database goes away after the service started.
type brokenStore struct {
	Store
	broken atomic.Bool
}

func (b *brokenStore) Certificates(ctx context.Context, f issuer.CertificateFilter) ([]issuer.Certificate, error) {
	if b.broken.Load() && len(f.Numbers) > 0 {
		return nil, errors.New("connection refused")
	}
	return b.Store.Certificates(ctx, f)
}

// TestDatabaseDownIsNotNotFound: when the database cannot be read, a
// number that is not cached gets "temporarily unavailable" (503, retry),
// never "not found" and never a verdict; a cached one still answers; and
// nothing from the outage is cached once the database is back.
func TestDatabaseDownIsNotNotFound(t *testing.T) {
	st := openSQLite(t)
	w := newWorld(t, st, 2)
	bs := &brokenStore{Store: st}
	a := newApp(t, bs, Deps{})
	cached, cold := w.certs[0].Number, w.certs[1].Number
	a.do(t, "GET", "/api/v1/certificates/"+cached, nil)
	bs.broken.Store(true)
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
	bs.broken.Store(false)
	if resp, body := a.do(t, "GET", "/api/v1/certificates/"+cold, nil); resp.StatusCode != 200 || !strings.Contains(body, `"verdict":"valid"`) {
		t.Errorf("after the database came back: %d %.200s", resp.StatusCode, body)
	}
}

// TestRedisHitsDoNotWaitForTheDatabase: in a batch that mixes a view Redis
// has with one it lacks, the first is answered while the database query for
// the second is still stuck.
func TestRedisHitsDoNotWaitForTheDatabase(t *testing.T) {
	st := openSQLite(t)
	w := newWorld(t, st, 2)
	rs := startRedis(t, 0)
	a := newApp(t, st, Deps{RedisURL: rs.url()})
	// b starts first: a starting instance drops the Redis views of recent
	// changes, these certificates' issuance among them.
	cs := &countingStore{Store: st, gate: make(chan struct{})}
	defer close(cs.gate)
	b := newApp(t, cs, Deps{RedisURL: rs.url()})
	inRedis, cold := w.certs[0].Number, w.certs[1].Number
	a.do(t, "GET", "/api/v1/certificates/"+inRedis, nil)
	a.do(t, "GET", "/api/v1/certificates/"+inRedis, nil)
	eventually(t, 3*time.Second, "view in Redis", func() bool { return redisHas(t, rs, inRedis) })
	hit := loadReq{number: inRedis, deadline: time.Now().Add(loadTimeout), done: make(chan loadResult, 1)}
	miss := loadReq{number: cold, deadline: time.Now().Add(loadTimeout), done: make(chan loadResult, 1)}
	go b.svc.loadBatch(context.Background(), []loadReq{miss, hit})
	select {
	case res := <-hit.done:
		if res.err != nil || res.e.rec.Verdict != Valid {
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
	Store
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
	w := newWorld(t, st, 1)
	ps := &panickyStore{Store: st}
	ps.panics.Store(true)
	a := newApp(t, ps, Deps{})
	n := w.certs[0].Number
	if _, err := a.svc.Lookup(context.Background(), n); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("lookup during the panic: %v", err)
	}
	ps.panics.Store(false)
	for range loaders + 1 {
		if e, err := a.svc.Lookup(context.Background(), n); err != nil || e.rec.Verdict != Valid {
			t.Fatalf("lookup after the panic: %v", err)
		}
	}
	if !strings.Contains(a.logText(), "panic while loading") {
		t.Error("the panic was not logged")
	}
}
