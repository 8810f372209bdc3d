package tlog

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func hashOf(b byte) Hash {
	var h Hash
	for i := range h {
		h[i] = b
	}
	return h
}

const testKID = "3q1CCAY1pRnPb_lx6bB9cT4ONHUvdTcTwxPd2DxBAGk"

// sampleEntries has one entry of every kind.
func sampleEntries() []Entry {
	return []Entry{
		{Kind: Issued, Institution: "jlvtc", KeyID: testKID, Occupation: "4-04-05-01", Level: 3, Day: "2026-12-02", Number: hashOf(1), Record: hashOf(2)},
		{Kind: Revoked, Institution: "jlvtc", KeyID: testKID, Occupation: "4-04-05-01", Level: 3, Day: "2026-12-03", Number: hashOf(1), Record: hashOf(2)},
		{Kind: Reissued, Institution: "jlvtc", KeyID: testKID, Occupation: "4-04-05-01", Level: 3, Day: "2026-12-03", Number: hashOf(3), Replaces: hashOf(1), Record: hashOf(4)},
		{Kind: Registration, Institution: "jlvtc", KeyID: testKID, Day: "2026-01-05", Record: hashOf(5)},
		{Kind: KeyAdded, Institution: "jlvtc", KeyID: testKID, Day: "2026-01-05", Record: hashOf(5)},
		{Kind: KeyRetired, Institution: "demo", KeyID: testKID, Day: "2027-01-05", Record: hashOf(6)},
	}
}

func TestEntryRoundTrip(t *testing.T) {
	for _, e := range sampleEntries() {
		t.Run(string(e.Kind), func(t *testing.T) {
			b, err := e.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeEntry(b)
			if err != nil {
				t.Fatalf("decode %q: %v", b, err)
			}
			if got != e {
				t.Fatalf("round trip changed the entry:\n%+v\n%+v", got, e)
			}
			if len(b) > MaxEntrySize/2 {
				t.Errorf("entry is %d bytes; the bound assumes well under %d", len(b), MaxEntrySize)
			}
		})
	}
}

// TestEntryGolden freezes the v1 byte format: a change here breaks every
// existing log and must come with a new EntryHeader.
func TestEntryGolden(t *testing.T) {
	want, err := os.ReadFile("testdata/entry-reissued-v1.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := sampleEntries()[2].Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding changed:\n%s\nwant:\n%s", got, want)
	}
}

func TestEntryValidate(t *testing.T) {
	base := sampleEntries()[0]
	for name, edit := range map[string]func(*Entry){
		"unknown kind":               func(e *Entry) { e.Kind = "deleted" },
		"issued without record":      func(e *Entry) { e.Record = Hash{} },
		"issued without number":      func(e *Entry) { e.Number = Hash{} },
		"issued with replaces":       func(e *Entry) { e.Replaces = hashOf(9) },
		"registration with level":    func(e *Entry) { e.Kind, e.Number, e.Occupation = Registration, Hash{}, "" },
		"uppercase institution":      func(e *Entry) { e.Institution = "JLVTC" },
		"institution with space":     func(e *Entry) { e.Institution = "jl vtc" },
		"short key id":               func(e *Entry) { e.KeyID = "abc" },
		"key id with padding":        func(e *Entry) { e.KeyID = testKID[:42] + "=" },
		"key id with stray bits":     func(e *Entry) { e.KeyID = testKID[:42] + "l" },
		"occupation shape":           func(e *Entry) { e.Occupation = "4-4-05-01" },
		"full-width digit in code":   func(e *Entry) { e.Occupation = "４-04-05-01" },
		"level 0 means absent":       func(e *Entry) { e.Level = 0 },
		"level 6":                    func(e *Entry) { e.Level = 6 },
		"impossible day":             func(e *Entry) { e.Day = "2026-02-30" },
		"day with time":              func(e *Entry) { e.Day = "2026-12-02T00:00:00Z" },
		"reissued without replaces":  func(e *Entry) { e.Kind = Reissued },
		"key event with occupation":  func(e *Entry) { e.Kind, e.Number, e.Level = KeyAdded, Hash{}, 0 },
		"revoked without occupation": func(e *Entry) { e.Kind, e.Occupation = Revoked, "" },
	} {
		t.Run(name, func(t *testing.T) {
			e := base
			edit(&e)
			if _, err := e.Encode(); !errors.Is(err, ErrMalformedEntry) {
				t.Fatalf("Encode accepted %+v (err %v)", e, err)
			}
		})
	}
}

func TestDecodeRefusesSecondSpellings(t *testing.T) {
	good, err := sampleEntries()[0].Encode()
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	swap := append([]string(nil), lines...)
	swap[2], swap[3] = swap[3], swap[2]
	withPlus := sampleEntries()[0]
	withPlus.Number = hashOf(0xfb) // base64 "+/v7..."
	wp, _ := withPlus.Encode()
	std := withPlus.Number.String()
	urlSafe := strings.Replace(string(wp), std, strings.NewReplacer("+", "-", "/", "_").Replace(std), 1)
	for name, bad := range map[string]string{
		"no final newline":     strings.TrimSuffix(s, "\n"),
		"CRLF":                 strings.ReplaceAll(s, "\n", "\r\n"),
		"two spaces":           strings.Replace(s, "kind issued", "kind  issued", 1),
		"tab":                  strings.Replace(s, "kind issued", "kind\tissued", 1),
		"fields reordered":     strings.Join(swap, "\n") + "\n",
		"leading zero level":   strings.Replace(s, "level 3", "level 03", 1),
		"plus level":           strings.Replace(s, "level 3", "level +3", 1),
		"unpadded hash":        strings.Replace(s, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE", 1),
		"url-safe hash":        urlSafe,
		"other header":         strings.Replace(s, EntryHeader, "certd.tlog.entry/v2", 1),
		"extra field":          s + "note hello\n",
		"duplicate field":      strings.Replace(s, "level 3\n", "level 3\nlevel 3\n", 1),
		"blank line":           s + "\n",
		"explicit zero hash":   strings.Replace(s, "record ", "replaces "+Hash{}.String()+"\nrecord ", 1),
		"too long":             s + strings.Repeat("x", MaxEntrySize),
		"empty":                "",
		"header only":          EntryHeader + "\n",
		"value with trailing ": strings.Replace(s, "kind issued", "kind issued ", 1),
	} {
		t.Run(name, func(t *testing.T) {
			if e, err := DecodeEntry([]byte(bad)); !errors.Is(err, ErrMalformedEntry) {
				t.Fatalf("decoded %q as %+v (err %v)", bad, e, err)
			}
		})
	}
}

// Known answers computed independently (Python hashlib) from the formulas in
// the doc comments.
func TestCommitmentsKnownAnswers(t *testing.T) {
	salt := make([]byte, SaltSize)
	for i := range salt {
		salt[i] = byte(i)
	}
	n, err := CommitNumber(salt, "Y000022000009263000001")
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(n[:]); got != "c865a9520df07b0b629eb0aab65e45493db54b4997a7d72bfc49184e46baeaac" {
		t.Errorf("CommitNumber = %s", got)
	}
	const header, payload = "eyJhbGciOiJFZERTQSIsInR5cCI6InZjK2p3dCJ9", "eyJqdGkiOiJ4In0"
	r, err := CommitRecord(header + "." + payload + ".c2ln")
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(r[:]); got != "3c048ae002ff54d2d3bd78e559952361aec0570eef1bf29807ee20786fcffd8b" {
		t.Errorf("CommitRecord = %s", got)
	}
	// The signature is not committed to: what was signed is.
	r2, err := CommitRecord(header + "." + payload + ".b3RoZXI")
	if err != nil || r2 != r {
		t.Errorf("another signature changed the commitment: %v", err)
	}
}

func TestCommitNumberSalted(t *testing.T) {
	s1, _ := NewSalt()
	s2, _ := NewSalt()
	a, _ := CommitNumber(s1, "Y000022000009263000001")
	b, _ := CommitNumber(s2, "Y000022000009263000001")
	if a == b {
		t.Fatal("two salts gave one commitment")
	}
	if _, err := CommitNumber(s1[:16], "x"); err == nil {
		t.Fatal("short salt accepted")
	}
	if _, err := CommitNumber(s1, ""); err == nil {
		t.Fatal("empty number accepted")
	}
}

func TestCommitRecordStrict(t *testing.T) {
	const header, payload = "eyJhbGciOiJFZERTQSIsInR5cCI6InZjK2p3dCJ9", "eyJqdGkiOiJ4In0"
	for name, tok := range map[string]string{
		"two segments":        header + "." + payload,
		"four segments":       header + "." + payload + ".c2ln.x",
		"padding":             header + "." + payload + "=.c2ln",
		"stray trailing bits": header + ".eyJqdGkiOiJ4In1.c2ln", // decodes to the same bytes leniently
		"standard alphabet":   header + "." + payload + ".c2+n",
		"empty payload":       header + "..c2ln",
		"empty signature":     header + "." + payload + ".",
		"whitespace":          header + " ." + payload + ".c2ln",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := CommitRecord(tok); !errors.Is(err, ErrMalformedRecord) {
				t.Fatalf("accepted %q (err %v)", tok, err)
			}
		})
	}
}

func TestDayOf(t *testing.T) {
	// 2026-12-02 17:30 UTC is already the 3rd in Beijing.
	if got := DayOf(time.Date(2026, 12, 2, 17, 30, 0, 0, time.UTC)); got != "2026-12-03" {
		t.Fatalf("DayOf = %s", got)
	}
}

func FuzzDecodeEntry(f *testing.F) {
	for _, e := range sampleEntries() {
		b, _ := e.Encode()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEntry(b)
		if err != nil {
			return
		}
		again, err := e.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded %q but it re-encodes as %q (%v)", b, again, err)
		}
	})
}
