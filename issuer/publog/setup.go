package publog

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"certd/issuer"
	"certd/issuer/keys"
	"certd/issuer/tlog"
	"certd/issuer/tlog/witness"
)

// LogKey loads the log's key from the store, or makes one (named origin)
// when there is none yet. Two instances racing to make it both end with the
// one stored first.
func LogKey(ctx context.Context, st issuer.LogStore, kek *keys.KEK, origin string) (ed25519.PrivateKey, issuer.LogKey, error) {
	k, err := st.LogKey(ctx)
	if issuer.Is(err, issuer.ErrNotFound) {
		pub, priv, gerr := keys.Generate()
		if gerr != nil {
			return nil, k, gerr
		}
		sealed, serr := kek.Seal(priv, tlog.KeyPurpose, origin)
		if serr != nil {
			return nil, k, serr
		}
		err = st.CreateLogKey(ctx, issuer.LogKey{Origin: origin, PublicKey: pub, Sealed: sealed, CreatedAt: time.Now().UTC()})
		if err != nil && !issuer.Is(err, issuer.ErrConflict) {
			return nil, k, err
		}
		k, err = st.LogKey(ctx)
	}
	if err != nil {
		return nil, k, err
	}
	priv, err := kek.Open(k.Sealed, tlog.KeyPurpose, k.Origin)
	if err != nil {
		return nil, k, &issuer.Error{Kind: issuer.ErrUnavailable, Code: "wrong_kek", Zh: "无法解开公开日志密钥：密钥加密密钥（KEK）不正确", En: "cannot open the public log key: wrong key-encryption key", Err: err}
	}
	return priv, k, nil
}

// LogVKey is the log's signed-note verifier key.
func LogVKey(k issuer.LogKey) (string, error) { return tlog.VerifierKey(k.Origin, k.PublicKey) }

// WitnessKey loads a witness's key from dir/key.sealed (sealed under the
// KEK with witness.KeyPurpose and bound to name), creating it if missing.
func WitnessKey(dir string, kek *keys.KEK, name string) (ed25519.PrivateKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "key.sealed")
	sealed, err := os.ReadFile(path) // #nosec G304 -- the operator's witness directory
	if errors.Is(err, os.ErrNotExist) {
		_, priv, gerr := keys.Generate()
		if gerr != nil {
			return nil, gerr
		}
		if sealed, err = kek.Seal(priv, witness.KeyPurpose, name); err != nil {
			return nil, err
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, sealed, 0o600); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, err
		}
		return priv, nil
	}
	if err != nil {
		return nil, err
	}
	priv, err := kek.Open(sealed, witness.KeyPurpose, name)
	if err != nil {
		return nil, fmt.Errorf("无法解开见证人密钥 %s（KEK 不正确或名称不同）/ cannot open the witness key %s (wrong KEK or another name): %w", path, path, err)
	}
	return priv, nil
}

// LocalWitness is a witness run inside certd on a loopback port: what a
// lone deployment (and the demo) has when no independent witnesses are
// configured. It proves little (it shares certd's machine and KEK) but keeps
// the log's machinery whole until real witnesses are named.
type LocalWitness struct {
	Witness *witness.Witness
	Name    string
	URL     string
	srv     *http.Server
}

// StartLocalWitness starts a witness named name with state in dir,
// following the log vkeys logs, on 127.0.0.1 (a free port).
func StartLocalWitness(dir string, kek *keys.KEK, name string, logs []string, log *slog.Logger) (*LocalWitness, error) {
	priv, err := WitnessKey(dir, kek, name)
	if err != nil {
		return nil, err
	}
	w, err := witness.New(witness.Config{Name: name, Key: priv, Dir: dir, Logs: logs, Logger: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: w, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, MaxHeaderBytes: 8 << 10}
	go func() { _ = srv.Serve(ln) }()
	return &LocalWitness{Witness: w, Name: name, URL: "http://" + ln.Addr().String(), srv: srv}, nil
}

// PolicyLine is the witness's line for a policy (with its loopback URL).
func (lw *LocalWitness) PolicyLine() tlog.PolicyWitness {
	return tlog.PolicyWitness{Name: lw.Name, VKey: lw.Witness.VerifierKey(), URL: lw.URL}
}

// Close stops the witness.
func (lw *LocalWitness) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return lw.srv.Shutdown(ctx)
}

// Policy is the full trust policy of a log: its key (served at logURL) and
// the witnesses, groups and quorum of w. Verifiers get it in the trust
// bundle (without the witnesses' URLs, which only the log needs).
func Policy(k issuer.LogKey, logURL string, w *tlog.Policy) (*tlog.Policy, error) {
	vkey, err := LogVKey(k)
	if err != nil {
		return nil, err
	}
	p := &tlog.Policy{Logs: []tlog.PolicyLog{{VKey: vkey, URL: logURL}}, Quorum: tlog.QuorumNone}
	if w != nil {
		p.Witnesses = append(p.Witnesses, w.Witnesses...)
		p.Groups = append(p.Groups, w.Groups...)
		p.Quorum = w.Quorum
	}
	return p, p.Validate()
}

// PublicPolicy is p without the witnesses' URLs: a verifier needs their keys
// only, and a loopback URL means nothing outside the machine.
func PublicPolicy(p *tlog.Policy) *tlog.Policy {
	q := *p
	q.Witnesses = make([]tlog.PolicyWitness, len(p.Witnesses))
	for i, w := range p.Witnesses {
		w.URL = ""
		q.Witnesses[i] = w
	}
	return &q
}
