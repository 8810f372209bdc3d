package issuer

import (
	"bytes"
	"testing"
)

// countSignatures counts exactly what bytes.Count counts over the whole
// input, signatures split across its blocks included.
func FuzzCountSignatures(f *testing.F) {
	block := 64 << 10
	f.Add([]byte("PK\x01\x02PK\x01\x02"), 0)
	f.Add(append(bytes.Repeat([]byte{'x'}, block-2), []byte("PK\x01\x02")...), block-2)
	f.Add(append(bytes.Repeat([]byte{'x'}, block-1), []byte("PK\x01\x02PK")...), 3)
	f.Fuzz(func(t *testing.T, data []byte, pad int) {
		if pad < 0 || pad > 3*block {
			pad = 0
		}
		data = append(bytes.Repeat([]byte{'P'}, pad), data...)
		got, err := countSignatures(bytes.NewReader(data), int64(len(data)), zipDirectorySignature)
		if err != nil || got != bytes.Count(data, zipDirectorySignature) {
			t.Fatalf("count %d (%v), want %d", got, err, bytes.Count(data, zipDirectorySignature))
		}
	})
}
