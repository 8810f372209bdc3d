package tlogtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/publog"
	"certd/issuer/store/postgres/pgtest"
	"certd/issuer/tlog"
)

// TestOneSequencerOnPostgres: two serve instances on one PostgreSQL
// database each run a sequencer (here with a log directory of their own, to
// see who appends); only the holder of the advisory lock appends, every
// row exactly once.
func TestOneSequencerOnPostgres(t *testing.T) {
	st := pgtest.Open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")}
	done := make(chan struct{}, 2)
	for _, dir := range dirs {
		s := &publog.Sequencer{Store: st, Poll: 50 * time.Millisecond, Open: func(ctx context.Context) (*tlog.Log, error) {
			return tlog.Open(ctx, tlog.Config{Dir: dir, Origin: "pg.test/log", Key: key,
				CheckpointInterval: 100 * time.Millisecond, BatchMaxAge: 10 * time.Millisecond})
		}}
		go func() { _ = s.Run(ctx); done <- struct{}{} }()
	}
	const n = 60
	for i := range n {
		rec := sha256.Sum256(fmt.Append(nil, "record ", i))
		kid := sha256.Sum256([]byte("authority"))
		e := tlog.Entry{Kind: tlog.Registration, Institution: "alpha", KeyID: base64.RawURLEncoding.EncodeToString(kid[:]), Day: "2026-12-03", Record: rec}
		b, _ := e.Encode()
		ev := issuer.AuditEvent{Actor: "test", Action: "test.rows", Subject: "x",
			Log: []issuer.LogItem{{Kind: string(e.Kind), InstitutionID: "alpha", Subject: fmt.Sprint("alpha@", i), Entry: b}}}
		if err := st.AppendAudit(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs, err := st.LogRecords(ctx, issuer.LogFilter{Pending: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows still pending", len(rs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m, err := st.MaxLogIndex(ctx); err != nil || m != n-1 {
		t.Fatalf("max index %d, %v; want %d", m, err, n-1)
	}
	cancel()
	<-done
	<-done
	// Exactly one directory holds the log, with every row once.
	holders := 0
	for _, dir := range dirs {
		cp, err := tlog.NewReader(dir).Checkpoint()
		if err != nil {
			continue
		}
		size, _ := checkpointSize(cp)
		if size > 0 {
			holders++
			if size != n {
				t.Errorf("%s: %d entries, want %d", dir, size, n)
			}
		}
	}
	if holders != 1 {
		t.Fatalf("%d instances appended; want exactly one", holders)
	}
}
