package roster

import (
	"runtime"
	"strings"
	"testing"

	"certd/issuer/fault"
	"certd/issuer/workbook/workbooktest"
)

func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// rosterRows is a header and the first good row as cell text, with an
// extra 备注 column the roster ignores.
func rosterRows() [][]string {
	e := good[0]
	return [][]string{
		{"姓名", "证件类型", "证件号码", "职业编码", "职业名称", "工种", "等级", "考生类别", "学号", "专业", "考核日期", "备注"},
		{e.Name, "居民身份证", e.DocNumber, e.Occupation, e.OccupationName, e.Specialty, "三级", "毕业年度学生", e.StudentNo, e.Major, "2026-06-30", ""},
	}
}

// TestRosterWithAHugeCell: a roster workbook of tens of KB holding one
// 60 MB cell is refused as a file, from its directory, allocating under
// 1 MiB, with a reason in both languages.
func TestRosterWithAHugeCell(t *testing.T) {
	for _, shared := range []bool{false, true} {
		x := workbooktest.XLSX(rosterRows(), &workbooktest.Huge{Row: 2, Col: 12, Len: 60 << 20, Shared: shared})
		if len(x) > 200<<10 {
			t.Fatalf("the crafted file is %d KB", len(x)>>10)
		}
		var err error
		n := allocatedBy(func() { _, err = Parse(x, "名单.xlsx", today) })
		fe, ok := fault.As(err)
		if !ok || (fe.Code != "file_too_large" && fe.Code != "text_too_long") || fe.Zh == "" || fe.En == "" {
			t.Errorf("shared %v: err %v", shared, err)
		}
		if n > 1<<20 {
			t.Errorf("shared %v: %d KB allocated for a %d KB upload", shared, n>>10, len(x)>>10)
		}
	}
}

// TestLongCellIsARowProblem: a cell over MaxCellBytes, in any column, the
// ignored 备注 too, is a problem of its row naming the column and the
// length, in Chinese and English; the cell is kept cut, so the preview
// (Cells) and the problem list never carry it whole. CSV and XLSX alike.
func TestLongCellIsARowProblem(t *testing.T) {
	const long = 100 << 10
	rows := rosterRows()
	rows[1][11] = strings.Repeat("很长的备注", long/15)
	n := len(rows[1][11])
	for _, tc := range []struct {
		name, file string
		data       []byte
	}{
		{"xlsx", "名单.xlsx", workbooktest.XLSX(rows, nil)},
		{"csv", "名单.csv", []byte(encodeCSV(rows))},
	} {
		r, err := Parse(tc.data, tc.file, today)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(r.Problems) != 1 || len(r.Entries) != 0 {
			t.Fatalf("%s: problems %+v, %d entries", tc.name, r.Problems, len(r.Entries))
		}
		p := r.Problems[0]
		if p.Row != 2 || p.Col != 11 || p.Column != "备注" || p.Code != "cell_too_long" ||
			!strings.Contains(p.Zh, "单元格内容过长") || !strings.Contains(p.Zh, fmtInt(n)) || !strings.Contains(p.En, "too long") || len(p.Value) > MaxCellBytes {
			t.Errorf("%s: problem %+v", tc.name, p)
		}
		s, err := Cells(tc.data, tc.file)
		if err != nil || len(s.Rows) != 1 || len(s.Rows[0].Cells[11]) > MaxCellBytes || !strings.HasPrefix(rows[1][11], s.Rows[0].Cells[11]) {
			t.Errorf("%s: preview keeps the long cell: %v", tc.name, err)
		}
	}
	// A long name is one problem, with the length as read, not two.
	rows = rosterRows()
	rows[1][0] = strings.Repeat("张", 2000)
	r, err := Parse(workbooktest.XLSX(rows, nil), "名单.xlsx", today)
	if err != nil || len(r.Problems) != 1 || r.Problems[0].Code != "cell_too_long" || r.Problems[0].Field != "name" {
		t.Errorf("long name: %v %+v", err, r.Problems)
	}
}

func fmtInt(n int) string {
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}
