package certno

import (
	"testing"

	"certd/issuer/fault"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Number
		ok   bool
	}{
		{"Y000022000001263000001", Number{"Y000022000001", 2026, 3, 1}, true},
		{"S000123123456195999999", Number{"S000123123456", 2019, 5, 999999}, true},
		{"Y000022000001263000000", Number{}, false}, // serial zero
		{"Y000022000001266000001", Number{}, false}, // level 6
		{"Y000022000001260000001", Number{}, false}, // level 0
		{"y000022000001263000001", Number{}, false}, // lower-case letter
		{"Y00002200000126300001", Number{}, false},  // 21 chars
		{"Y0000220000012630000011", Number{}, false},
		{"YA00022000001263000001", Number{}, false},
		{"", Number{}, false},
		{"Y０00022000001263000001", Number{}, false}, // full-width digit
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("Parse(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && (got != tt.want || got.String() != tt.in) {
			t.Errorf("Parse(%q) = %+v (%s)", tt.in, got, got.String())
		}
		// A bad number is a bilingual, typed refusal the edge can show.
		if e, ok := fault.As(err); !tt.ok && (!ok || e.Kind != fault.Invalid || e.Code == "" || e.Zh == "" || e.En == "") {
			t.Errorf("Parse(%q) error %#v is not an Invalid *fault.Error", tt.in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"Y000022000001263000001", "", "Y0000220000012630000010", "S999999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		if n.String() != s {
			t.Fatalf("round trip: %q -> %+v -> %q", s, n, n.String())
		}
		if n.Level < 1 || n.Level > 5 || n.Serial < 1 || !ValidPrefix(n.Prefix) {
			t.Fatalf("accepted invalid number %q", s)
		}
	})
}
