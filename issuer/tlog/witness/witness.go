// Package witness is a C2SP tlog-witness (https://c2sp.org/tlog-witness):
// an independent party that cosigns a log's checkpoints only after checking
// that each one extends the last it cosigned. A peer college or the authority
// runs one (`certd witness`); the log publishes a checkpoint only with the
// quorum of cosignatures its policy asks for, so a log that showed two
// different histories to two audiences would need witnesses to sign both.
//
// A witness keeps, per log, only the latest checkpoint it cosigned, in a
// file replaced atomically (write, sync, rename, sync the directory) before
// it answers, under a lock, so that two concurrent requests can never roll
// its view back.
package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"certd/issuer/tlog"
)

// KeyPurpose is the purpose string to seal a witness's private key with.
const KeyPurpose = "tlog-witness"

// Config configures a witness.
type Config struct {
	// Name is the witness's key name, conventionally a schema-less URL such as
	// "witness.jlvtc.edu.cn/certd".
	Name string
	// Key signs cosignatures. It must serve no other purpose (cosignature/v1
	// does not bind the name, so one key must not act as two witnesses).
	Key ed25519.PrivateKey
	// Dir holds the witness's state: one file per log.
	Dir string
	// Logs are the logs this witness follows, as vkeys whose names are the
	// logs' origins; typically the "log" lines of the trust bundle's policy.
	// Several keys for one origin accept a checkpoint signed by any of them.
	Logs []string
	// Logger receives refusals worth keeping (a failed consistency proof is
	// evidence of a misbehaving log). Default slog.Default().
	Logger *slog.Logger
}

// Witness is an http.Handler serving POST /add-checkpoint.
type Witness struct {
	cfg    Config
	signer note.Signer
	vkey   string
	logs   map[string][]note.Verifier // origin → keys
	mux    *http.ServeMux

	mu    sync.Mutex // held from reading the old state to persisting the new
	state map[string]treeHead
}

// treeHead is what the witness remembers of a log.
type treeHead struct {
	size uint64
	root [32]byte
}

// Limits on a request from anyone on the network.
const (
	maxBody        = 64 << 10
	maxProofHashes = 63
)

// New opens a witness, loading its state from cfg.Dir (created if missing).
func New(cfg Config) (*Witness, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	signer, err := tlog.NewCosigner(cfg.Name, cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("见证人密钥或名称无效 / invalid witness key or name: %w", err)
	}
	vkey, err := tlog.CosignerKey(cfg.Name, cfg.Key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	w := &Witness{cfg: cfg, signer: signer, vkey: vkey, logs: map[string][]note.Verifier{}, state: map[string]treeHead{}}
	for _, k := range cfg.Logs {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("日志公钥 %q 无效 / invalid log key %q: %w", k, k, err)
		}
		w.logs[v.Name()] = append(w.logs[v.Name()], v)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	for origin := range w.logs {
		th, err := w.load(origin)
		if err != nil {
			return nil, err
		}
		w.state[origin] = th
	}
	w.mux = http.NewServeMux()
	w.mux.HandleFunc("POST /add-checkpoint", w.addCheckpoint)
	return w, nil
}

// VerifierKey is the witness's cosignature/v1 vkey, for the log's policy.
func (w *Witness) VerifierKey() string { return w.vkey }

// Latest returns the size and root of the latest checkpoint the witness
// cosigned for origin (zero if none).
func (w *Witness) Latest(origin string) (size uint64, root [32]byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	th := w.state[origin]
	return th.size, th.root
}

func (w *Witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) { w.mux.ServeHTTP(rw, r) }

// refusal is an answer other than a cosignature.
type refusal struct {
	status int
	msg    string
	size   uint64 // for 409 on a size mismatch
}

func (r *refusal) Error() string { return r.msg }

func refuse(status int, msg string) *refusal { return &refusal{status: status, msg: msg} }

func (w *Witness) addCheckpoint(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, maxBody))
	if err != nil {
		http.Error(rw, "请求过大 / request too large", http.StatusRequestEntityTooLarge)
		return
	}
	cosig, err := w.process(body)
	if err != nil {
		var ref *refusal
		if !errors.As(err, &ref) {
			w.cfg.Logger.Error("witness: add-checkpoint", "error", err)
			http.Error(rw, "内部错误 / internal error", http.StatusInternalServerError)
			return
		}
		if ref.status == http.StatusConflict && ref.msg == "" {
			rw.Header().Set("Content-Type", "text/x.tlog.size")
			rw.WriteHeader(http.StatusConflict)
			fmt.Fprintf(rw, "%d\n", ref.size)
			return
		}
		http.Error(rw, ref.msg, ref.status)
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = rw.Write(cosig) // a client that went away is not an error of ours
}

// process implements the add-checkpoint checks in the order the spec gives
// them and returns the cosignature line(s).
func (w *Witness) process(body []byte) ([]byte, error) {
	head, cp, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return nil, refuse(http.StatusBadRequest, "请求格式错误 / malformed request")
	}
	lines := strings.Split(string(head), "\n")
	v, ok := strings.CutPrefix(lines[0], "old ")
	old, err := strconv.ParseUint(v, 10, 64)
	if !ok || err != nil || strconv.FormatUint(old, 10) != v || len(lines)-1 > maxProofHashes {
		return nil, refuse(http.StatusBadRequest, "old 行或证明格式错误 / malformed old line or proof")
	}
	consistency := make([][]byte, 0, len(lines)-1)
	for _, l := range lines[1:] {
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != sha256.Size {
			return nil, refuse(http.StatusBadRequest, "一致性证明格式错误 / malformed consistency proof")
		}
		consistency = append(consistency, h)
	}
	origin, _, _ := bytes.Cut(cp, []byte("\n"))
	keys, known := w.logs[string(origin)]
	if !known {
		return nil, refuse(http.StatusNotFound, "未知的日志 / unknown log")
	}
	n, err := note.Open(cp, note.VerifierList(keys...))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return nil, refuse(http.StatusForbidden, "检查点没有受信任的日志签名 / no trusted log signature")
		}
		return nil, refuse(http.StatusBadRequest, "检查点格式错误 / malformed checkpoint")
	}
	size, root, ok := parseCheckpoint(n.Text, string(origin))
	if !ok {
		return nil, refuse(http.StatusBadRequest, "检查点格式错误 / malformed checkpoint")
	}
	if old > size {
		return nil, refuse(http.StatusBadRequest, "old 大于检查点大小 / old size larger than the checkpoint")
	}
	if old == 0 && len(consistency) > 0 {
		return nil, refuse(http.StatusBadRequest, "old 为0时证明应为空 / the proof must be empty when old is 0")
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	last := w.state[string(origin)]
	if old != last.size {
		return nil, &refusal{status: http.StatusConflict, size: last.size}
	}
	switch {
	case old == size && last.size > 0:
		if root != last.root {
			w.evidence(cp, "same size, different root")
			return nil, refuse(http.StatusConflict, "同一大小的根哈希不同 / different root hash for the same size")
		}
	case old > 0:
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old, size, consistency, last.root[:], root[:]); err != nil {
			w.evidence(cp, "consistency proof does not verify")
			return nil, refuse(http.StatusUnprocessableEntity, "一致性证明无效 / the consistency proof does not verify")
		}
	}
	if err := w.store(string(origin), cp); err != nil {
		return nil, err
	}
	w.state[string(origin)] = treeHead{size: size, root: root}
	signed, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	if err != nil {
		return nil, err
	}
	// Keep only our own signature line: the last one of the signed note.
	i := bytes.LastIndex(signed[:len(signed)-1], []byte("\n"))
	return signed[i+1:], nil
}

// parseCheckpoint reads origin, size and root in their canonical spelling.
func parseCheckpoint(text, origin string) (uint64, [32]byte, bool) {
	var root [32]byte
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) != 4 || lines[0] != origin || lines[3] != "" {
		return 0, root, false
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	h, err2 := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || strconv.FormatUint(size, 10) != lines[1] || err2 != nil || len(h) != len(root) {
		return 0, root, false
	}
	copy(root[:], h)
	return size, root, true
}

func (w *Witness) statePath(origin string) string {
	sum := sha256.Sum256([]byte(origin))
	return filepath.Join(w.cfg.Dir, hex.EncodeToString(sum[:8])+".checkpoint")
}

// load reads the checkpoint last cosigned for origin. The file holds the
// log-signed note; it is re-verified so a damaged file stops the witness
// rather than resetting its memory of the log.
func (w *Witness) load(origin string) (treeHead, error) {
	b, err := os.ReadFile(w.statePath(origin))
	if errors.Is(err, os.ErrNotExist) {
		return treeHead{}, nil
	}
	if err != nil {
		return treeHead{}, err
	}
	n, err := note.Open(b, note.VerifierList(w.logs[origin]...))
	if err != nil {
		return treeHead{}, fmt.Errorf("见证人状态文件损坏 / witness state for %q is damaged: %w", origin, err)
	}
	size, root, ok := parseCheckpoint(n.Text, origin)
	if !ok {
		return treeHead{}, fmt.Errorf("见证人状态文件损坏 / witness state for %q is damaged", origin)
	}
	return treeHead{size: size, root: root}, nil
}

// store replaces the state file for origin: write a temporary file, sync it,
// rename it over the old one, sync the directory. A crash leaves either the
// old or the new checkpoint, never a torn one.
func (w *Witness) store(origin string, cp []byte) error {
	final := w.statePath(origin)
	f, err := os.CreateTemp(w.cfg.Dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(cp); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return err
	}
	d, err := os.Open(w.cfg.Dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// evidence keeps a checkpoint the log signed that contradicts what the
// witness cosigned: proof that the log forked.
func (w *Witness) evidence(cp []byte, why string) {
	w.cfg.Logger.Warn("witness: refused a checkpoint inconsistent with the one cosigned before; keeping it as evidence", "reason", why)
	name := filepath.Join(w.cfg.Dir, fmt.Sprintf("evidence-%d.checkpoint", time.Now().UnixNano()))
	if err := os.WriteFile(name, cp, 0o600); err != nil {
		w.cfg.Logger.Error("witness: keeping evidence", "error", err)
	}
}

// Run serves the witness on addr until ctx ends, with timeouts that keep a
// slow client from holding connections.
func Run(ctx context.Context, addr string, w *Witness) error {
	srv := &http.Server{
		Addr:              addr,
		Handler:           w,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    8 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}
