// Package verifytest is what the tests of public verification stand on: an
// issuing side on a real store (an authority, one college, certificates
// issued through issuer.Service as a college issues them), wrappers of the
// read interface that count or break reads, the shared test Redis, and a
// few helpers. The tests open the stores themselves; this package never
// names a store backend, so public verification reaches the store only
// through verify.Store, in its tests too.
package verifytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/ident"
	"certd/issuer/keys"
	"certd/verify"
)

// Authority is the actor the fixtures issue, revoke and register as.
var Authority = issuer.Actor{Name: "test:authority", Authority: true}

// Open opens a store in a directory of the test's own with open (for
// example sqlite.Open) and closes it when the test ends.
func Open[S issuer.Store](t testing.TB, open func(ctx context.Context, path string) (S, error)) S {
	t.Helper()
	st, err := open(context.Background(), filepath.Join(t.TempDir(), "certd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// Store is what a test's store is: the issuing side's and the public
// side's, as both backends are.
type Store interface {
	issuer.Store
	verify.Store
}

// World is an issuing side on a real store: the authority, the college
// "jlvtc" (scope 4-04-05-05 at levels 5 to 3, prefix Y000022000001) and the
// certificates issued so far.
type World struct {
	T     testing.TB
	Ctx   context.Context
	Store Store
	Iss   *issuer.Service
	Certs []issuer.Certificate // as stored (with verification codes and ID numbers)
}

// Names are the holders' names, in turn: a compound surname, a Uyghur name
// with a middle dot, a common name, a rare character, a Latin name.
var Names = []string{"欧阳娜娜", "阿卜杜热合曼·买买提", "张三丰", "龘", "John Smith"}

// NewWorld sets up the authority and the college on st and issues n
// certificates.
func NewWorld(t testing.TB, st Store, n int) *World {
	t.Helper()
	ctx := context.Background()
	kek, err := keys.NewKEK(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	iss := issuer.New(st, kek)
	iss.Log = slog.New(slog.DiscardHandler)
	w := &World{T: t, Ctx: ctx, Store: st, Iss: iss}
	if _, err := w.Iss.Init(ctx, Authority, "吉林省人力资源和社会保障厅"); err != nil {
		t.Fatal(err)
	}
	_, err = w.Iss.AddInstitution(ctx, Authority, issuer.InstitutionSpec{
		ID: "jlvtc", Name: "吉林测试职业技术学院", USCC: "12220000MB0123457W", Prefix: "Y000022000001",
		FilingNo: "吉人社认备〔2026〕007号", ValidFrom: "2026-01-01", City: "长春市", Kind: "高职",
		Scope: []issuer.ScopeSpec{{Occupation: "4-04-05-05", Levels: []string{"5", "4", "3"}}},
		Fees:  []issuer.FeeSpec{{Occupation: "4-04-05-05", Level: "3", Amount: "0", Basis: "本校学生免费"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		w.Issue(n, 0)
	}
	return w
}

// Issue issues n certificates, to persons start to start+n-1, as one
// roster, and adds them to Certs.
func (w *World) Issue(n, start int) []issuer.Certificate {
	w.T.Helper()
	var b strings.Builder
	b.WriteString("姓名,证件类型,证件号码,职业编码,工种,等级,考生类别,学号,专业,考核日期\n")
	day := issuer.Day(time.Now()).AddDate(0, 0, -3).Format(issuer.DateLayout)
	for i := start; i < start+n; i++ {
		id := ident.CompleteResidentID(fmt.Sprintf("2201022003%02d%02d%03d", 1+i%12, 1+i%28, i%1000))
		fmt.Fprintf(&b, "%s,居民身份证,%s,4-04-05-05,,三级,毕业年度学生,S%05d,人工智能技术应用,%s\n", Names[i%len(Names)], id, i, day)
	}
	rep, err := w.Iss.Issue(w.Ctx, Authority, issuer.IssueRequest{InstitutionID: "jlvtc", Roster: []byte(b.String()), Filename: fmt.Sprintf("r%d.csv", start)})
	if err != nil {
		w.T.Fatal(err)
	}
	if len(rep.Problems) > 0 {
		w.T.Fatalf("roster problems: %+v", rep.Problems)
	}
	var out []issuer.Certificate
	for _, c := range rep.Issued {
		full, err := w.Store.Certificate(w.Ctx, c.Number)
		if err != nil {
			w.T.Fatal(err)
		}
		out = append(out, full)
	}
	w.Certs = append(w.Certs, out...)
	return out
}

// CountingStore counts the certificate reads of a real store, to see what
// the cache saves: Reads counts numbers read, Queries the calls that read
// them.
type CountingStore struct {
	verify.Store
	Reads, Queries atomic.Int64
	// Gate, when set, holds every batch read until it is closed.
	Gate chan struct{}
}

func (c *CountingStore) Certificate(ctx context.Context, n string) (issuer.Certificate, error) {
	c.Reads.Add(1)
	c.Queries.Add(1)
	return c.Store.Certificate(ctx, n)
}

func (c *CountingStore) Certificates(ctx context.Context, f issuer.CertificateFilter) ([]issuer.Certificate, error) {
	if len(f.Numbers) > 0 {
		c.Reads.Add(int64(len(f.Numbers)))
		c.Queries.Add(1)
		if c.Gate != nil {
			select {
			case <-c.Gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	return c.Store.Certificates(ctx, f)
}

// BrokenStore is a real store whose certificate reads fail while Broken is
// set, as when the database goes away after the service started. While
// AuditFrozen is set, its audit reads hang until their context ends, as on
// a frozen connection; FrozenReads counts them and FrozenWait keeps the
// longest any of them was prepared to wait (its context's deadline; -1:
// none).
type BrokenStore struct {
	verify.Store
	Broken atomic.Bool
	// Err is what a broken read fails with; nil: "connection refused".
	Err         error
	AuditFrozen atomic.Bool
	FrozenReads atomic.Int64
	FrozenWait  atomic.Int64 // nanoseconds
}

func (b *BrokenStore) Audit(ctx context.Context, f issuer.AuditFilter) ([]issuer.AuditEvent, error) {
	if !b.AuditFrozen.Load() {
		return b.Store.Audit(ctx, f)
	}
	b.FrozenReads.Add(1)
	wait := int64(-1)
	if d, ok := ctx.Deadline(); ok {
		wait = int64(time.Until(d))
	}
	for {
		old := b.FrozenWait.Load()
		if old < 0 || (wait >= 0 && wait <= old) || b.FrozenWait.CompareAndSwap(old, wait) {
			break
		}
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (b *BrokenStore) Certificates(ctx context.Context, f issuer.CertificateFilter) ([]issuer.Certificate, error) {
	if b.Broken.Load() && len(f.Numbers) > 0 {
		if b.Err != nil {
			return nil, b.Err
		}
		return nil, errors.New("connection refused")
	}
	return b.Store.Certificates(ctx, f)
}

// RedisURL is the shared test Redis (CERTD_TEST_REDIS_URL, by default
// 127.0.0.1:6379, database 0); a test keeps to a key prefix of its own
// (RandHex) and never flushes it. Without it the test skips, or fails when
// CI=true.
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("CERTD_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	// #nosec G704 -- a test dials the Redis its developer configured
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(strings.TrimSuffix(u, "/0"), "redis://"), time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis unreachable at %s (%v); CI requires it", u, err)
		}
		t.Skipf("Redis unreachable at %s: %v", u, err)
	}
	_ = c.Close()
	return u
}

// RandHex is 12 random hex digits, for key prefixes and file names.
func RandHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Eventually polls cond until it holds or d passes, and returns how long
// it took.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// FakePDF is a minimal PDF carrying a record the way certd's renderer
// attaches it (uncompressed here), with extra bytes before its end.
func FakePDF(token, extra string) []byte {
	return []byte("%PDF-1.4\n1 0 obj << /Type /EmbeddedFile >> stream\n" + token + "\nendstream endobj\n" + extra + "%%EOF\n")
}

// Log collects log lines from any number of goroutines, for a test to read
// what was logged.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is everything logged so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
