package cache

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"certd/issuer"
	"certd/verify"
	"certd/verify/internal/verifytest"
)

// TestTouched: the numbers an audit event changed are its subject and, for
// a reissue, the number it supersedes, each at the newest sequence seen.
func TestTouched(t *testing.T) {
	tests := []struct {
		name string
		evs  []issuer.AuditEvent
		want map[string]int64
	}{
		{"revocation", []issuer.AuditEvent{{Seq: 7, Action: "certificate.revoke", Subject: "A"}}, map[string]int64{"A": 7}},
		{"reissue", []issuer.AuditEvent{{Seq: 9, Action: "certificate.reissue", Subject: "B", Detail: `{"supersedes":"A","reason":"姓名有误"}`}},
			map[string]int64{"A": 9, "B": 9}},
		{"reissue with an unreadable detail", []issuer.AuditEvent{{Seq: 9, Action: "certificate.reissue", Subject: "B", Detail: `{`}}, map[string]int64{"B": 9}},
		{"a late event keeps the newer sequence", []issuer.AuditEvent{{Seq: 12, Action: "certificate.revoke", Subject: "A"}, {Seq: 10, Action: "certificate.issue", Subject: "A"}},
			map[string]int64{"A": 12}},
	}
	for _, tt := range tests {
		got := map[string]int64{}
		for _, ev := range tt.evs {
			touched(got, ev)
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestLastSeq: the newest audit sequence is found without reading the log.
func TestLastSeq(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 3)
	w.Issue(40, 3)
	a := start(t, st, "", Options{})
	evs, err := st.Audit(context.Background(), issuer.AuditFilter{Limit: 100_000})
	if err != nil || len(evs) == 0 {
		t.Fatal(err)
	}
	newest := int64(0)
	for _, ev := range evs {
		newest = max(newest, ev.Seq)
	}
	got, err := a.lastSeq(context.Background())
	if err != nil || got != newest {
		t.Errorf("lastSeq = %d, %v; want %d", got, err, newest)
	}
	empty := start(t, openSQLite(t), "", Options{})
	if got, err := empty.lastSeq(context.Background()); err != nil || got != 0 {
		t.Errorf("lastSeq of an empty log = %d, %v", got, err)
	}
}

// TestChangesInvalidate: every kind of change made through the issuer,
// while the service runs, is answered within the second: a revocation, a
// reissue (the old number too), a new certificate on a number cached as
// unknown, and a suspended institution.
func TestChangesInvalidate(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 3)
	a := start(t, st, "", Options{})
	revoked, reissued := w.Certs[0].Number, w.Certs[1].Number
	next := fmt.Sprintf("%s%06d", revoked[:16], 4) // the number the next certificate will get
	for _, n := range []string{revoked, reissued, next, w.Certs[2].Number} {
		a.lookup(t, n)
	}
	if a.lookup(t, next).Found {
		t.Fatal("the next number is known before it is issued")
	}
	dir := a.Directory()
	within := func(what string, cond func() bool) { verifytest.Eventually(t, time.Second, what, cond) }

	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, revoked, issuer.ReasonMisconduct, "考核舞弊"); err != nil {
		t.Fatal(err)
	}
	within("revocation", func() bool {
		rec := a.lookup(t, revoked)
		return rec.Verdict == verify.Revoked && rec.ReasonZh != ""
	})

	if got := w.Issue(1, 100)[0].Number; got != next {
		t.Fatalf("issued %s, expected %s", got, next)
	}
	within("new certificate on a number cached as unknown", func() bool { return a.lookup(t, next).Verdict == verify.Valid })

	nc, err := w.Iss.Reissue(w.Ctx, verifytest.Authority, reissued, issuer.Correction{Reason: "姓名有误", Name: "张三"})
	if err != nil {
		t.Fatal(err)
	}
	within("reissue", func() bool {
		old, repl := a.lookup(t, reissued), a.lookup(t, nc.Number)
		return old.Verdict == verify.Superseded && old.SupersededBy == nc.Number && repl.Verdict == verify.Valid && repl.Supersedes == reissued
	})

	if _, err := w.Iss.SetStatus(w.Ctx, verifytest.Authority, "jlvtc", issuer.Suspended, "test"); err != nil {
		t.Fatal(err)
	}
	within("suspension", func() bool {
		d := a.Directory()
		in, ok := d.Institution("jlvtc")
		return d != dir && ok && in.Status == issuer.Suspended && a.lookup(t, w.Certs[2].Number).Institution.Current == "suspended"
	})
	if d := a.Directory(); len(d.Versions("jlvtc")) < 2 || d.OccupationName("4-04-05-05") == "4-04-05-05" || d.OccupationName("9-99") != "9-99" {
		t.Errorf("directory after the suspension: %d versions, occupation %q", len(d.Versions("jlvtc")), d.OccupationName("4-04-05-05"))
	}
	if n := testutil.ToFloat64(a.m.invalidations); n < 4 {
		t.Errorf("%v invalidations counted, want at least 4", n)
	}
}

// holdingStore hides the audit events of some certificates, as if the
// transactions that wrote them had not committed yet.
type holdingStore struct {
	verify.Store
	mu   sync.Mutex
	held map[string]bool
}

func (h *holdingStore) hold(number string, on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held[number] = on
}

func (h *holdingStore) Audit(ctx context.Context, f issuer.AuditFilter) ([]issuer.AuditEvent, error) {
	evs, err := h.Store.Audit(ctx, f)
	h.mu.Lock()
	defer h.mu.Unlock()
	out := evs[:0]
	for _, ev := range evs {
		if !h.held[ev.Subject] {
			out = append(out, ev)
		}
	}
	return out, err
}

// TestLateCommitIsNotMissed: an audit event that commits after a later
// one (its transaction took longer) is below the cursor when it appears;
// it is still applied.
func TestLateCommitIsNotMissed(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 2)
	hs := &holdingStore{Store: st, held: map[string]bool{}}
	a := start(t, hs, "", Options{})
	late, early := w.Certs[0].Number, w.Certs[1].Number
	a.lookup(t, late)
	a.lookup(t, early)
	hs.hold(late, true)
	for _, n := range []string{late, early} {
		if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, n, issuer.ReasonError, ""); err != nil {
			t.Fatal(err)
		}
	}
	verifytest.Eventually(t, time.Second, "the later event applied", func() bool { return a.lookup(t, early).Verdict == verify.Revoked })
	if rec := a.lookup(t, late); rec.Verdict != verify.Valid {
		t.Fatalf("a change whose event is not committed was seen: %s", rec.Verdict)
	}
	hs.hold(late, false) // the slow transaction commits
	verifytest.Eventually(t, time.Second, "the late event applied", func() bool { return a.lookup(t, late).Verdict == verify.Revoked })
}

// TestStaleViewsWithheld: while the audit log cannot be read (the
// connection frozen), an instance stops answering "valid" and "not found"
// once its last successful read started more than Options.Freshness ago,
// says "stale" with the time of what it knew, is not ready, and keeps
// trying on reads each bounded well under the freshness bound. Revoked
// views stand. Once the log can be read again, it answers as before.
func TestStaleViewsWithheld(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 2)
	revoked, valid, unknown := w.Certs[1].Number, w.Certs[0].Number, "Y000022000001263999999"
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, revoked, issuer.ReasonMisconduct, ""); err != nil {
		t.Fatal(err)
	}
	bs := &verifytest.BrokenStore{Store: st}
	reg := prometheus.NewRegistry()
	a := start(t, bs, "", Options{Metrics: reg})
	want := map[string]verify.Verdict{valid: verify.Valid, unknown: verify.NotFound, revoked: verify.Revoked}
	for n, v := range want {
		if got := a.lookup(t, n).Verdict; got != v {
			t.Fatalf("%s before the freeze: %s, want %s", n, got, v)
		}
	}
	if _, ok := a.Ready(context.Background()); !ok {
		t.Fatal("not ready before the freeze")
	}
	bs.AuditFrozen.Store(true)
	frozen := time.Now()
	// Everything the instance knows was read before frozen: past the
	// bound, nothing may say valid. (A wait, not a measure of speed.)
	time.Sleep(time.Until(frozen.Add(DefaultFreshness + 10*time.Millisecond)))
	if st0, ok := a.Ready(context.Background()); ok || !strings.Contains(st0["changes"], "stale") || st0["store"] != "ok" {
		t.Errorf("readiness while stale: %v %v", ok, st0)
	}
	if age := gauge(t, reg, "certd_verify_changes_age_seconds"); age <= DefaultFreshness.Seconds() {
		t.Errorf("changes age %v s while stale", age)
	}
	for n, v := range want {
		rec := a.lookup(t, n)
		switch {
		case v == verify.Revoked && rec.Verdict != verify.Revoked:
			t.Errorf("a revoked view became %s", rec.Verdict)
		case v != verify.Revoked && rec.Verdict != verify.Stale:
			t.Errorf("%s while stale: %s, want stale", n, rec.Verdict)
		case v != verify.Revoked && (time.Unix(rec.BuiltAt, 0).After(frozen) || !a.AsOf().Before(frozen)):
			t.Errorf("%s: stale answer as of %v, instance as of %v; the audit log froze at %v", n, time.Unix(rec.BuiltAt, 0), a.AsOf(), frozen)
		}
	}
	// The same stale form comes back while nothing changes: its rendered
	// forms are kept.
	e1, _ := a.Lookup(context.Background(), valid)
	e2, _ := a.Lookup(context.Background(), valid)
	if e1 != e2 {
		t.Error("the stale form is made again on every lookup")
	}
	verifytest.Eventually(t, 10*time.Second, "the tail tries again", func() bool { return bs.FrozenReads.Load() >= 2 })
	if wait := time.Duration(bs.FrozenWait.Load()); wait < 0 || wait > DefaultFreshness/2 {
		t.Errorf("an audit read was ready to wait %v on a frozen connection; want a bound well under %v", wait, DefaultFreshness)
	}
	bs.AuditFrozen.Store(false)
	verifytest.Eventually(t, 10*time.Second, "ready again", func() bool {
		_, ok := a.Ready(context.Background())
		return ok
	})
	for n, v := range want {
		if got := a.lookup(t, n).Verdict; got != v {
			t.Errorf("%s after the freeze: %s, want %s", n, got, v)
		}
	}
}

// TestFreshnessOptions: a poll interval or timeout that could never make
// the instance fresh is refused at start.
func TestFreshnessOptions(t *testing.T) {
	st := openSQLite(t)
	for _, o := range []Options{{Poll: time.Second}, {Poll: 100 * time.Millisecond, Freshness: 100 * time.Millisecond}, {PollTimeout: 2 * time.Second}} {
		o.Store = st
		if s, err := New(context.Background(), o); err == nil {
			s.Close()
			t.Errorf("options %+v accepted", o)
		}
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
