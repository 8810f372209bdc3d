package tlogtest

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"certd/issuer"
	"certd/issuer/keys"
	"certd/issuer/publog"
	"certd/issuer/store/postgres"
	"certd/issuer/store/postgres/pgtest"
	"certd/issuer/tlog"
	"certd/verify/internal/verifytest"
)

// TestStandbySequencerTakesOver: two instances share a PostgreSQL database
// and the log directory; one sequences, the other waits. When the holder's
// database session is cut (its lock goes with it), the holder notices and
// stops appending, and a sequencer holds the lock again; when the holder
// stops for good, the standby takes the lock, recovers and goes on. Every
// outbox row, committed before, during and after, is in the log exactly
// once, and every certificate's proof verifies.
func TestStandbySequencerTakesOver(t *testing.T) {
	ctx := t.Context()
	u := pgtest.URL(t)
	st, err := postgres.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	w := verifytest.NewWorld(t, st, 5)
	kek, err := keys.NewKEK(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	priv, key, err := publog.LogKey(ctx, st, kek, origin)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := publog.Policy(key, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "log")
	quiet := slog.New(slog.DiscardHandler)
	start := func() (*publog.Sequencer, context.CancelFunc, chan struct{}) {
		// Each instance has a store (a pool, its own sessions) of its own.
		own, err := postgres.Open(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		s := &publog.Sequencer{Store: own, Log: quiet, Poll: 50 * time.Millisecond, Open: func(ctx context.Context) (*tlog.Log, error) {
			return tlog.Open(ctx, tlog.Config{Dir: dir, Origin: origin, Key: priv, Policy: policy,
				CheckpointInterval: 100 * time.Millisecond, BatchMaxAge: 10 * time.Millisecond, Logger: quiet})
		}}
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = s.Run(cctx); _ = own.Close() }()
		t.Cleanup(func() { cancel(); <-done })
		return s, cancel, done
	}
	a, stopA, doneA := start()
	waitFor(t, "the first instance to sequence", func() bool { return a.Current() != nil })
	b, stopB, doneB := start()
	prover := &publog.Prover{Store: st, Reader: tlog.NewReader(dir)}
	settle := func(what string) {
		t.Helper()
		waitFor(t, what, func() bool {
			rs, err := st.LogRecords(ctx, issuer.LogFilter{})
			if err != nil {
				t.Fatal(err)
			}
			cp, _ := prover.Reader.Checkpoint()
			size, _ := checkpointSize(cp)
			for _, r := range rs {
				if !r.Indexed || r.Index >= size {
					return false
				}
			}
			return true
		})
	}
	settle("the first rows logged by the first instance")
	if b.Current() != nil {
		t.Fatal("both instances sequence at once")
	}

	// The holder's session is ended from outside, as a database failover or
	// a network cut would end it, while certificates keep being issued.
	admin, err := pgx.Connect(ctx, pgtest.BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	schema := strings.TrimPrefix(u[strings.Index(u, "search_path=")+len("search_path="):], "")
	if i := strings.IndexByte(schema, '&'); i >= 0 {
		schema = schema[:i]
	}
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l
		WHERE l.locktype = 'advisory' AND l.granted
		  AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended('certd.sequencer:' || $1, 0)`, schema).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("%d sessions held the sequencer lock of schema %s, want 1", killed, schema)
	}
	during := w.Issue(3, 100)
	// The old holder notices within its ping period and stops; one of the
	// two (whoever asks first) holds the lock again.
	waitFor(t, "a sequencer again after the session ended", func() bool { return a.Current() != nil || b.Current() != nil })
	settle("the rows committed while the session was cut")

	// Then the holder dies for good (its process stops and its session with
	// it): the standby takes over.
	holder, stop, done := a, stopA, doneA
	if b.Current() != nil {
		holder, stop, done = b, stopB, doneB
	}
	stop()
	<-done
	standby := b
	if holder == b {
		standby = a
	}
	if holder.Current() != nil {
		t.Fatal("a stopped sequencer still has its log open")
	}
	after := w.Issue(3, 200)
	waitFor(t, "the standby to take over", func() bool { return standby.Current() != nil })
	settle("every row logged after the handover")

	rs, err := st.LogRecords(ctx, issuer.LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for _, r := range rs {
		if seen[r.Index] {
			t.Fatalf("log index %d recorded for two rows", r.Index)
		}
		seen[r.Index] = true
	}
	cp, _ := prover.Reader.Checkpoint()
	if size, _ := checkpointSize(cp); size != uint64(len(rs)) {
		t.Fatalf("the log holds %d entries for %d outbox rows: an entry was appended twice or lost", size, len(rs))
	}
	for _, c := range append(append(append([]issuer.Certificate{}, w.Certs...), during...), after...) {
		p, err := prover.Proof(ctx, c.Number)
		if err != nil {
			t.Fatalf("%s: %v", c.Number, err)
		}
		if _, err := publog.VerifyRecord(publog.PublicPolicy(policy), p, c.Token); err != nil {
			t.Fatalf("%s: proof does not verify: %v", c.Number, err)
		}
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 60 s for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
