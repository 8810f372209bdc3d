package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/store/postgres"
	"certd/issuer/store/postgres/pgtest"
	"certd/issuer/store/storetest"
)

// TestReplicaRouting runs a real primary and streaming replica and shows:
// reads go to the replica; a read made after the audit log has shown a
// change always sees that change (where a plain read of the replica
// misses it); a paused replica leaves the rotation when it lags past the
// bound and reads go to the primary, with the right answers; a stopped
// replica is reported unreachable and comes back by itself.
func TestReplicaRouting(t *testing.T) {
	c := pgtest.NewCluster(t)
	ctx := context.Background()
	primary, err := postgres.Open(ctx, c.PrimaryURL)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	r, err := postgres.OpenRouted(ctx, primary, []string{c.ReplicaURL}, postgres.ReplicaOptions{MaxLag: 300 * time.Millisecond, PollEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	storetest.Seed(t, primary)
	nums := storetest.IssueN(t, primary, "b0", 0, 400)

	waitFor(t, 30*time.Second, "replica in rotation", func() bool { return r.Replicas()[0].InUse })
	var after int64
	tail := func() {
		evs, err := r.Audit(ctx, issuer.AuditFilter{AfterSeq: after})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 0 {
			after = evs[len(evs)-1].Seq
		}
	}
	tail()

	// Read-after-change, 200 times: revoke on the primary, let the tail
	// see it, read through the router. A plain read of the replica made at
	// the same moment shows how often the replica had not replayed it yet.
	direct, err := postgres.OpenReplicaForTest(ctx, c.ReplicaURL)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	readsBefore := r.Replicas()[0].Reads
	var missedDirect int
	for i := range 200 {
		n := nums[i]
		storetest.RevokeNow(t, primary, n)
		if d, err := direct.Certificate(ctx, n); err == nil && d.Status != issuer.Revoked {
			missedDirect++
		}
		tail()
		got, err := r.Certificate(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != issuer.Revoked {
			t.Fatalf("read %d after the tail saw the revocation: %s", i, got.Status)
		}
	}
	st := r.Replicas()[0]
	t.Logf("replica answered %d of 200 reads after a change; a plain replica read missed the change %d times of 200", st.Reads-readsBefore, missedDirect)
	if st.Reads-readsBefore == 0 {
		t.Error("no read went to the replica")
	}

	// Paused replay: the replica falls behind, leaves the rotation, and the
	// answers stay right.
	c.PauseReplay()
	for i := 200; i < 260; i++ {
		storetest.RevokeNow(t, primary, nums[i])
		tail()
		got, err := r.Certificate(ctx, nums[i])
		if err != nil || got.Status != issuer.Revoked {
			t.Fatalf("paused replica: %s %v", got.Status, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitFor(t, 30*time.Second, "lagging replica out of rotation", func() bool {
		s := r.Replicas()[0]
		return !s.InUse && strings.Contains(s.Err, "lag")
	})
	if ready := r.Readiness(ctx); !strings.Contains(ready["replica_0"], "out of rotation") {
		t.Errorf("readiness while lagging: %v", ready)
	}
	c.ResumeReplay()
	waitFor(t, 30*time.Second, "replica back after replay resumed", func() bool { return r.Replicas()[0].InUse })

	// Stopped replica: reads go on from the primary; it comes back.
	c.StopReplica()
	waitFor(t, 30*time.Second, "stopped replica reported", func() bool { return !r.Replicas()[0].Up })
	for i := 260; i < 280; i++ {
		storetest.RevokeNow(t, primary, nums[i])
		tail()
		got, err := r.Certificate(ctx, nums[i])
		if err != nil || got.Status != issuer.Revoked {
			t.Fatalf("replica down: %s %v", got.Status, err)
		}
	}
	if ready := r.Readiness(ctx); !strings.Contains(ready["replica_0"], "unreachable") {
		t.Errorf("readiness while down: %v", ready)
	}
	c.StartReplica()
	waitFor(t, 60*time.Second, "restarted replica back in rotation", func() bool { return r.Replicas()[0].InUse })
	before := r.Replicas()[0].Reads
	if _, err := r.Certificates(ctx, issuer.CertificateFilter{Numbers: nums[300:310]}); err != nil {
		t.Fatal(err)
	}
	if r.Replicas()[0].Reads == before {
		t.Error("the restarted replica answers nothing")
	}
}

// TestReplicaURLs: a bad URL is refused at start; a replica that is down at
// start is not an error; a primary given as a replica never joins.
func TestReplicaURLs(t *testing.T) {
	ctx := context.Background()
	primary := pgtest.Open(t)
	if _, err := postgres.OpenRouted(ctx, primary, []string{"postgres://[::1"}, postgres.ReplicaOptions{}); !issuer.Is(err, issuer.ErrInvalid) {
		t.Errorf("bad URL: %v", err)
	}
	down := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?connect_timeout=1", 1)
	r, err := postgres.OpenRouted(ctx, primary, []string{down, pgtest.BaseURL()}, postgres.ReplicaOptions{PollEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("down replica at start: %v", err)
	}
	defer r.Close()
	time.Sleep(100 * time.Millisecond)
	st := r.Replicas()
	if st[0].Up || st[0].InUse || st[1].InUse || !strings.Contains(st[1].Err, "not a standby") {
		t.Errorf("states: %+v", st)
	}
	storetest.Seed(t, primary)
	n := storetest.IssueN(t, primary, "b1", 0, 1)[0]
	if c, err := r.Certificate(ctx, n); err != nil || c.Number != n {
		t.Errorf("read through the primary: %v", err)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
