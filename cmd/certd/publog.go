package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"certd/issuer"
	"certd/issuer/publog"
	"certd/issuer/tlog"
	"certd/verify"
)

// logDir is where the public log's files live.
func (c *Config) logDir() string {
	if c.LogDir != "" {
		return c.LogDir
	}
	return filepath.Join(c.Data, "log")
}

// logOrigin is the name a new log gets: the public host and "/log".
func (c *Config) logOrigin() string {
	if c.LogOrigin != "" {
		return c.LogOrigin
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || u.Host == "" {
		return "certd/log"
	}
	return u.Host + "/log"
}

// witnessPolicy reads --log-witnesses: nil when no file is named (a local
// witness is run then).
func (c *Config) witnessPolicy() (*tlog.Policy, error) {
	if c.LogWitnesses == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.LogWitnesses)
	if err != nil {
		return nil, fmt.Errorf("无法读取见证人策略文件 / cannot read --log-witnesses: %w", err)
	}
	p, err := tlog.ParsePolicy(b)
	if err != nil {
		return nil, usageError{"--log-witnesses: " + err.Error()}
	}
	return p, nil
}

// localWitnessName names the local witness after the log.
func localWitnessName(origin string) string { return strings.TrimSuffix(origin, "/log") + "/witness" }

// logRuntime is the public log as serve runs it: the sequencer (when this
// instance holds the lock), the reader of the files, proofs, the policy.
type logRuntime struct {
	seq    *publog.Sequencer
	reader *tlog.Reader
	prover *publog.Prover
	policy *tlog.Policy // with the witnesses' URLs
	public string       // the policy published in the trust bundle
	lw     *publog.LocalWitness
	cancel context.CancelFunc
	wg     sync.WaitGroup

	dir, origin string
	priv        ed25519.PrivateKey
	store       backend
	log         *slog.Logger
	// views keeps each college's replayed entries between console views,
	// so that a view reads only what the log added since.
	views struct {
		once sync.Once
		logs *publog.InstitutionLogs
	}
}

// logPolicy builds the log's policy; with a local witness, lw must be
// running (its URL goes into the policy) or nil (for a policy without URLs).
func (e *env) logPolicy(ctx context.Context, start bool) (*logRuntime, error) { // start: run the local witness
	kek := e.svc.KEK
	priv, key, err := publog.LogKey(ctx, e.store, kek, e.cfg.logOrigin())
	if err != nil {
		return nil, err
	}
	if e.cfg.LogOrigin != "" && e.cfg.LogOrigin != key.Origin {
		e.log.Warn("the public log keeps the origin it was made with; --log-origin ignored", "origin", key.Origin, "log_origin", e.cfg.LogOrigin)
	}
	vkey, err := publog.LogVKey(key)
	if err != nil {
		return nil, err
	}
	wp, err := e.cfg.witnessPolicy()
	if err != nil {
		return nil, err
	}
	rt := &logRuntime{reader: tlog.NewReader(e.cfg.logDir())}
	if wp == nil {
		name := localWitnessName(key.Origin)
		dir := filepath.Join(e.cfg.Data, "witness")
		if start {
			if rt.lw, err = publog.StartLocalWitness(dir, kek, name, []string{vkey}, e.log); err != nil {
				return nil, err
			}
			wp = &tlog.Policy{Witnesses: []tlog.PolicyWitness{rt.lw.PolicyLine()}, Quorum: name}
		} else {
			wpriv, err := publog.WitnessKey(dir, kek, name)
			if err != nil {
				return nil, err
			}
			wv, err := tlog.CosignerKey(name, wpriv.Public().(ed25519.PublicKey))
			if err != nil {
				return nil, err
			}
			wp = &tlog.Policy{Witnesses: []tlog.PolicyWitness{{Name: name, VKey: wv}}, Quorum: name}
		}
	}
	if rt.policy, err = publog.Policy(key, e.cfg.PublicURL+"/log", wp); err != nil {
		return nil, err
	}
	text, err := publog.PublicPolicy(rt.policy).MarshalText()
	if err != nil {
		return nil, err
	}
	rt.public = string(text)
	e.svc.LogPolicy = rt.public
	rt.prover = &publog.Prover{Store: e.store, Reader: rt.reader}
	rt.dir, rt.origin, rt.priv = e.cfg.logDir(), key.Origin, priv
	rt.store, rt.log = e.store, e.log
	return rt, nil
}

// openLog opens the log for appending (the caller holds the sequencer lock).
// fast checkpoints suit a command that waits for its entries to be
// published before it exits.
func (rt *logRuntime) openLog(ctx context.Context, fast bool) (*tlog.Log, error) {
	cfg := tlog.Config{Dir: rt.dir, Origin: rt.origin, Key: rt.priv, Policy: rt.policy, Logger: rt.log}
	if fast {
		cfg.CheckpointInterval, cfg.BatchMaxAge = 100*time.Millisecond, 10*time.Millisecond
	}
	return tlog.Open(ctx, cfg)
}

// startSequencer runs the sequencer until close.
func (rt *logRuntime) startSequencer(ctx context.Context) {
	rt.seq = &publog.Sequencer{Store: rt.store, Log: rt.log, Open: func(ctx context.Context) (*tlog.Log, error) { return rt.openLog(ctx, false) }}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	rt.cancel = cancel
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		_ = rt.seq.Run(sctx)
	}()
}

// flushLog appends the outbox's pending entries when no serving process
// does (the command line on SQLite without a server running), and waits
// for a published checkpoint to cover them, so that a certificate issued by
// a command verifies at once. With a server running (its sequencer holds
// the lock or the log directory) it leaves the entries to it.
func (e *env) flushLog(ctx context.Context) error {
	if e.store == nil || e.publog != nil {
		return nil
	}
	rs, err := e.store.LogRecords(ctx, issuer.LogFilter{Pending: true, Limit: 1})
	if err != nil || len(rs) == 0 {
		return err
	}
	_, release, err := e.store.LockSequencer(ctx)
	if issuer.Is(err, issuer.ErrConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	defer release()
	rt, err := e.logPolicy(ctx, true)
	if err != nil {
		return err
	}
	defer rt.close()
	l, err := rt.openLog(ctx, true)
	if errors.Is(err, tlog.ErrLogInUse) {
		return nil
	}
	if err != nil {
		return err
	}
	// A close that gives up leaves entries for the next run to publish.
	defer func() { _ = l.Close(context.WithoutCancel(ctx)) }()
	if err := publog.Recover(ctx, e.store, l, e.log); err != nil {
		return err
	}
	if _, err := publog.Drain(ctx, e.store, l, 1024, e.log); err != nil {
		return err
	}
	size, err := l.IntegratedSize(ctx)
	if err != nil || size == 0 {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = l.AwaitPublished(wctx, size-1)
	return err
}

// logSource is the verification page's check against the log.
func (rt *logRuntime) logSource() verify.LogSource {
	return verify.LogProofs{Prover: rt.prover, Policy: publog.PublicPolicy(rt.policy)}
}

func (rt *logRuntime) close() {
	if rt == nil {
		return
	}
	if rt.cancel != nil {
		rt.cancel()
		rt.wg.Wait()
	}
	if rt.lw != nil {
		_ = rt.lw.Close()
	}
}

// institutionLog is the console's view of one college's entries, replayed
// from the public files and checked as a monitor would.
func (rt *logRuntime) institutionLog(ctx context.Context, id string) (*publog.InstitutionLog, error) {
	rt.views.once.Do(func() {
		m := &tlog.Monitor{Policy: publog.PublicPolicy(rt.policy), Origin: rt.origin, Fetch: rt.reader.Fetch}
		rt.views.logs = &publog.InstitutionLogs{Store: rt.store, Monitor: m}
	})
	return rt.views.logs.Of(ctx, id)
}
