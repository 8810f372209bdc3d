package console

import (
	"net/url"
	"strings"
	"testing"
)

// TestLedgerNameSearch: the ledger finds holders by part of a name, with
// spaces and full-width forms ignored, on both stores; a college finds only
// its own holders whatever it types (both colleges of the fixture have
// holders of the same names), the authority finds them in every college.
func TestLedgerNameSearch(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			w := newWorld(t, b.open)
			full := personName(0) // 王伟娜: the first holder of both colleges
			part := string([]rune(full)[1:])
			prefixA, prefixB := w.certA[:13], w.certB[:13]
			cases := []struct {
				user, q      string
				wantA, wantB bool
			}{
				{"aop", full, true, false},
				{"aop", part, true, false},
				{"aop", " " + string([]rune(full)[:1]) + "　" + part + " ", true, false},
				{"bop", part, false, true},
				{"aaud", part, true, false},
				{"prov", part, true, true},
				{"auth", part, true, true},
				{"aop", "不存在的人", false, false},
			}
			for _, tc := range cases {
				cookie, _ := w.session(tc.user)
				r := w.do("GET", "/console/certificates?name="+url.QueryEscape(tc.q), cookie, nil, nil)
				if r.status != 200 {
					t.Fatalf("%s %q: %d", tc.user, tc.q, r.status)
				}
				gotA, gotB := strings.Contains(r.body, prefixA), strings.Contains(r.body, prefixB)
				if gotA != tc.wantA || gotB != tc.wantB {
					t.Errorf("%s searching %q: alpha's %v beta's %v, want %v %v", tc.user, tc.q, gotA, gotB, tc.wantA, tc.wantB)
				}
				if tc.wantA && !strings.Contains(r.body, full) {
					t.Errorf("%s searching %q: the holder's full name is not listed", tc.user, tc.q)
				}
			}
		})
	}
}
