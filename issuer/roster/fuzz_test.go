package roster

import (
	"strings"
	"testing"

	"certd/issuer/fault"
	"certd/issuer/workbook/workbooktest"
)

// checkInvariants is what every input must satisfy: no panic (the fuzzer
// catches those), either a file error (*fault.Error) or a roster, problems that point at a
// real row with reasons in both languages, and a Mark that works on any
// file Parse accepted.
//
// Mark makes an execution ~30x slower, so run the fuzzers with a short
// minimisation budget, e.g.
//
//	go test ./issuer/roster -run '^$' -fuzz FuzzParseCSV -fuzztime 30s -fuzzminimizetime 20x
func checkInvariants(t *testing.T, data []byte, name string) {
	r, err := Parse(data, name, today)
	if err != nil {
		if fe, ok := err.(*fault.Error); !ok || fe.Kind != fault.Invalid {
			t.Fatalf("error of type %T: %v", err, err)
		}
		if r != nil {
			t.Fatal("roster and error both returned")
		}
		return
	}
	for _, p := range r.Problems {
		if p.Row <= 0 || p.Zh == "" || p.En == "" || p.Code == "" {
			t.Fatalf("bad problem %+v", p)
		}
		if len(p.Value) > MaxCellBytes {
			t.Fatalf("a problem echoes %d bytes of a cell", len(p.Value))
		}
	}
	if s, err := Cells(data, name); err == nil {
		for _, row := range s.Rows {
			for _, c := range row.Cells {
				if len(c) > MaxCellBytes {
					t.Fatalf("row %d keeps a cell of %d bytes", row.Row, len(c))
				}
			}
		}
	}
	for _, e := range r.Entries {
		if e.Row <= 0 || e.Name == "" || e.DocNumber == "" || !e.Level.Valid() {
			t.Fatalf("bad entry %+v", e)
		}
	}
	if (len(r.Problems) == 0) != (r.Fingerprint != "") {
		t.Fatalf("fingerprint %q with %d problems", r.Fingerprint, len(r.Problems))
	}
	if len(r.Problems) > 0 {
		if _, err := Mark(data, name, r.Problems); err != nil {
			t.Fatalf("Mark failed on a parseable file: %v", err)
		}
	}
}

func FuzzParseCSV(f *testing.F) {
	for _, name := range []string{"good-utf8.csv", "good-utf8-bom.csv", "good-gb18030.csv", "good-tab-utf8.txt", "bad-utf8.csv"} {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte("姓名,证件号码,职业编码,等级,考生类别,考核日期\n\"a\"b\",\"\n"))
	f.Add([]byte(encodeCSV(append(rosterRows(), []string{strings.Repeat("长", 2000)}))))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkInvariants(t, data, "fuzz.csv")
	})
}

func FuzzParseXLSX(f *testing.F) {
	for _, name := range []string{"good.xlsx", "bad-numeric-id.xlsx"} {
		f.Add(readFixture(f, name))
	}
	tpl, err := Template()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tpl)
	rows := rosterRows()
	rows[1][11] = strings.Repeat("备注", 1000)
	f.Add(workbooktest.XLSX(rows, nil))
	f.Add(workbooktest.XLSX(rosterRows(), &workbooktest.Huge{Row: 2, Col: 12, Len: 8 << 10, Shared: true}))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkInvariants(t, data, "fuzz.xlsx")
	})
}
