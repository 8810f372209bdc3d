package statuslist

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// encodeRaw is "u" + base64url of b, for inputs Encode would never make.
func encodeRaw(b []byte) string { return "u" + base64.RawURLEncoding.EncodeToString(b) }

// gzipBytes compresses b as one GZIP member.
func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Known answer: index 0 is the most significant bit of the first byte, so
// bits 0, 7, 8 and 131071 are 0x81 0x80 … 0x01, nothing else set.
func TestKnownAnswer(t *testing.T) {
	s, err := FromIndexes(MinBits, []int{0, 7, 8, 131071})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 16384)
	want[0], want[1], want[16383] = 0x81, 0x80, 0x01
	if !bytes.Equal(s.bits, want) {
		t.Fatalf("bits differ from the expected bytes: first %x, last %x", s.bits[:2], s.bits[16383])
	}
	// What goes out is exactly those bytes, gzipped, in base64url after "u".
	enc := s.Encode()
	raw, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimPrefix(enc, "u"))
	if err != nil || enc[0] != 'u' {
		t.Fatalf("encodedList %.20q… is not u + base64url: %v", enc, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := got.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatal("the gzip member does not hold the expected bytes")
	}
	if enc != s.Encode() {
		t.Error("Encode is not deterministic")
	}
	d, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]bool{0: true, 1: false, 6: false, 7: true, 8: true, 9: false, 131070: false, 131071: true} {
		if got, err := d.Get(i); err != nil || got != want {
			t.Errorf("Get(%d) = %v, %v; want %v", i, got, err, want)
		}
	}
	if d.Count() != 4 || d.Len() != MinBits {
		t.Errorf("decoded %d bits with %d set, want %d with 4", d.Len(), d.Count(), MinBits)
	}
}

// The Recommendation's example encodedList (Example 3) is an empty list of
// the minimum size.
func TestSpecExample(t *testing.T) {
	s, err := Decode("uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA")
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != MinBits || s.Count() != 0 {
		t.Fatalf("spec example: %d bits, %d set", s.Len(), s.Count())
	}
}

func TestNewAndRange(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want error
	}{
		{MinBits, nil}, {MaxBits, nil}, {MinBits + 8, nil},
		{MinBits - 8, ErrLength}, {MinBits + 1, ErrLength}, {0, ErrLength}, {-8, ErrLength},
		{MaxBits + 8, ErrTooLarge},
	} {
		if _, err := New(tt.n); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("New(%d) = %v, want %v", tt.n, err, tt.want)
		}
	}
	s, _ := New(MinBits)
	for _, i := range []int{-1, MinBits, MinBits + 7, 1 << 40} {
		if _, err := s.Get(i); !errors.Is(err, ErrRange) {
			t.Errorf("Get(%d): %v, want ErrRange", i, err)
		}
		if err := s.Set(i, true); !errors.Is(err, ErrRange) {
			t.Errorf("Set(%d): %v, want ErrRange", i, err)
		}
	}
	if _, err := FromIndexes(MinBits, []int{5, MinBits}); !errors.Is(err, ErrRange) {
		t.Errorf("FromIndexes out of range: %v", err)
	}
	var zero Bitstring
	if _, err := zero.Get(0); !errors.Is(err, ErrRange) {
		t.Errorf("zero Bitstring Get(0): %v", err)
	}
	// Set false clears only its bit.
	if err := s.Set(9, true); err != nil {
		t.Fatal(err)
	}
	_ = s.Set(10, true)
	_ = s.Set(9, false)
	if a, _ := s.Get(9); a {
		t.Error("bit 9 still set")
	}
	if b, _ := s.Get(10); !b {
		t.Error("clearing bit 9 cleared bit 10")
	}
}

func TestDecodeBad(t *testing.T) {
	valid := mustList(t, MinBits, 3).Encode()
	validGz, _ := base64.RawURLEncoding.DecodeString(valid[1:])
	short := gzipBytes(t, make([]byte, MinBits/8-1))
	two := append(gzipBytes(t, make([]byte, MinBits/8)), gzipBytes(t, make([]byte, 8))...)
	huge := make([]byte, maxBytes+1)
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", "", ErrEncoding},
		{"prefix only", "u", ErrEncoding},
		{"multibase z (base58btc)", "z" + valid[1:], ErrEncoding},
		{"multibase m (base64 with padding)", "m" + valid[1:], ErrEncoding},
		{"no prefix", valid[1:], ErrEncoding},
		{"padding", valid + "==", ErrEncoding},
		{"standard base64 alphabet", "u" + strings.NewReplacer("-", "+", "_", "/").Replace(valid[1:]) + "+/", ErrEncoding},
		{"whitespace", valid[:10] + " " + valid[10:], ErrEncoding},
		{"not gzip (zlib)", encodeRaw([]byte{0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1}), ErrEncoding},
		{"not gzip (raw bits)", encodeRaw(make([]byte, MinBits/8)), ErrEncoding},
		{"truncated gzip", encodeRaw(validGz[:len(validGz)-5]), ErrEncoding},
		{"truncated deflate", encodeRaw(validGz[:len(validGz)/2]), ErrEncoding},
		{"bad crc", encodeRaw(append(append([]byte{}, validGz[:len(validGz)-8]...), 1, 2, 3, 4, 0, 0x40, 0, 0)), ErrEncoding},
		{"trailing garbage", encodeRaw(append(append([]byte{}, validGz...), 0)), ErrEncoding},
		{"two gzip members", encodeRaw(two), ErrEncoding},
		{"below 16 KiB", encodeRaw(short), ErrLength},
		{"empty list", encodeRaw(gzipBytes(t, nil)), ErrLength},
		{"tiny list", encodeRaw(gzipBytes(t, []byte{0xff})), ErrLength},
		{"one bit over MaxBits (by a byte)", encodeRaw(gzipBytes(t, huge)), ErrTooLarge},
		{"encoded too long", "u" + strings.Repeat("A", MaxEncodedLen), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Decode(tt.in)
			if !errors.Is(err, tt.want) || s != nil {
				t.Fatalf("Decode: %v, want %v", err, tt.want)
			}
			// Messages are bilingual, Chinese first.
			if msg := err.Error(); !strings.Contains(msg, " / ") || msg[0] < 0x80 {
				t.Errorf("message %q is not Chinese then English", msg)
			}
		})
	}
}

// A GZIP bomb (64 MiB of zeros in about 64 KiB) is cut off at the cap: it
// costs a few MiB of memory, not 64.
func TestDecodeBomb(t *testing.T) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // 65 KiB too, and fast
	chunk := make([]byte, 1<<20)
	for range 64 {
		_, _ = zw.Write(chunk)
	}
	_ = zw.Close()
	bomb := encodeRaw(buf.Bytes())
	if len(bomb) > MaxEncodedLen {
		t.Fatalf("the bomb (%d) should pass the encoded length check", len(bomb))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Decode(bomb)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("bomb: %v, want ErrTooLarge", err)
	}
	// The cap is 1 MiB of output; inflating also needs the decoded input and
	// flate's window. 64 MiB would show.
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Errorf("decoding the bomb allocated %d bytes", got)
	}
}

func TestRoundTripSizes(t *testing.T) {
	for _, n := range []int{MinBits, MinBits + 8, 1 << 20, MaxBits} {
		s := mustList(t, n, 1+n/1000)
		d, err := Decode(s.Encode())
		if err != nil {
			t.Fatalf("%d bits: %v", n, err)
		}
		if !bytes.Equal(d.bits, s.bits) {
			t.Fatalf("%d bits: round trip changed the list", n)
		}
	}
	// A list with every bit set does not compress and must still decode.
	full := bytes.Repeat([]byte{0xff}, maxBytes)
	rnd := make([]byte, maxBytes)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(rnd)
	for name, b := range map[string][]byte{"all set": full, "random": rnd} {
		s := &Bitstring{bits: b}
		enc := s.Encode()
		if len(enc) > MaxEncodedLen {
			t.Fatalf("%s: MaxEncodedLen %d is below a real encoding (%d)", name, MaxEncodedLen, len(enc))
		}
		if d, err := Decode(enc); err != nil || !bytes.Equal(d.bits, b) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// mustList is a list of n bits with k distinct random bits set (fixed seed).
func mustList(t testing.TB, n, k int) *Bitstring {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(n), uint64(k))) //nolint:gosec // test data
	s, err := New(n)
	if err != nil {
		t.Fatal(err)
	}
	for set := 0; set < k; {
		i := r.IntN(n)
		if v, _ := s.Get(i); !v {
			_ = s.Set(i, true)
			set++
		}
	}
	return s
}

func TestRandomFree(t *testing.T) {
	rnd := rand.NewChaCha8([32]byte{1})

	// Sparse: every draw is free and inside the list.
	s := mustList(t, MinBits, MinBits/100)
	for range 1000 {
		i, err := s.RandomFree(rnd)
		if err != nil {
			t.Fatal(err)
		}
		if set, err := s.Get(i); err != nil || set {
			t.Fatalf("RandomFree gave %d, which is allocated (%v)", i, err)
		}
	}

	// Nearly full: the draws miss and the count fallback must find the few
	// free indexes, each about equally often.
	free := []int{0, 4242, 77777, MinBits - 1}
	full, _ := New(MinBits)
	for i := range full.bits {
		full.bits[i] = 0xff
	}
	for _, i := range free {
		_ = full.Set(i, false)
	}
	counts := map[int]int{}
	for range 2000 {
		i, err := full.RandomFree(rnd)
		if err != nil {
			t.Fatal(err)
		}
		counts[i]++
	}
	for _, i := range free {
		// Expected 500 each; with a fixed seed this is deterministic, and
		// for a fair draw a count outside 380..620 is a six-sigma event.
		if c := counts[i]; c < 380 || c > 620 {
			t.Errorf("index %d drawn %d times of 2000: %v", i, c, counts)
		}
	}
	if len(counts) != len(free) {
		t.Errorf("drew indexes outside the free set: %v", counts)
	}

	// Full: an error, not an endless loop.
	_ = full.Set(0, true)
	_ = full.Set(4242, true)
	_ = full.Set(77777, true)
	_ = full.Set(MinBits-1, true)
	if _, err := full.RandomFree(rnd); !errors.Is(err, ErrFull) {
		t.Errorf("full list: %v, want ErrFull", err)
	}
	var empty Bitstring
	if _, err := empty.RandomFree(rnd); !errors.Is(err, ErrFull) {
		t.Errorf("empty Bitstring: %v, want ErrFull", err)
	}
	// A failing randomness source is reported, not turned into an index.
	if _, err := s.RandomFree(bytes.NewReader(nil)); err == nil {
		t.Error("RandomFree with an empty reader returned no error")
	}
}

func TestRandIntnUniform(t *testing.T) {
	// n = 3 needs rejection (mask 3): value 3 must never come out and the
	// others must be even.
	rnd := rand.NewChaCha8([32]byte{2})
	var c [4]int
	for range 30000 {
		v, err := randIntn(rnd, 3)
		if err != nil {
			t.Fatal(err)
		}
		c[v]++
	}
	if c[3] != 0 || c[0] < 9500 || c[1] < 9500 || c[2] < 9500 {
		t.Errorf("randIntn(3) counts %v", c)
	}
}
