package tlog

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// KeyPurpose is the purpose string to seal the log's private key with
// (keys.KEK.Seal), so a sealed log key cannot be opened as any other key.
const KeyPurpose = "tlog"

// VerifierKey returns the signed-note verifier key ("vkey") of a log: the
// origin as key name and the Ed25519 public key. It goes into the trust
// bundle's policy as a "log" line and into witnesses' configuration.
func VerifierKey(origin string, pub ed25519.PublicKey) (string, error) {
	return note.NewEd25519VerifierKey(origin, pub)
}

// CosignerKey returns the cosignature/v1 verifier key of a witness named name.
func CosignerKey(name string, pub ed25519.PublicKey) (string, error) {
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return "", err
	}
	return fnote.VKeyToCosignatureV1(vkey)
}

// NewSigner makes the note signer for a log's checkpoints from its private
// key. The key never leaves memory; only its encoded form is built here, and
// note.NewSigner checks that form against the public key.
func NewSigner(origin string, priv ed25519.PrivateKey) (note.Signer, error) {
	skey, err := signerKey(origin, priv)
	if err != nil {
		return nil, err
	}
	return note.NewSigner(skey)
}

// NewCosigner makes a witness's cosignature/v1 signer (timestamped with the
// current time at each signature).
func NewCosigner(name string, priv ed25519.PrivateKey) (note.Signer, error) {
	skey, err := signerKey(name, priv)
	if err != nil {
		return nil, err
	}
	// NewSignerForCosignatureV1 does not check the key hash it is given;
	// note.NewSigner does, so the encoding is proven right first.
	if _, err := note.NewSigner(skey); err != nil {
		return nil, err
	}
	return fnote.NewSignerForCosignatureV1(skey)
}

// signerKey encodes priv as a signed-note signer key. The key hash is taken
// from the verifier key the library computes, not recomputed here.
func signerKey(name string, priv ed25519.PrivateKey) (string, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("私钥长度错误 / private key must be %d bytes", ed25519.PrivateKeySize)
	}
	vkey, err := note.NewEd25519VerifierKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return "", err
	}
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || parts[0] != name {
		return "", fmt.Errorf("密钥名称 %q 无效 / invalid key name %q", name, name)
	}
	return "PRIVATE+KEY+" + name + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(append([]byte{algEd25519}, priv.Seed()...)), nil
}
