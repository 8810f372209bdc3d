package publog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/store/sqlite"
	"certd/issuer/tlog"
)

// The crash test runs a sequencer in a child process (this test binary,
// re-executed) and kills it with SIGKILL at the named point.
const crashEnv = "CERTD_PUBLOG_CRASH"

func TestMain(m *testing.M) {
	if point := os.Getenv(crashEnv); point != "" {
		os.Exit(crashChild(point, os.Getenv("CERTD_PUBLOG_DIR")))
	}
	os.Exit(m.Run())
}

var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, 32))

const testOrigin = "crash.test/log"

func openLog(ctx context.Context, dir string) (*tlog.Log, error) {
	return tlog.Open(ctx, tlog.Config{Dir: filepath.Join(dir, "log"), Origin: testOrigin, Key: testKey,
		CheckpointInterval: 100 * time.Millisecond, BatchMaxAge: 10 * time.Millisecond})
}

func crashChild(point, dir string) int {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "certd.db"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	l, err := openLog(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	kill := func() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL); select {} }
	switch point {
	case "before-append":
		testHookBeforeAppend = kill
	case "after-append":
		testHookAfterAppend = kill
	}
	if err := Recover(ctx, st, l, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	_, err = Drain(ctx, st, l, 16, nil)
	fmt.Fprintln(os.Stderr, "not killed:", err)
	return 3
}

// addRows commits n outbox rows (registration entries of distinct records).
func addRows(t *testing.T, st *sqlite.Store, n, from int) {
	t.Helper()
	var items []issuer.LogItem
	for i := from; i < from+n; i++ {
		rec := sha256.Sum256(fmt.Append(nil, "record ", i))
		kid := sha256.Sum256(fmt.Append(nil, "authority"))
		e := tlog.Entry{Kind: tlog.Registration, Institution: "alpha", KeyID: base64.RawURLEncoding.EncodeToString(kid[:]), Day: "2026-12-03", Record: rec}
		b, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, issuer.LogItem{Kind: string(e.Kind), InstitutionID: "alpha", Subject: fmt.Sprint("alpha@", i), Entry: b})
	}
	if err := st.AppendAudit(context.Background(), issuer.AuditEvent{Actor: "test", Action: "test.rows", Subject: "x", Log: items}); err != nil {
		t.Fatal(err)
	}
}

// TestKillBetweenCommitAndAppend: a sequencer killed with SIGKILL before
// appending, and one killed after appending but before recording the
// indexes: after a restart every committed row is in the log exactly once.
func TestKillBetweenCommitAndAppend(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "certd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	child := func(point string) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+point, "CERTD_PUBLOG_DIR="+dir)
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("%s: child ended with %v, not SIGKILL: %s", point, err, out)
		}
	}
	addRows(t, st, 40, 0)
	child("before-append") // killed with 40 rows committed, none appended
	addRows(t, st, 40, 40)
	child("after-append") // killed with 16 appended (the first batch), none recorded
	rs, err := st.LogRecords(ctx, issuer.LogFilter{Pending: true})
	if err != nil || len(rs) != 80 {
		t.Fatalf("pending rows after the crashes: %d, %v (want all 80)", len(rs), err)
	}
	l, err := openLog(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	if n, err := l.IntegratedSize(ctx); err != nil || n != 16 {
		t.Fatalf("log size after the crash after appending: %d, %v (want the 16 of the first batch)", n, err)
	}
	if err := Recover(ctx, st, l, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Drain(ctx, st, l, 16, nil); err != nil {
		t.Fatal(err)
	}
	size, err := l.IntegratedSize(ctx)
	if err != nil || size != 80 {
		t.Fatalf("log size %d, %v: want 80 (each row exactly once)", size, err)
	}
	rows, err := st.LogRecords(ctx, issuer.LogFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byIndex := map[uint64][]byte{}
	for _, r := range rows {
		if !r.Indexed {
			t.Fatalf("row %d not recorded", r.ID)
		}
		if _, dup := byIndex[r.Index]; dup {
			t.Fatalf("index %d recorded twice", r.Index)
		}
		byIndex[r.Index] = r.Entry
	}
	for leaf, err := range l.Entries(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(byIndex[leaf.Index], leaf.Data) {
			t.Fatalf("entry %d is not the row recorded there", leaf.Index)
		}
	}
	// Recovering again changes nothing.
	if err := Recover(ctx, st, l, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := Drain(ctx, st, l, 16, nil); n != 0 {
		t.Fatalf("a second drain appended %d", n)
	}
}
