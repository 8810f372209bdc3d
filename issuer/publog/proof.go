package publog

import (
	"context"
	"errors"
	"strings"
	"sync"

	"certd/issuer"
	"certd/issuer/credential"
	"certd/issuer/tlog"
)

// Why a certificate has no proof.
var (
	// ErrNotLogged: the certificate has no issuance entry in the outbox: it
	// never went through certd's issuing (written straight into the
	// database), or predates the log.
	ErrNotLogged = errors.New("证书不在公开日志中 / the certificate is not in the public log")
)

// Prover builds certificates' proofs from the outbox (which entry, which
// salt) and the log's files.
type Prover struct {
	Store  issuer.LogStore
	Reader *tlog.Reader

	mu    sync.Mutex
	cache map[string][]byte // number → proof built on the archived first checkpoint
}

// proofCacheSize bounds the proofs kept in memory (about 1.5 KB each). A
// proof built on the first checkpoint that covered its entry never changes,
// so a kept one is always right; the cache only saves the database read and
// the tile reads of a popular certificate.
const proofCacheSize = 8192

// Proof returns the C2SP tlog-proof of the certificate's issuance entry,
// with the salt (and, for a reissue, the superseded certificate's number
// commitment) in its extra line. ErrNotLogged when there is no entry;
// tlog.ErrNotPublished while no published checkpoint covers it yet.
func (p *Prover) Proof(ctx context.Context, number string) ([]byte, error) {
	p.mu.Lock()
	proof, ok := p.cache[number]
	p.mu.Unlock()
	if ok {
		return proof, nil
	}
	rs, err := p.Store.LogRecords(ctx, issuer.LogFilter{Subject: number})
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.Kind != string(tlog.Issued) && r.Kind != string(tlog.Reissued) {
			continue
		}
		if !r.Indexed {
			return nil, tlog.ErrNotPublished
		}
		e, err := tlog.DecodeEntry(r.Entry)
		if err != nil {
			return nil, err
		}
		extra := append([]byte(nil), r.Salt...)
		if e.Kind == tlog.Reissued {
			extra = append(extra, e.Replaces[:]...)
		}
		first, err := p.Reader.FirstCheckpoint(r.Index)
		if err != nil {
			// Not archived (yet, or the archive was lost): the latest.
			return p.Reader.Prove(ctx, r.Index, extra)
		}
		proof, err := p.Reader.ProveAt(ctx, r.Index, first, extra)
		if err != nil {
			return nil, err
		}
		p.keep(number, proof)
		return proof, nil
	}
	return nil, ErrNotLogged
}

// RecordEntry rebuilds a certificate's issuance entry from its signed
// record and the extra data of its proof (the 32-byte salt, then for a
// reissue the superseded certificate's 32-byte number commitment). Nothing
// in it is trusted: the proof's inclusion check authenticates the result.
func RecordEntry(token string, extra []byte) ([]byte, error) {
	if len(extra) != 32 && len(extra) != 64 {
		return nil, tlog.ErrMalformedProof
	}
	var c credential.CertificateClaims
	u, err := credential.Decode(token, credential.TypeCertificate, &c)
	if err != nil {
		return nil, err
	}
	if c.IssuedAt == nil {
		return nil, credential.ErrMalformed
	}
	inst, ok := strings.CutPrefix(c.Issuer.ID, "urn:certd:institution:")
	if !ok {
		return nil, credential.ErrMalformed
	}
	kind, replaces := tlog.Issued, tlog.Hash{}
	if len(extra) == 64 {
		kind = tlog.Reissued
		copy(replaces[:], extra[32:])
	}
	a := c.CredentialSubject.Achievement
	e, err := issuer.CertificateEntry(kind, inst, u.Header.Kid, a.OccupationCode, a.Level, a.Number, token, extra[:32], replaces, c.IssuedAt.Time)
	if err != nil {
		return nil, err
	}
	return e.Encode()
}

// VerifyRecord checks a certificate's tlog-proof offline against the
// policy: the checkpoint (log key, witnesses' quorum) and the inclusion of
// the entry rebuilt from the record. The Inclusion's Checkpoint.NotAfter is
// the verifiable "issued no later than".
func VerifyRecord(p *tlog.Policy, proof []byte, token string) (*tlog.Inclusion, error) {
	pr, err := tlog.ParseProof(proof)
	if err != nil {
		return nil, err
	}
	entry, err := RecordEntry(token, pr.Extra)
	if err != nil {
		return nil, errors.Join(tlog.ErrInclusion, err)
	}
	return pr.Verify(p, entry)
}

func (p *Prover) keep(number string, proof []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cache == nil {
		p.cache = make(map[string][]byte)
	}
	if len(p.cache) >= proofCacheSize {
		for k := range p.cache { // evict one, any: map order is random
			delete(p.cache, k)
			break
		}
	}
	p.cache[number] = proof
}
