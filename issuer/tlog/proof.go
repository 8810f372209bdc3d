package tlog

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// ProofHeader is the first line of a C2SP tlog-proof.
const ProofHeader = "c2sp.org/tlog-proof@v1"

// Proof limits: 63 hashes cover any tree of fewer than 2^63 entries; extra
// data for certd is a 32-byte salt.
const (
	maxProofHashes = 63
	maxExtraSize   = 1024
	// MaxProofSize bounds a whole tlog-proof.
	MaxProofSize = MaxCheckpointSize + 4096
)

// Proof is a C2SP tlog-proof (https://c2sp.org/tlog-proof): everything an
// offline verifier needs to check that an entry is in the log, given the
// entry's bytes and a Policy.
type Proof struct {
	// Extra is opaque application data, not authenticated by the proof. For a
	// certificate certd puts the number salt here, which the verifier needs
	// to rebuild the entry (and which the entry's hash then authenticates).
	Extra      []byte
	Index      uint64
	Hashes     [][]byte // RFC 6962 inclusion proof, leaf's sibling first
	Checkpoint []byte   // the cosigned checkpoint note, verbatim
}

// Marshal writes the proof in its text form.
func (p *Proof) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(ProofHeader + "\n")
	if len(p.Extra) > 0 {
		b.WriteString("extra " + base64.StdEncoding.EncodeToString(p.Extra) + "\n")
	}
	b.WriteString("index " + strconv.FormatUint(p.Index, 10) + "\n")
	for _, h := range p.Hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(p.Checkpoint)
	return b.Bytes()
}

// ParseProof parses the text form strictly (canonical decimal index, padded
// base64, 32-byte hashes, at most 63 of them).
func ParseProof(b []byte) (*Proof, error) {
	if len(b) > MaxProofSize {
		return nil, ErrMalformedProof
	}
	head, cp, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok || len(cp) == 0 {
		return nil, ErrMalformedProof
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != ProofHeader {
		return nil, ErrMalformedProof
	}
	lines = lines[1:]
	p := &Proof{Checkpoint: cp}
	if len(lines) > 0 {
		if v, ok := strings.CutPrefix(lines[0], "extra "); ok {
			x, err := base64.StdEncoding.Strict().DecodeString(v)
			if err != nil || len(x) == 0 || len(x) > maxExtraSize {
				return nil, ErrMalformedProof
			}
			p.Extra, lines = x, lines[1:]
		}
	}
	if len(lines) == 0 {
		return nil, ErrMalformedProof
	}
	v, ok := strings.CutPrefix(lines[0], "index ")
	i, err := strconv.ParseUint(v, 10, 64)
	if !ok || err != nil || strconv.FormatUint(i, 10) != v {
		return nil, ErrMalformedProof
	}
	p.Index, lines = i, lines[1:]
	if len(lines) > maxProofHashes {
		return nil, ErrMalformedProof
	}
	for _, l := range lines {
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != rfc6962.DefaultHasher.Size() {
			return nil, ErrMalformedProof
		}
		p.Hashes = append(p.Hashes, h)
	}
	return p, nil
}

// Inclusion is what a verified proof establishes.
type Inclusion struct {
	Index      uint64
	Extra      []byte
	Checkpoint *Checkpoint // verified, with its quorum; Checkpoint.NotAfter dates the entry
}

// VerifyProof checks a tlog-proof offline: the checkpoint against the policy
// (log key, cosignatures, quorum) and the inclusion of exactly the given entry
// bytes at the proof's index. Failures wrap ErrMalformedProof, ErrUnknownLog,
// ErrBadSignature, ErrQuorum, ErrMalformedCheckpoint or ErrInclusion.
func (p *Policy) VerifyProof(tlogProof []byte, entry []byte) (*Inclusion, error) {
	pr, err := ParseProof(tlogProof)
	if err != nil {
		return nil, err
	}
	return pr.Verify(p, entry)
}

// Verify checks a parsed proof; see Policy.VerifyProof.
func (pr *Proof) Verify(p *Policy, entry []byte) (*Inclusion, error) {
	cp, err := p.VerifyCheckpoint(pr.Checkpoint)
	if err != nil {
		return nil, err
	}
	if pr.Index >= cp.Size {
		return nil, ErrInclusion
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(entry)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, pr.Index, cp.Size, leaf, pr.Hashes, cp.Root[:]); err != nil {
		return nil, ErrInclusion
	}
	return &Inclusion{Index: pr.Index, Extra: pr.Extra, Checkpoint: cp}, nil
}
