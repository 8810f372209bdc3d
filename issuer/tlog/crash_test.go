package tlog_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"certd/issuer/tlog"
)

// The crash test plays a sequencer draining an outbox of crashRows rows: it
// appends them in batches and, after each batch, records the indexes (the
// "database" is a file of "row index" lines, synced per batch, as one
// transaction would be). It is killed with SIGKILL in the middle; then the
// recovery a restarted sequencer runs must leave every row in the log
// exactly once.
const crashRows = 3000

// outboxRow is row i's entry; deterministic, so both processes agree.
func outboxRow(t testing.TB, i int) []byte {
	t.Helper()
	e := tlog.Entry{
		Kind: tlog.Issued, Institution: "jlvtc", KeyID: "3q1CCAY1pRnPb_lx6bB9cT4ONHUvdTcTwxPd2DxBAGk",
		Occupation: "4-04-05-01", Level: 1 + i%5, Day: "2026-12-02",
		Number: sha256.Sum256(fmt.Appendf(nil, "number %d", i)),
		Record: sha256.Sum256(fmt.Appendf(nil, "record %d", i)),
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func crashKey() ed25519.PrivateKey { return ed25519.NewKeyFromSeed(make([]byte, 32)) }

// TestCrashChild is the sequencer that gets killed; it runs only as the
// child of TestCrashBetweenAppendAndRecord.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("TLOG_CRASH_DIR")
	if dir == "" {
		t.Skip("only runs as the crash test's child")
	}
	ctx := context.Background()
	l, err := tlog.Open(ctx, tlog.Config{Dir: dir, Origin: origin, Key: crashKey(), CheckpointInterval: 100 * time.Millisecond, BatchMaxAge: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	marks, err := os.OpenFile(filepath.Join(dir, "marks"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	batchNo := 0
	for row, batch := 0, 1; row < crashRows; row, batch = row+batch, 1+(batch*37)%97 {
		n := min(batch, crashRows-row)
		entries := make([][]byte, n)
		for i := range n {
			entries[i] = outboxRow(t, row+i)
		}
		idx, err := l.AppendBatch(ctx, entries)
		if err != nil {
			t.Fatal(err)
		}
		if hold := os.Getenv("TLOG_CRASH_HOLD"); hold != "" && hold == strconv.Itoa(batchNo) {
			// The entries are in the log; the crash comes before the
			// database records their indexes.
			fmt.Println("appended, not recorded")
			select {}
		}
		batchNo++
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "%d %d\n", row+i, idx[i])
		}
		if _, err := marks.WriteString(b.String()); err != nil {
			t.Fatal(err)
		}
		if err := marks.Sync(); err != nil {
			t.Fatal(err)
		}
		fmt.Println("progress", row+n)
	}
	fmt.Println("done")
}

func TestCrashBetweenAppendAndRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	t.Run("killed while appending", func(t *testing.T) { crashAndRecover(t, "") })
	t.Run("killed after appending, before recording", func(t *testing.T) { crashAndRecover(t, "12") })
}

func crashAndRecover(t *testing.T, hold string) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TLOG_CRASH_DIR="+dir, "TLOG_CRASH_HOLD="+hold)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	progress, finished := 0, false
	for sc.Scan() {
		if sc.Text() == "appended, not recorded" {
			break
		}
		if strings.HasPrefix(sc.Text(), "progress") {
			if progress++; hold == "" && progress == 12 {
				break
			}
		}
		if sc.Text() == "done" {
			finished = true
			break
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if progress == 0 {
		t.Fatal("the child never appended")
	}

	// The "database": rows whose index was recorded before the crash.
	marked := map[int]uint64{}
	b, _ := os.ReadFile(filepath.Join(dir, "marks"))
	maxIdx := int64(-1)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue // a torn last line
		}
		row, err1 := strconv.Atoi(f[0])
		idx, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		marked[row] = idx
		maxIdx = max(maxIdx, int64(idx))
	}

	// Restart: the lock died with the child.
	ctx := testCtx(t)
	l, err := tlog.Open(ctx, tlog.Config{Dir: dir, Origin: origin, Key: crashKey(), CheckpointInterval: 100 * time.Millisecond, BatchMaxAge: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())

	// Recovery, as the sequencer does it: entries after the highest recorded
	// index that match a pending row were appended; record them.
	pending := map[[32]byte]int{}
	for row := range crashRows {
		if _, ok := marked[row]; !ok {
			pending[sha256.Sum256(outboxRow(t, row))] = row
		}
	}
	recovered := 0
	for leaf, err := range l.Entries(ctx, uint64(maxIdx+1)) {
		if err != nil {
			t.Fatal(err)
		}
		row, ok := pending[sha256.Sum256(leaf.Data)]
		if !ok {
			t.Fatalf("entry %d in the log matches no pending row", leaf.Index)
		}
		marked[row] = leaf.Index
		delete(pending, sha256.Sum256(leaf.Data))
		recovered++
	}
	var rest []int
	for _, row := range pending {
		rest = append(rest, row)
	}
	slices.Sort(rest)
	entries := make([][]byte, len(rest))
	for i, row := range rest {
		entries[i] = outboxRow(t, row)
	}
	if len(entries) > 0 {
		idx, err := l.AppendBatch(ctx, entries)
		if err != nil {
			t.Fatal(err)
		}
		for i, row := range rest {
			marked[row] = idx[i]
		}
	}
	if hold != "" && recovered == 0 {
		t.Fatal("the held batch was not found in the log")
	}
	t.Logf("killed after %d batches (finished: %v): %d rows recorded before the crash, %d found in the log unrecorded, %d appended after restart",
		progress, finished, crashRows-recovered-len(rest), recovered, len(rest))

	// Every row is in the log exactly once, at the index recorded for it.
	size, err := l.IntegratedSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if size != crashRows {
		t.Fatalf("log size %d, want %d: rows were lost or duplicated", size, crashRows)
	}
	byIndex := map[uint64]int{}
	for row, idx := range marked {
		if other, dup := byIndex[idx]; dup {
			t.Fatalf("rows %d and %d both recorded at index %d", row, other, idx)
		}
		byIndex[idx] = row
	}
	for leaf, err := range l.Entries(ctx, 0) {
		if err != nil {
			t.Fatal(err)
		}
		row, ok := byIndex[leaf.Index]
		if !ok || string(leaf.Data) != string(outboxRow(t, row)) {
			t.Fatalf("index %d holds %q, recorded for row %d", leaf.Index, leaf.Data, row)
		}
	}
	// And the files on disk are a consistent log.
	if _, err := l.AwaitPublished(ctx, crashRows-1); err != nil {
		t.Fatal(err)
	}
	vkey, _ := tlog.VerifierKey(origin, crashKey().Public().(ed25519.PublicKey))
	p, err := tlog.ParsePolicy([]byte("log " + vkey + "\nquorum none\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&tlog.Monitor{Policy: p, Origin: origin, Fetch: l.Fetch}).Check(ctx, nil); err != nil {
		t.Fatalf("monitor after the crash: %v", err)
	}
}
