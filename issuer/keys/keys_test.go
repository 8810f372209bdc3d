package keys

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	kek, err := NewKEK(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := Generate()
	sealed, err := kek.Seal(priv, "institution", "kid1")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, priv.Seed()) {
		t.Fatal("sealed form contains the seed in clear")
	}
	got, err := kek.Open(sealed, "institution", "kid1")
	if err != nil || !got.Equal(priv) {
		t.Fatalf("open: %v", err)
	}
	other, _ := NewKEK(bytes.Repeat([]byte{8}, 32))
	cases := map[string]func() (ed25519.PrivateKey, error){
		"wrong kek":     func() (ed25519.PrivateKey, error) { return other.Open(sealed, "institution", "kid1") },
		"wrong kid":     func() (ed25519.PrivateKey, error) { return kek.Open(sealed, "institution", "kid2") },
		"wrong purpose": func() (ed25519.PrivateKey, error) { return kek.Open(sealed, "authority", "kid1") },
		"truncated":     func() (ed25519.PrivateKey, error) { return kek.Open(sealed[:10], "institution", "kid1") },
		"flipped": func() (ed25519.PrivateKey, error) {
			b := bytes.Clone(sealed)
			b[len(b)-1] ^= 1
			return kek.Open(b, "institution", "kid1")
		},
	}
	for name, f := range cases {
		if _, err := f(); !errors.Is(err, ErrWrongKEK) {
			t.Errorf("%s: got %v, want ErrWrongKEK", name, err)
		}
	}
}

func TestKEKFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	k1, created, err := LoadOrCreateKEKFile(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("kek file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, created, err := LoadOrCreateKEKFile(path)
	if err != nil || created {
		t.Fatalf("reload: %v %v", created, err)
	}
	_, priv, _ := Generate()
	s, _ := k1.Seal(priv, "p", "k")
	if _, err := k2.Open(s, "p", "k"); err != nil {
		t.Fatal("reloaded KEK does not open what the created one sealed")
	}
	if _, err := ParseKEK([]byte("too short")); err == nil {
		t.Error("short KEK accepted")
	}
}

func TestDerive(t *testing.T) {
	raw := make([]byte, KEKSize)
	k1, _ := NewKEK(raw)
	raw2 := make([]byte, KEKSize)
	raw2[0] = 1
	k2, _ := NewKEK(raw2)
	a, b := k1.Derive("holder-code"), k1.Derive("wallet")
	if len(a) != 32 || string(a) == string(b) {
		t.Fatal("purposes must give different 32-byte keys")
	}
	if string(a) != string(k1.Derive("holder-code")) {
		t.Fatal("Derive must be deterministic")
	}
	if string(a) == string(k2.Derive("holder-code")) || string(a[:KEKSize]) == string(raw) {
		t.Fatal("a derived key must depend on the KEK and not be it")
	}
}
