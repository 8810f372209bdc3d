package statuslist

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
)

// FuzzDecode feeds Decode both the input as an encodedList and the input as
// the GZIP bytes inside one ("u" + base64url), so the mutator works on the
// decompressor directly too. Decode must never panic, must fail only with
// its own errors, and whatever it accepts must be a list within the bounds
// that survives a round trip.
func FuzzDecode(f *testing.F) {
	kat, _ := FromIndexes(MinBits, []int{0, 7, 8, 131071})
	f.Add(kat.Encode())
	f.Add("uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA") // the Recommendation's example
	f.Add(mustList(f, MinBits+8, 100).Encode())
	f.Add("")
	f.Add("u")
	f.Add("z" + kat.Encode()[1:])
	raw, _ := base64.RawURLEncoding.DecodeString(kat.Encode()[1:])
	f.Add(string(raw)) // the GZIP bytes themselves, for the second path
	f.Add(string(raw[:len(raw)-4]))
	f.Add(string(gzipBytes(f, make([]byte, 16))))
	f.Fuzz(func(t *testing.T, in string) {
		check(t, in)
		check(t, "u"+base64.RawURLEncoding.EncodeToString([]byte(in)))
	})
}

func check(t *testing.T, in string) {
	s, err := Decode(in)
	if err != nil {
		if s != nil {
			t.Fatal("a list and an error")
		}
		if !errors.Is(err, ErrEncoding) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrLength) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		return
	}
	if n := s.Len(); n < MinBits || n > MaxBits || n%8 != 0 {
		t.Fatalf("accepted a list of %d bits", n)
	}
	again, err := Decode(s.Encode())
	if err != nil || !bytes.Equal(again.bits, s.bits) {
		t.Fatalf("round trip: %v", err)
	}
}
