package tlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	flog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// fixedCosigner signs cosignature/v1 with a chosen timestamp, so that tests
// can order witnesses in time. The verifier in the policy (from the formats
// package) checks these signatures, which also checks this construction.
type fixedCosigner struct {
	note.Signer // for Name and KeyHash
	key         ed25519.PrivateKey
	at          int64
}

func (s fixedCosigner) Sign(msg []byte) ([]byte, error) {
	m := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", s.at, msg)
	return append(binary.BigEndian.AppendUint64(nil, uint64(s.at)), ed25519.Sign(s.key, m)...), nil
}

func cosignerAt(t testing.TB, name string, seed byte, at int64) note.Signer {
	t.Helper()
	s, err := NewCosigner(name, seededKey(seed))
	if err != nil {
		t.Fatal(err)
	}
	return fixedCosigner{Signer: s, key: seededKey(seed), at: at}
}

const testOrigin = "certd.example/log"

// threeWitnessPolicy: the log (seed 1) and witnesses w1..w3 (seeds 11..13), quorum 2.
func threeWitnessPolicy(t testing.TB) *Policy {
	p, err := ParsePolicy([]byte(fmt.Sprintf("log %s\nwitness w1 %s\nwitness w2 %s\nwitness w3 %s\ngroup two 2 w1 w2 w3\nquorum two\n",
		logVKey(t, testOrigin, 1), witnessVKey(t, "w1.example", 11), witnessVKey(t, "w2.example", 12), witnessVKey(t, "w3.example", 13))))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func signCheckpoint(t testing.TB, size uint64, root []byte, signers ...note.Signer) []byte {
	t.Helper()
	text := flog.Checkpoint{Origin: testOrigin, Size: size, Hash: root}.Marshal()
	b, err := note.Sign(&note.Note{Text: string(text)}, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func logSigner(t testing.TB, seed byte) note.Signer {
	t.Helper()
	s, err := NewSigner(testOrigin, seededKey(seed))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyCheckpointQuorumAndTime(t *testing.T) {
	p := threeWitnessPolicy(t)
	root := bytes.Repeat([]byte{7}, 32)
	w1 := cosignerAt(t, "w1.example", 11, 1_800_000_300)
	w2 := cosignerAt(t, "w2.example", 12, 1_800_000_100)
	w3 := cosignerAt(t, "w3.example", 13, 1_800_000_200)
	stranger := cosignerAt(t, "w9.example", 99, 1_700_000_000)

	cp, err := p.VerifyCheckpoint(signCheckpoint(t, 10, root, logSigner(t, 1), w1, w2, w3, stranger))
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 10 || cp.Origin != testOrigin || !bytes.Equal(cp.Root[:], root) || len(cp.Cosignatures) != 3 {
		t.Fatalf("checkpoint %+v", cp)
	}
	// The stranger's early date counts for nothing; the quorum (two of
	// three) was complete when the second witness signed.
	if got, want := cp.NotAfter, time.Unix(1_800_000_200, 0); !got.Equal(want) {
		t.Errorf("NotAfter = %v, want %v", got, want)
	}
	if got, want := cp.Earliest(), time.Unix(1_800_000_100, 0); !got.Equal(want) {
		t.Errorf("Earliest = %v, want %v", got, want)
	}

	for name, tc := range map[string]struct {
		cp   []byte
		want error
	}{
		"one cosignature":           {signCheckpoint(t, 10, root, logSigner(t, 1), w1), ErrQuorum},
		"witnesses only":            {signCheckpoint(t, 10, root, w1, w2, w3), ErrUnknownLog},
		"unknown log key":           {signCheckpoint(t, 10, root, logSigner(t, 2), w1, w2), ErrUnknownLog},
		"unknown origin":            {bytes.Replace(signCheckpoint(t, 10, root, logSigner(t, 1), w1, w2), []byte(testOrigin), []byte("other.example/log"), 1), ErrUnknownLog},
		"short root":                {signCheckpoint(t, 10, root[:31], logSigner(t, 1), w1, w2), ErrMalformedCheckpoint},
		"not a note":                {[]byte("certd.example/log\n10\n"), ErrMalformedCheckpoint},
		"cosignature of other cp":   {append(signCheckpoint(t, 10, root, logSigner(t, 1), w1), lastLine(signCheckpoint(t, 11, root, w2))...), ErrBadSignature},
		"log signature of other cp": {append(signCheckpoint(t, 10, root, w1, w2), lastLine(signCheckpoint(t, 11, root, logSigner(t, 1)))...), ErrBadSignature},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := p.VerifyCheckpoint(tc.cp); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func lastLine(b []byte) []byte {
	i := bytes.LastIndex(b[:len(b)-1], []byte("\n"))
	return b[i+1:]
}

func TestProofTextRoundTrip(t *testing.T) {
	cp := signCheckpoint(t, 3, bytes.Repeat([]byte{7}, 32), logSigner(t, 1))
	for _, p := range []*Proof{
		{Index: 0, Checkpoint: cp},
		{Extra: []byte("salt"), Index: 2, Hashes: [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)}, Checkpoint: cp},
	} {
		b := p.Marshal()
		got, err := ParseProof(b)
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		if !bytes.Equal(got.Marshal(), b) {
			t.Fatalf("round trip:\n%s\n%s", b, got.Marshal())
		}
	}
}

func TestParseProofRefuses(t *testing.T) {
	cp := string(signCheckpoint(t, 3, bytes.Repeat([]byte{7}, 32), logSigner(t, 1)))
	h := strings.Repeat("A", 43) + "="
	for name, src := range map[string]string{
		"no header":          "index 1\n\n" + cp,
		"other version":      "c2sp.org/tlog-proof@v2\nindex 1\n\n" + cp,
		"no index":           ProofHeader + "\n" + h + "\n\n" + cp,
		"index leading zero": ProofHeader + "\nindex 01\n\n" + cp,
		"negative index":     ProofHeader + "\nindex -1\n\n" + cp,
		"extra after index":  ProofHeader + "\nindex 1\nextra AAAA\n\n" + cp,
		"empty extra":        ProofHeader + "\nextra \nindex 1\n\n" + cp,
		"short hash":         ProofHeader + "\nindex 1\nAAAA\n\n" + cp,
		"unpadded hash":      ProofHeader + "\nindex 1\n" + strings.Repeat("A", 43) + "\n\n" + cp,
		"64 hashes":          ProofHeader + "\nindex 1\n" + strings.Repeat(h+"\n", 64) + "\n" + cp,
		"no checkpoint":      ProofHeader + "\nindex 1\n\n",
		"no blank line":      ProofHeader + "\nindex 1\n" + cp,
		"too large":          ProofHeader + "\nindex 1\n\n" + cp + strings.Repeat("x", MaxProofSize),
	} {
		t.Run(name, func(t *testing.T) {
			if p, err := ParseProof([]byte(src)); !errors.Is(err, ErrMalformedProof) {
				t.Fatalf("accepted %q as %+v (err %v)", src, p, err)
			}
		})
	}
}

func FuzzParseProof(f *testing.F) {
	cp := signCheckpoint(f, 3, bytes.Repeat([]byte{7}, 32), logSigner(f, 1))
	f.Add((&Proof{Extra: []byte("x"), Index: 2, Hashes: [][]byte{bytes.Repeat([]byte{1}, 32)}, Checkpoint: cp}).Marshal())
	f.Add((&Proof{Index: 0, Checkpoint: cp}).Marshal())
	p := threeWitnessPolicy(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		pr, err := ParseProof(b)
		if err != nil {
			return
		}
		if !bytes.Equal(pr.Marshal(), b) {
			t.Fatalf("parsed %q but it marshals as %q", b, pr.Marshal())
		}
		// Verifying anything that parses must not panic; it must not
		// succeed either, without the witnesses' keys.
		if _, err := pr.Verify(p, []byte("entry")); err == nil {
			t.Fatal("a fuzzed proof verified")
		}
	})
}
