package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"

	"certd/issuer"
)

// LogOutboxStore is a store with the public log's outbox.
type LogOutboxStore interface {
	issuer.Store
	issuer.LogStore
}

// RunLogOutbox runs the outbox part of the conformance suite (issue 11):
// entries are written with the change that makes them and never without it,
// indexes are recorded once, the log key is stored once, and only one
// sequencer holds the lock.
func RunLogOutbox(t *testing.T, open func(t *testing.T) LogOutboxStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, LogOutboxStore)
	}{
		{"WrittenWithTheChange", testLogWrittenWithChange},
		{"RolledBackWithTheChange", testLogRolledBack},
		{"Indexes", testLogIndexes},
		{"Key", testLogKey},
		{"OneSequencer", testLogOneSequencer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// logItem is a fake entry: the store treats entries as opaque bytes.
func logItem(kind, inst, subject string) issuer.LogItem {
	return issuer.LogItem{Kind: kind, InstitutionID: inst, Subject: subject, Salt: bytesOf(sha256.Sum256([]byte(subject))[0], 32),
		Entry: []byte("entry " + kind + " " + inst + " " + subject + "\n")}
}

func logSeal(c *issuer.Certificate) (issuer.AuditEvent, error) {
	ev, err := seal(c)
	ev.Log = []issuer.LogItem{logItem("issued", c.InstitutionID, c.Number)}
	return ev, err
}

func logRecords(t testing.TB, s issuer.LogStore, f issuer.LogFilter) []issuer.LogRecord {
	t.Helper()
	rs, err := s.LogRecords(context.Background(), f)
	must(t, err)
	return rs
}

func testLogWrittenWithChange(t *testing.T, s LogOutboxStore) {
	ctx := t.Context()
	in := institution("alpha", prefixA, 1, t0)
	ev := event("institution.register", "alpha", "alpha")
	ev.Log = []issuer.LogItem{logItem("registration", "alpha", "alpha@1"), logItem("key-added", "alpha", "alpha-k1")}
	must(t, s.PutInstitution(ctx, in, []issuer.SigningKey{signingKey("alpha", "alpha-k1", 1, t0)}, ev))
	// Enough certificates for the PostgreSQL backend's COPY path too.
	var certs []issuer.Certificate
	for i := range 10 {
		certs = append(certs, cert("alpha", i, weld, 3, june30))
	}
	must(t, s.IssueBatch(ctx, batch("b1", "alpha", "fp1"), prefixA, certs, logSeal, nil))
	one := []issuer.Certificate{cert("alpha", 50, weld, 3, june30)}
	must(t, s.IssueBatch(ctx, batch("b2", "alpha", "fp2"), prefixA, one, logSeal, nil))
	rev := event("certificate.revoke", "alpha", certs[0].Number)
	rev.Log = []issuer.LogItem{logItem("revoked", "alpha", certs[0].Number)}
	must(t, s.Revoke(ctx, certs[0].Number, issuer.Revocation{Reason: issuer.ReasonError, At: t0, By: "x"}, rev))
	repl, err := s.Reissue(ctx, certs[1].Number, batch("r1", "alpha", ""), prefixA, cert("alpha", 1, weld, 3, june30), func(c *issuer.Certificate) (issuer.AuditEvent, error) {
		ev, err := seal(c)
		ev.Log = []issuer.LogItem{logItem("reissued", c.InstitutionID, c.Number)}
		return ev, err
	}, nil)
	must(t, err)
	other := event("test.other", "beta", "x")
	other.Log = []issuer.LogItem{logItem("registration", "beta", "beta@1")}
	must(t, s.AppendAudit(ctx, other))

	all := logRecords(t, s, issuer.LogFilter{})
	if len(all) != 2+10+1+1+1+1 {
		t.Fatalf("outbox has %d rows, want 16", len(all))
	}
	for i, r := range all {
		if r.Indexed || (i > 0 && r.ID <= all[i-1].ID) || r.CreatedAt.IsZero() {
			t.Fatalf("row %d: %+v (want pending, increasing IDs, a time)", i, r)
		}
	}
	equal(t, "first row", all[0].LogItem, logItem("registration", "alpha", "alpha@1"))
	equal(t, "first row's time", all[0].CreatedAt, t0)
	bySubject := logRecords(t, s, issuer.LogFilter{Subject: certs[0].Number})
	if len(bySubject) != 2 || bySubject[0].Kind != "issued" || bySubject[1].Kind != "revoked" {
		t.Fatalf("rows of %s: %+v", certs[0].Number, bySubject)
	}
	if rs := logRecords(t, s, issuer.LogFilter{Subject: repl.Number, Kind: "reissued"}); len(rs) != 1 {
		t.Fatalf("reissue rows: %+v", rs)
	}
	if rs := logRecords(t, s, issuer.LogFilter{InstitutionID: "beta"}); len(rs) != 1 || rs[0].Subject != "beta@1" {
		t.Fatalf("beta's rows: %+v", rs)
	}
	if rs := logRecords(t, s, issuer.LogFilter{AfterID: all[13].ID, Limit: 1}); len(rs) != 1 || rs[0].ID != all[14].ID {
		t.Fatalf("paging: %+v", rs)
	}
}

func testLogRolledBack(t *testing.T, s LogOutboxStore) {
	ctx := t.Context()
	setup(t, s)
	fail, _, _ := failingSeal(3)
	certs := []issuer.Certificate{cert("alpha", 1, weld, 3, june30), cert("alpha", 2, weld, 3, june30), cert("alpha", 3, weld, 3, june30)}
	err := s.IssueBatch(ctx, batch("b1", "alpha", "fp1"), prefixA, certs, func(c *issuer.Certificate) (issuer.AuditEvent, error) {
		ev, err := fail(c)
		ev.Log = []issuer.LogItem{logItem("issued", c.InstitutionID, c.Number)}
		return ev, err
	}, nil)
	if err == nil {
		t.Fatal("the failing seal did not fail the batch")
	}
	n := issue(t, s, batch("b2", "alpha", "fp2"), prefixA, cert("alpha", 9, weld, 3, june30))[0]
	rev := event("certificate.revoke", "alpha", n)
	rev.Log = []issuer.LogItem{logItem("revoked", "alpha", n)}
	must(t, s.Revoke(ctx, n, issuer.Revocation{Reason: issuer.ReasonError, At: t0, By: "x"}, rev))
	// The second revocation fails: its entry must not be written.
	rev2 := rev
	rev2.Log = []issuer.LogItem{logItem("revoked", "alpha", n+"-again")}
	wantErr(t, s.Revoke(ctx, n, issuer.Revocation{Reason: issuer.ReasonError, At: t0, By: "x"}, rev2), issuer.ErrConflict, "not_valid")
	// A stale version: its registration entry must not be written.
	ev := event("institution.update", "alpha", "alpha")
	ev.Log = []issuer.LogItem{logItem("registration", "alpha", "alpha@1-stale")}
	wantErr(t, s.PutInstitution(ctx, institution("alpha", prefixA, 1, t0), nil, ev), issuer.ErrConflict, "")
	all := logRecords(t, s, issuer.LogFilter{})
	if len(all) != 1 || all[0].Subject != n || all[0].Kind != "revoked" {
		t.Fatalf("outbox after failed changes: %+v, want only the one revocation", all)
	}
}

func testLogIndexes(t *testing.T, s LogOutboxStore) {
	ctx := t.Context()
	if m, err := s.MaxLogIndex(ctx); err != nil || m != -1 {
		t.Fatalf("MaxLogIndex of an empty outbox = %d, %v; want -1", m, err)
	}
	for i := range 4 {
		ev := event("test.log", "alpha", fmt.Sprint(i))
		ev.Log = []issuer.LogItem{logItem("registration", "alpha", fmt.Sprint("alpha@", i))}
		must(t, s.AppendAudit(ctx, ev))
	}
	rs := logRecords(t, s, issuer.LogFilter{})
	must(t, s.SetLogIndexes(ctx, map[int64]uint64{rs[0].ID: 0, rs[1].ID: 1}))
	// Recording the same index again is harmless (a retried transaction).
	must(t, s.SetLogIndexes(ctx, map[int64]uint64{rs[1].ID: 1}))
	// Another index for an indexed row, or a taken index: nothing recorded.
	wantErr(t, s.SetLogIndexes(ctx, map[int64]uint64{rs[2].ID: 2, rs[1].ID: 5}), issuer.ErrConflict, "log_index_conflict")
	wantErr(t, s.SetLogIndexes(ctx, map[int64]uint64{rs[3].ID: 3, rs[2].ID: 0}), issuer.ErrConflict, "log_index_conflict")
	pending := logRecords(t, s, issuer.LogFilter{Pending: true})
	if len(pending) != 2 || pending[0].ID != rs[2].ID || pending[1].ID != rs[3].ID {
		t.Fatalf("pending after refused updates: %+v", pending)
	}
	if m, err := s.MaxLogIndex(ctx); err != nil || m != 1 {
		t.Fatalf("MaxLogIndex = %d, %v; want 1", m, err)
	}
	got := logRecords(t, s, issuer.LogFilter{Subject: "alpha@1"})
	if len(got) != 1 || !got[0].Indexed || got[0].Index != 1 {
		t.Fatalf("row alpha@1: %+v", got)
	}
}

func testLogKey(t *testing.T, s LogOutboxStore) {
	ctx := t.Context()
	_, err := s.LogKey(ctx)
	wantErr(t, err, issuer.ErrNotFound, "")
	k := issuer.LogKey{Origin: "certd.example/log", PublicKey: key(3), Sealed: bytesOf(5, 80), CreatedAt: t0}
	must(t, s.CreateLogKey(ctx, k))
	wantErr(t, s.CreateLogKey(ctx, issuer.LogKey{Origin: "other/log", PublicKey: key(4), Sealed: bytesOf(6, 80), CreatedAt: t0}), issuer.ErrConflict, "log_key_exists")
	got, err := s.LogKey(ctx)
	must(t, err)
	equal(t, "log key", got, k)
}

// testLogOneSequencer: a backend that can be shared by several instances
// grants the lock to one at a time; a lock released can be taken again.
func testLogOneSequencer(t *testing.T, s LogOutboxStore) {
	ctx := t.Context()
	lost, release, err := s.LockSequencer(ctx)
	must(t, err)
	select {
	case <-lost:
		t.Fatal("the lock is lost at once")
	default:
	}
	const racers = 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for range racers {
		wg.Go(func() {
			_, rel, err := s.LockSequencer(ctx)
			if err == nil {
				mu.Lock()
				granted++
				mu.Unlock()
				rel()
				return
			}
			if !issuer.Is(err, issuer.ErrConflict) {
				t.Errorf("second LockSequencer: %v", err)
			}
		})
	}
	wg.Wait()
	if shared := granted == racers; !shared && granted != 0 {
		t.Fatalf("%d of %d racers got the lock while it was held", granted, racers)
	}
	release()
	release() // idempotent
	_, rel, err := s.LockSequencer(ctx)
	must(t, err)
	rel()
}
