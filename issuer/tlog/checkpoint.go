package tlog

import (
	"bytes"
	"errors"
	"sort"
	"strings"
	"time"

	flog "github.com/transparency-dev/formats/log"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// MaxCheckpointSize bounds a checkpoint note (three lines and a few dozen
// signatures fit in a fraction of it).
const MaxCheckpointSize = 16 << 10

// Checkpoint is a checkpoint whose signatures were verified against a Policy.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   Hash
	// Cosignatures are the valid cosignatures of the policy's witnesses,
	// earliest first. Signatures of keys the policy does not know are ignored.
	Cosignatures []Cosignature
	// NotAfter is the moment by which the policy's quorum had cosigned this
	// checkpoint: the earliest time T such that the witnesses whose
	// cosignatures are dated at or before T satisfy the quorum. Everything the
	// checkpoint covers existed by then, on the policy's own trust assumption
	// (a quorum does not lie). Zero when the quorum is "none".
	NotAfter time.Time
	// Note is the checkpoint as received.
	Note []byte
}

// Cosignature is one witness's verified, timestamped cosignature.
type Cosignature struct {
	Witness string // the witness's name in the policy
	Time    time.Time
}

// Earliest is the earliest cosignature time, or zero. It is what a single
// witness claims; NotAfter is what the quorum vouches for.
func (c *Checkpoint) Earliest() time.Time {
	if len(c.Cosignatures) == 0 {
		return time.Time{}
	}
	return c.Cosignatures[0].Time
}

// VerifyCheckpoint checks a checkpoint note: signed by one of the policy's
// keys for its origin, well formed, and cosigned by the quorum.
func (p *Policy) VerifyCheckpoint(cp []byte) (*Checkpoint, error) {
	c, err := p.openCheckpoint(cp)
	if err != nil {
		return nil, err
	}
	cosigned := map[string]bool{}
	for _, cs := range c.Cosignatures {
		cosigned[cs.Witness] = true
		if c.NotAfter.IsZero() && p.satisfied(cosigned) {
			c.NotAfter = cs.Time
		}
	}
	if !p.satisfied(cosigned) {
		return nil, ErrQuorum
	}
	return c, nil
}

// openCheckpoint verifies the log signature and the witness cosignatures that
// are present, without asking for the quorum.
func (p *Policy) openCheckpoint(cp []byte) (*Checkpoint, error) {
	if len(cp) > MaxCheckpointSize {
		return nil, ErrMalformedCheckpoint
	}
	origin, _, _ := strings.Cut(string(cp), "\n")
	var logs []note.Verifier
	for _, l := range p.Logs {
		if vkeyName(l.VKey) != origin {
			continue
		}
		v, err := logVerifier(l.VKey)
		if err != nil {
			return nil, err
		}
		logs = append(logs, v)
	}
	if len(logs) == 0 {
		return nil, ErrUnknownLog
	}
	witnesses := make(map[note.Verifier]string, len(p.Witnesses))
	verifiers := append([]note.Verifier(nil), logs...)
	for _, w := range p.Witnesses {
		v, err := witnessVerifier(w.VKey)
		if err != nil {
			return nil, err
		}
		witnesses[v] = w.Name
		verifiers = append(verifiers, v)
	}
	n, err := note.Open(cp, note.VerifierList(verifiers...))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return nil, ErrUnknownLog
		case errors.As(err, &invalid):
			return nil, ErrBadSignature
		}
		return nil, ErrMalformedCheckpoint
	}
	signedByLog := false
	c := &Checkpoint{Note: cp}
	for _, s := range n.Sigs {
		for _, v := range logs {
			if s.Name == v.Name() && s.Hash == v.KeyHash() {
				signedByLog = true
			}
		}
		for v, name := range witnesses {
			if s.Name == v.Name() && s.Hash == v.KeyHash() {
				t, err := fnote.CoSigV1Timestamp(s)
				if err != nil {
					return nil, ErrBadSignature
				}
				c.Cosignatures = append(c.Cosignatures, Cosignature{Witness: name, Time: t})
			}
		}
	}
	if !signedByLog {
		return nil, ErrUnknownLog
	}
	if err := parseCheckpointText(n.Text, c); err != nil {
		return nil, err
	}
	sort.SliceStable(c.Cosignatures, func(i, j int) bool { return c.Cosignatures[i].Time.Before(c.Cosignatures[j].Time) })
	return c, nil
}

// parseCheckpointText reads origin, size and root, and refuses any second
// spelling (leading zeroes, short hashes, extension lines: certd's log writes
// none, so one appearing is a sign of something else signing with its key).
func parseCheckpointText(text string, c *Checkpoint) error {
	var fc flog.Checkpoint
	rest, err := fc.Unmarshal([]byte(text))
	if err != nil || len(rest) != 0 || len(fc.Hash) != len(c.Root) || !bytes.Equal(fc.Marshal(), []byte(text)) {
		return ErrMalformedCheckpoint
	}
	c.Origin, c.Size = fc.Origin, fc.Size
	copy(c.Root[:], fc.Hash)
	return nil
}

// checkpointSize reads the size of an unverified checkpoint (for the log's own
// files, which it wrote itself).
func checkpointSize(cp []byte) (uint64, bool) {
	text, _, ok := bytes.Cut(cp, []byte("\n\n"))
	if !ok {
		return 0, false
	}
	var c Checkpoint
	if parseCheckpointText(string(text)+"\n", &c) != nil {
		return 0, false
	}
	return c.Size, true
}
