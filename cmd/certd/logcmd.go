package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"certd/issuer/credential"
	"certd/issuer/publog"
	"certd/issuer/tlog"
	"certd/issuer/tlog/witness"
)

// cmdWitness runs a C2SP tlog-witness, as a peer college or the authority
// would for another deployment's log: its own key (sealed under the KEK in
// --witness-dir), no database.
func cmdWitness(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("witness", false)
	addr := f.String("listen", "127.0.0.1:8091", "address to serve POST /add-checkpoint on")
	dir := f.String("witness-dir", "", "the witness's state and sealed key; empty means <data>/witness-server")
	name := f.String("name", "", "the witness's key name, e.g. witness.jlvtc.edu.cn/certd (required)")
	trust := f.String("trust", "", "trust bundle (certd trust export) whose logPolicy names the logs to follow")
	logKeys := f.String("log-keys", "", "comma-separated log verifier keys to follow (instead of, or besides, --trust)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *name == "" || (*trust == "" && *logKeys == "") {
		return usageError{"usage: certd witness --name NAME (--trust trust.json | --log-keys VKEY,...) [--listen ADDR] [--witness-dir DIR]"}
	}
	var logs []string
	if *trust != "" {
		tb, err := readBundle(*trust)
		if err != nil {
			return err
		}
		p, err := tlog.ParsePolicy([]byte(tb.LogPolicy))
		if err != nil {
			return fmt.Errorf("信任包的公开日志策略无效 / the trust bundle's logPolicy is invalid: %w", err)
		}
		for _, l := range p.Logs {
			logs = append(logs, l.VKey)
		}
	}
	for _, k := range strings.Split(*logKeys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			logs = append(logs, k)
		}
	}
	cfg := &f.cfg
	if err := cfg.validate(); err != nil {
		return err
	}
	log := cfg.logger()
	kek, err := cfg.loadKEK(log)
	if err != nil {
		return err
	}
	if *dir == "" {
		*dir = filepath.Join(cfg.Data, "witness-server")
	}
	priv, err := publog.WitnessKey(*dir, kek, *name)
	if err != nil {
		return err
	}
	w, err := witness.New(witness.Config{Name: *name, Key: priv, Dir: *dir, Logs: logs, Logger: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "见证人 / witness: %s\n策略行 / policy line: witness %s %s http://%s\n", *name, *name, w.VerifierKey(), *addr)
	return witness.Run(ctx, *addr, w)
}

func readBundle(path string) (*credential.TrustBundle, error) {
	b, err := os.ReadFile(path) // #nosec G304 G703 -- a path the operator gave
	if err != nil {
		return nil, usageError{fmt.Sprintf("无法读取信任包 / cannot read the trust bundle: %v", err)}
	}
	tb, err := credential.ParseTrustBundle(b)
	if err != nil {
		return nil, err
	}
	if tb.LogPolicy == "" {
		return nil, usageError{"信任包中没有公开日志策略（logPolicy） / the trust bundle has no logPolicy"}
	}
	return tb, nil
}

// cmdLog is "certd log audit" (the authority, with the database) and
// "certd log monitor" (anyone, from the public /log files only).
func cmdLog(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "audit" && args[0] != "monitor" && args[0] != "proof") {
		return usageError{"usage: certd log audit [--state FILE] [--json] | certd log monitor --url URL/log --trust trust.json [--state FILE] [--json] | certd log proof NUMBER"}
	}
	sub := args[0]
	if sub == "proof" {
		return cmdLogProof(ctx, args[1:], out)
	}
	f := newFlags("log "+sub, true)
	state := f.String("state", "", "file keeping the last checkpoint accepted, so the next run checks the log only grew")
	var logURL, trust *string
	if sub == "monitor" {
		logURL = f.String("url", "", "the log's public address, e.g. https://certd.example.edu.cn/log")
		trust = f.String("trust", "", "trust bundle whose logPolicy the log must satisfy")
	}
	if _, err := f.parse(args[1:]); err != nil {
		return err
	}
	var prev []byte
	if *state != "" {
		b, err := os.ReadFile(*state) // #nosec G304 G703 -- the operator's --state file
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		prev = b
	}
	var cp *tlog.Checkpoint
	failed := false
	if sub == "monitor" {
		if *logURL == "" || *trust == "" {
			return usageError{"certd log monitor 需要 --url 与 --trust / needs --url and --trust"}
		}
		tb, err := readBundle(*trust)
		if err != nil {
			return err
		}
		pol, err := tlog.ParsePolicy([]byte(tb.LogPolicy))
		if err != nil {
			return err
		}
		fetch, err := tlog.HTTPFetch(*logURL, &http.Client{Timeout: 30 * time.Second})
		if err != nil {
			return usageError{err.Error()}
		}
		m := &tlog.Monitor{Policy: pol, Origin: logOriginOf(pol), Fetch: fetch}
		rep, err := m.Check(ctx, prev)
		if err != nil {
			return logFailure(out, err)
		}
		cp = rep.Checkpoint
		if f.json {
			if err := writeJSON(out, rep); err != nil {
				return err
			}
		} else {
			printCounts(out, rep)
		}
		failed = len(rep.Malformed) > 0
	} else {
		e, err := f.cfg.open(ctx)
		if err != nil {
			return err
		}
		defer e.close()
		rt, err := e.logPolicy(ctx, false)
		if err != nil {
			return err
		}
		m := &tlog.Monitor{Policy: publog.PublicPolicy(rt.policy), Origin: rt.origin, Fetch: rt.reader.Fetch}
		rep, err := publog.Audit(ctx, e.store, m, prev, time.Now())
		if err != nil {
			return logFailure(out, err)
		}
		cp = rep.Checkpoint
		if f.json {
			if err := writeJSON(out, rep); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(out, "日志 / log: %s, %d 条 / entries\n", cp.Origin, cp.Size)
			if len(rep.Findings) == 0 {
				fmt.Fprintln(out, "✓ 数据库与公开日志一致 / the database and the public log agree")
			}
			for _, fd := range rep.Findings {
				fmt.Fprintf(out, "✗ %s  %s  %s / %s\n", fd.Name, fd.Subject, fd.Zh, fd.En)
			}
		}
		failed = len(rep.Findings) > 0
	}
	if *state != "" {
		tmp := *state + ".tmp"
		if err := os.WriteFile(tmp, cp.Note, 0o600); err != nil { // #nosec G703 -- the operator's --state file
			return err
		}
		if err := os.Rename(tmp, *state); err != nil { // #nosec G703 -- the operator's --state file
			return err
		}
	}
	if failed {
		return errSilent{exitFailed}
	}
	return nil
}

// logFailure names what the replay found wrong with the log itself.
func logFailure(out io.Writer, err error) error {
	for _, e := range []error{tlog.ErrInconsistent, tlog.ErrFilesMismatch, tlog.ErrQuorum, tlog.ErrUnknownLog, tlog.ErrBadSignature, tlog.ErrMalformedCheckpoint} {
		if errors.Is(err, e) {
			fmt.Fprintf(out, "✗ %v\n", err)
			return errSilent{exitFailed}
		}
	}
	return err
}

func logOriginOf(p *tlog.Policy) string {
	if len(p.Logs) == 0 {
		return ""
	}
	name, _, _ := strings.Cut(p.Logs[0].VKey, "+")
	return name
}

func printCounts(out io.Writer, rep *tlog.Report) {
	fmt.Fprintf(out, "日志 / log: %s, %d 条 / entries, ✓ 只追加、与检查点一致 / append-only and matching its checkpoint\n", rep.Checkpoint.Origin, rep.Entries)
	fmt.Fprintf(out, "%-16s %-10s %-12s %-12s %-5s %s\n", "institution", "day", "kind", "occupation", "level", "count")
	for _, c := range rep.Counts {
		lvl := ""
		if c.Level > 0 {
			lvl = fmt.Sprint(c.Level)
		}
		fmt.Fprintf(out, "%-16s %-10s %-12s %-12s %-5s %d\n", c.Institution, c.Day, c.Kind, c.Occupation, lvl, c.N)
	}
	for _, i := range rep.Malformed {
		fmt.Fprintf(out, "✗ 条目 %d 不是 certd 条目 / entry %d is not a certd entry\n", i, i)
	}
}

// cmdLogProof prints a certificate's tlog-proof (what GET
// /api/v1/certificates/NUMBER/proof serves), to hand over with the record
// for offline verification (certd verify --trust --proof).
func cmdLogProof(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("log proof", false)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"usage: certd log proof NUMBER > proof.txt"}
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.flushLog(ctx); err != nil {
		return err
	}
	rt, err := e.logPolicy(ctx, false)
	if err != nil {
		return err
	}
	p, err := rt.prover.Proof(ctx, strings.TrimSpace(pos[0]))
	switch {
	case errors.Is(err, publog.ErrNotLogged):
		return fmt.Errorf("%w", err)
	case errors.Is(err, tlog.ErrNotPublished):
		return fmt.Errorf("%w（可能没有服务在运行以追加日志 / is a server running to append it?）", err)
	case err != nil:
		return err
	}
	_, err = out.Write(p)
	return err
}
