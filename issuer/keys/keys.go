// Package keys keeps private signing keys sealed at rest.
//
// certd holds two kinds of Ed25519 private keys: the authority's (it signs
// institutions' registrations) and each institution's (they sign
// certificates). Both are stored only in sealed form: AES-256-GCM under a
// key-encryption key (KEK) that lives outside the database, given by a file
// or an environment variable. A stolen database backup therefore yields no
// usable key, and a wrong KEK is detected at once rather than producing bad
// signatures.
//
// The sealed form binds the key to its purpose and key ID through the GCM
// additional data, so a sealed blob copied onto another key's row does not
// open.
package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KEKSize is the length of a key-encryption key in bytes.
const KEKSize = 32

// KEK is a key-encryption key.
type KEK struct {
	aead cipher.AEAD
	// derive is HMAC-SHA256(raw KEK, "certd-kek-derive/v1"): the root of
	// the keys Derive gives out, so that no derived key is the KEK itself.
	derive []byte
}

// ErrWrongKEK means a sealed key did not open: the KEK is not the one the key
// was sealed with, or the sealed bytes were altered.
var ErrWrongKEK = errors.New("密钥加密密钥（KEK）不正确，或加密的私钥已被篡改 / wrong key-encryption key, or the sealed private key was altered")

// NewKEK builds a KEK from 32 raw bytes.
func NewKEK(raw []byte) (*KEK, error) {
	if len(raw) != KEKSize {
		return nil, fmt.Errorf("密钥加密密钥应为%d字节，实际为%d字节 / key-encryption key must be %d bytes, got %d", KEKSize, len(raw), KEKSize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte("certd-kek-derive/v1"))
	return &KEK{aead: aead, derive: mac.Sum(nil)}, nil
}

// Derive returns a 32-byte key for one purpose (HMAC-SHA256 under a key
// derived from the KEK): keys that must survive restarts and be the same
// on every instance, and that a copy of the database alone must not give
// away, such as the holder codes' HMAC key and the holder wallet's cookie
// key. Different purposes give independent keys.
func (k *KEK) Derive(purpose string) []byte {
	mac := hmac.New(sha256.New, k.derive)
	mac.Write([]byte(purpose))
	return mac.Sum(nil)
}

// ParseKEK accepts the textual forms an operator is likely to store: 64 hex
// digits or base64 (standard or URL alphabet) of 32 bytes, or the 32 raw
// bytes themselves. Surrounding white space is ignored.
func ParseKEK(b []byte) (*KEK, error) {
	s := strings.TrimSpace(string(b))
	if raw, err := hex.DecodeString(s); err == nil && len(raw) == KEKSize {
		return NewKEK(raw)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil && len(raw) == KEKSize {
			return NewKEK(raw)
		}
	}
	if len(b) == KEKSize {
		return NewKEK(b)
	}
	return nil, fmt.Errorf("密钥加密密钥格式无法识别（需要32字节，以64位十六进制或base64表示） / key-encryption key not recognised (need 32 bytes as 64 hex digits or base64)")
}

// LoadKEKFile reads a KEK file. A missing file is an error wrapping
// os.ErrNotExist: see LoadOrCreateKEKFile for the one place that may create it.
func LoadKEKFile(path string) (*KEK, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- path is the operator's --kek-file setting
	if err != nil {
		return nil, err
	}
	kek, err := ParseKEK(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return kek, nil
}

// LoadOrCreateKEKFile reads a KEK file, or creates one with a fresh random
// key, readable by its owner only, when it does not exist. created tells the
// caller to warn that production should keep the KEK elsewhere. Only the
// default location inside the data directory is created this way; a path
// the operator named must exist (LoadKEKFile).
func LoadOrCreateKEKFile(path string) (kek *KEK, created bool, err error) {
	kek, err = LoadKEKFile(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return kek, false, err
	}
	raw := make([]byte, KEKSize)
	if _, err := rand.Read(raw); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- path is the operator's --kek-file setting
	if err != nil {
		return nil, false, err
	}
	// The key must be on disk before anything is sealed with it. A file that
	// could not be written whole is removed: left behind, its partial key
	// would refuse every later start.
	_, err = f.WriteString(hex.EncodeToString(raw) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path) // the write error is the one to report
		return nil, false, err
	}
	kek, err = NewKEK(raw)
	return kek, true, err
}

const sealVersion = 1

// Seal encrypts an Ed25519 private key. purpose and kid are bound into the
// ciphertext and must be given again to Open.
func (k *KEK) Seal(priv ed25519.PrivateKey, purpose, kid string) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte{sealVersion}, nonce...)
	return k.aead.Seal(out, nonce, priv.Seed(), aad(purpose, kid)), nil
}

// Open decrypts a sealed key; ErrWrongKEK if it does not open.
func (k *KEK) Open(sealed []byte, purpose, kid string) (ed25519.PrivateKey, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < 1+ns || sealed[0] != sealVersion {
		return nil, ErrWrongKEK
	}
	seed, err := k.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad(purpose, kid))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, ErrWrongKEK
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// SealSecret encrypts a short secret that is not a signing key (a TOTP
// shared secret) the same way, bound to purpose and kid.
func (k *KEK) SealSecret(secret []byte, purpose, kid string) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte{sealVersion}, nonce...)
	return k.aead.Seal(out, nonce, secret, aad(purpose, kid)), nil
}

// OpenSecret decrypts what SealSecret sealed; ErrWrongKEK if it does not
// open under this key, purpose and kid.
func (k *KEK) OpenSecret(sealed []byte, purpose, kid string) ([]byte, error) {
	ns := k.aead.NonceSize()
	if len(sealed) < 1+ns || sealed[0] != sealVersion {
		return nil, ErrWrongKEK
	}
	secret, err := k.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad(purpose, kid))
	if err != nil {
		return nil, ErrWrongKEK
	}
	return secret, nil
}

func aad(purpose, kid string) []byte {
	return []byte("certd-sealed-key/v1\x00" + purpose + "\x00" + kid)
}

// Generate makes a new Ed25519 key pair.
func Generate() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}
