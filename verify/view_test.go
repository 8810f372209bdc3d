package verify

import (
	"strings"
	"testing"

	"certd/issuer"
)

func TestNormalizeNumber(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Y000022000001263000001", "Y000022000001263000001", true},
		{" y000022000001263000001\n", "Y000022000001263000001", true},
		{"Y00002200000126300000", "", false},
		{"Y0000220000012630000011", "", false},
		{"1000022000001263000001", "", false},
		{"Y000022000001260000001", "", false},                          // level 0
		{"Y000022000001263000000", "", false},                          // serial 0
		{"Y0000220000012630000０1", "Y000022000001263000001", true},     // full-width digit, typed with a Chinese input method
		{"Ｙ000022000001263000001", "Y000022000001263000001", true},     // full-width letter
		{"Y0000 2200 0001 2630 00001", "Y000022000001263000001", true}, // read out in groups
		{"Y-000022-000001-263-000001", "Y000022000001263000001", true},
		{"Y000022000001263\u3000000001", "Y000022000001263000001", true}, // ideographic space
		{"Y000022000001263\u00a0000001", "Y000022000001263000001", true}, // no-break space from a PDF
		{"Y00002200000126300000１２", "", false},                           // too long once folded
		{"'; DROP TABLE certificates; --", "", false},
		{strings.Repeat("Y", 100), "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeNumber(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeNumber(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if e, ok := issuer.AsError(err); err != nil && (!ok || e.Kind != issuer.ErrInvalid || e.Zh == "" || e.En == "") {
			t.Errorf("error for %q is not a bilingual issuer.Error of kind invalid: %#v", tt.in, err)
		}
	}
}

func TestNormalizeCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"ABCDEFGHJKLMNPQR", "ABCDEFGHJKLMNPQR", true},
		{"abcdefghjklmnpqr", "ABCDEFGHJKLMNPQR", true},
		{"ABCDEFGHJKLMNPQ", "", false},
		{"ABCDEFGHJKLMNPQ0", "", false}, // 0 is not in the alphabet
		{"ABCDEFGHJKLMNPQI", "", false},
		{"ABCDEFGHJKLMNPQ<", "", false},
		{"ABCDEFGHJKLMNPQRS", "", false},
		{"ABCD EFGH JKLM NPQR", "ABCDEFGHJKLMNPQR", true},
		{"ＡＢＣＤ-ＥＦＧＨ-ＪＫＬＭ-ＮＰＱＲ", "ABCDEFGHJKLMNPQR", true},
		{"ABCD EFGH JKLM NPQ", "", false},
	}
	for _, tt := range tests {
		if got, ok := NormalizeCode(tt.in); ok != tt.ok || got != tt.want {
			t.Errorf("NormalizeCode(%q) = %q %v", tt.in, got, ok)
		}
	}
}

func FuzzNormalizeNumber(f *testing.F) {
	for _, s := range []string{"Y000022000001263000001", " y000022000001263000001 ", "Y0", "<script>", "' OR 1=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeNumber(s)
		if err != nil {
			return
		}
		if len(n) != 22 || n[0] < 'A' || n[0] > 'Z' {
			t.Fatalf("accepted %q as %q", s, n)
		}
		if again, err := NormalizeNumber(n); err != nil || again != n {
			t.Fatalf("not idempotent: %q", n)
		}
	})
}

func FuzzNormalizeCode(f *testing.F) {
	f.Add("ABCDEFGHJKLMNPQR")
	f.Add("abcdefghjklmnpqr")
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := NormalizeCode(s)
		if !ok {
			return
		}
		for i := 0; i < len(c); i++ {
			if !strings.ContainsRune(codeAlphabet, rune(c[i])) {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}
