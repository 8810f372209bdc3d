package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"certd/issuer/tlog"
)

// lockedBuffer is a bytes.Buffer safe to read while the command writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWitnessCommand runs `certd witness` as a peer college would and has a
// log whose policy names it publish only with its cosignature.
func TestWitnessCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32))
	const origin = "college.test/log"
	vkey, err := tlog.VerifierKey(origin, key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out lockedBuffer
	done := make(chan int, 1)
	go func() {
		var errb bytes.Buffer
		done <- run(ctx, []string{"witness", "--data", t.TempDir(), "--name", "witness.peer.test/w", "--log-keys", vkey, "--listen", addr}, &out, &errb)
	}()
	var line string
	for deadline := time.Now().Add(10 * time.Second); line == ""; {
		for _, l := range strings.Split(out.String(), "\n") {
			if rest, ok := strings.CutPrefix(l, "策略行 / policy line: "); ok {
				line = rest
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no policy line: %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	pol, err := tlog.ParsePolicy([]byte("log " + vkey + "\n" + line + "\nquorum witness.peer.test/w\n"))
	if err != nil {
		t.Fatalf("the printed policy line %q: %v", line, err)
	}
	var l *tlog.Log
	for deadline := time.Now().Add(10 * time.Second); ; { // the witness may still be starting
		l, err = tlog.Open(ctx, tlog.Config{Dir: filepath.Join(t.TempDir(), "log"), Origin: origin, Key: key, Policy: pol,
			CheckpointInterval: 100 * time.Millisecond, BatchMaxAge: 10 * time.Millisecond})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	e := tlog.Entry{Kind: tlog.Registration, Institution: "alpha", KeyID: strings.Repeat("A", 43), Day: "2026-12-03", Record: tlog.Hash{1}}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	idx, err := l.Append(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	defer wcancel()
	cp, err := l.AwaitPublished(wctx, idx)
	if err != nil {
		t.Fatalf("not published with the witness: %v", err)
	}
	c, err := pol.VerifyCheckpoint(cp)
	if err != nil || len(c.Cosignatures) != 1 || c.Cosignatures[0].Witness != "witness.peer.test/w" {
		t.Fatalf("checkpoint %v: %+v", err, c)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("witness exited with %d", code)
	}
}
