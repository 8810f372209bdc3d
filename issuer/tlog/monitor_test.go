package tlog_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"certd/issuer/tlog"
)

func (fx *fixture) monitor(fetch tlog.Fetch) *tlog.Monitor {
	return &tlog.Monitor{Policy: fx.policy, Origin: origin, Fetch: fetch}
}

// TestMonitorCounts: a monitor on the directory and one over HTTP agree with
// what was appended, per institution, day, kind, occupation and level.
func TestMonitorCounts(t *testing.T) {
	fx := newFixture(t)
	ctx := testCtx(t)
	es := genEntries(t, 0, 300)
	fx.appendPublished(t, es)

	type key struct {
		inst, day  string
		kind       tlog.Kind
		occupation string
		level      int
	}
	want := map[key]int{}
	for _, e := range es {
		want[key{e.Institution, e.Day, e.Kind, e.Occupation, e.Level}]++
	}
	srv := httptest.NewServer(http.StripPrefix("/log", fx.log.Reader))
	defer srv.Close()
	overHTTP, err := tlog.HTTPFetch(srv.URL+"/log", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	for name, fetch := range map[string]tlog.Fetch{"directory": tlog.NewReader(fx.dir).Fetch, "http": overHTTP} {
		t.Run(name, func(t *testing.T) {
			rep, err := fx.monitor(fetch).Check(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Entries != 300 || rep.Checkpoint.Size != 300 || len(rep.Malformed) != 0 {
				t.Fatalf("report: %d entries, size %d, %d malformed", rep.Entries, rep.Checkpoint.Size, len(rep.Malformed))
			}
			got := map[key]int{}
			for _, c := range rep.Counts {
				got[key{c.Institution, c.Day, c.Kind, c.Occupation, c.Level}] = c.N
			}
			if len(got) != len(want) {
				t.Fatalf("%d count lines, want %d", len(got), len(want))
			}
			for k, n := range want {
				if got[k] != n {
					t.Errorf("%+v: %d, want %d", k, got[k], n)
				}
			}
		})
	}
}

// TestMonitorFollows: remembering the last checkpoint, a monitor accepts
// the log's growth and replays only the new entries when asked to.
func TestMonitorFollows(t *testing.T) {
	fx := newFixture(t)
	ctx := testCtx(t)
	fx.appendPublished(t, genEntries(t, 0, 270))
	m := fx.monitor(fx.log.Fetch)
	first, err := m.Check(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	es := genEntries(t, 270, 300)
	fx.appendPublished(t, es)
	var seen []uint64
	cp, err := m.Replay(ctx, first.Checkpoint.Note, first.Checkpoint.Size, func(l tlog.Leaf) error {
		if string(l.Data) != string(es[len(seen)].bytes) {
			t.Errorf("leaf %d is not the entry appended there", l.Index)
		}
		seen = append(seen, l.Index)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 570 || len(seen) != 300 || seen[0] != 270 || seen[299] != 569 {
		t.Fatalf("replayed %d leaves (%v..) up to size %d", len(seen), seen[:1], cp.Size)
	}
	// A visitor's error stops the replay and is returned as is.
	stop := errors.New("stop")
	if _, err := m.Replay(ctx, nil, 0, func(tlog.Leaf) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("visitor error: %v", err)
	}
}

// TestMonitorCatchesTampering: each damage to a copy of the log's files is
// reported by name.
func TestMonitorCatchesTampering(t *testing.T) {
	fx := newFixture(t)
	ctx := testCtx(t)
	fx.appendPublished(t, genEntries(t, 0, 200))
	older, err := fx.log.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	fx.appendPublished(t, genEntries(t, 200, 120)) // 320: one full tile and bundle, partial ones after
	current, err := fx.log.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)

	flip := func(path string, at int) func(dir string) {
		return func(dir string) {
			p := filepath.Join(dir, path)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[at] ^= 0x20
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	truncate := func(path string) func(dir string) {
		return func(dir string) {
			p := filepath.Join(dir, path)
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeCheckpoint := func(cp []byte) func(dir string) {
		return func(dir string) {
			if err := os.WriteFile(filepath.Join(dir, "checkpoint"), cp, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, tc := range map[string]struct {
		damage func(dir string)
		prev   []byte
		want   error
	}{
		"truncated entry bundle":              {damage: truncate("tile/entries/000"), want: tlog.ErrFilesMismatch},
		"rewritten entry":                     {damage: flip("tile/entries/000", 100), want: tlog.ErrFilesMismatch},
		"rewritten partial entry":             {damage: flip("tile/entries/001.p/64", 40), want: tlog.ErrFilesMismatch},
		"missing entry bundle":                {damage: func(dir string) { os.Remove(filepath.Join(dir, "tile/entries/001.p/64")) }, want: tlog.ErrFilesMismatch},
		"truncated tile":                      {damage: truncate("tile/0/000"), want: tlog.ErrFilesMismatch},
		"rewritten tile":                      {damage: flip("tile/0/000", 4000), want: tlog.ErrFilesMismatch},
		"rewritten level-1 tile":              {damage: flip("tile/1/000.p/1", 3), want: tlog.ErrFilesMismatch},
		"checkpoint signed by an unknown key": {damage: writeCheckpoint(resign(t, current, stranger)), want: tlog.ErrUnknownLog},
		"checkpoint without quorum":           {damage: writeCheckpoint(dropLastSignature(current)), want: tlog.ErrQuorum},
		"rolled back to an older checkpoint":  {damage: writeCheckpoint(older), prev: current, want: tlog.ErrInconsistent},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.CopyFS(dir, os.DirFS(fx.dir)); err != nil {
				t.Fatal(err)
			}
			// The untouched copy passes, so the damage is what is caught.
			m := fx.monitor(tlog.NewReader(dir).Fetch)
			if _, err := m.Check(ctx, tc.prev); err != nil {
				t.Fatalf("the undamaged copy: %v", err)
			}
			tc.damage(dir)
			m = fx.monitor(tlog.NewReader(dir).Fetch)
			_, err := m.Check(ctx, tc.prev)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			t.Logf("caught: %v", err)
		})
	}
}

// TestMonitorCatchesRewrittenHistory: a log that re-signs another history
// with its own key (the fork no witness would cosign) is caught by a
// monitor that remembers a checkpoint. The monitor's policy here needs no
// quorum, as a monitor trusting only the log key would.
func TestMonitorCatchesRewrittenHistory(t *testing.T) {
	fx := newFixture(t)
	ctx := testCtx(t)
	fx.appendPublished(t, genEntries(t, 0, 30))
	remembered, err := fx.log.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	// The same key writes a different history in another directory.
	forkDir := t.TempDir()
	fork, err := tlog.Open(ctx, tlog.Config{Dir: forkDir, Origin: origin, Key: fx.key, CheckpointInterval: 100 * time.Millisecond, BatchMaxAge: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer fork.Close(context.Background())
	es := genEntries(t, 1000, 40)
	idx, err := fork.AppendBatch(ctx, allBytes(es))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fork.AwaitPublished(ctx, idx[len(idx)-1]); err != nil {
		t.Fatal(err)
	}
	logOnly := *fx.policy
	logOnly.Witnesses, logOnly.Groups, logOnly.Quorum = nil, nil, tlog.QuorumNone
	m := &tlog.Monitor{Policy: &logOnly, Origin: origin, Fetch: fork.Fetch}
	if _, err := m.Check(ctx, nil); err != nil {
		t.Fatalf("the fork on its own looks like a log: %v", err)
	}
	if _, err := m.Check(ctx, remembered); !errors.Is(err, tlog.ErrInconsistent) {
		t.Fatalf("err = %v, want ErrInconsistent", err)
	}
}
