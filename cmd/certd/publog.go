package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

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
}

// logPolicy builds the log's policy; with a local witness, lw must be
// running (its URL goes into the policy) or nil (for a policy without URLs).
func (e *env) logPolicy(ctx context.Context, start bool) (*logRuntime, error) {
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
	if !start {
		return rt, nil
	}
	dir := e.cfg.logDir()
	pol := rt.policy
	rt.seq = &publog.Sequencer{Store: e.store, Log: e.log, Open: func(ctx context.Context) (*tlog.Log, error) {
		return tlog.Open(ctx, tlog.Config{Dir: dir, Origin: key.Origin, Key: priv, Policy: pol, Logger: e.log})
	}}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	rt.cancel = cancel
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		_ = rt.seq.Run(sctx)
	}()
	return rt, nil
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
