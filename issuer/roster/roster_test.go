package roster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"certd/issuer/fault"
	"certd/issuer/ident"
)

func TestRIDHelper(t *testing.T) {
	// Example from GB 11643-1999 Appendix A.
	if got := rid("11010519491231002"); got != "11010519491231002X" {
		t.Fatalf("rid = %s", got)
	}
	for _, e := range good {
		if err := ident.CheckDocNumber(e.DocType, e.DocNumber, today); err != nil {
			t.Errorf("fixture number for %s invalid: %v", e.Name, err)
		}
	}
}

func TestParseGoodFixtures(t *testing.T) {
	tests := []struct {
		file, format, sheet string
		rows                []int // Excel row of each good entry
	}{
		{"good.xlsx", "xlsx", "名单", []int{4, 5, 7, 8, 9, 10, 11, 12, 13, 14}},
		{"good-utf8.csv", "csv-utf8", "", []int{3, 4, 5, 6, 7, 9, 10, 11, 12, 13}},
		{"good-utf8-bom.csv", "csv-utf8-bom", "", []int{3, 4, 5, 6, 7, 9, 10, 11, 12, 13}},
		{"good-gb18030.csv", "csv-gb18030", "", []int{3, 4, 5, 6, 7, 9, 10, 11, 12, 13}},
		{"good-tab-utf8.txt", "csv-utf8", "", []int{3, 4, 5, 6, 7, 9, 10, 11, 12, 13}},
	}
	var fp string
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r, err := Parse(readFixture(t, tt.file), tt.file, today)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Problems) > 0 {
				t.Fatalf("unexpected problems:\n%s", r.ProblemsText())
			}
			if r.Format != tt.format || r.Sheet != tt.sheet {
				t.Errorf("format/sheet = %q/%q, want %q/%q", r.Format, r.Sheet, tt.format, tt.sheet)
			}
			if len(r.Entries) != len(good) {
				t.Fatalf("%d entries, want %d", len(r.Entries), len(good))
			}
			for i, e := range r.Entries {
				want := good[i]
				want.Row = tt.rows[i]
				if !reflect.DeepEqual(e, want) {
					t.Errorf("entry %d:\n got %+v\nwant %+v", i, e, want)
				}
			}
			if fp == "" {
				fp = r.Fingerprint
			} else if r.Fingerprint != fp {
				t.Errorf("fingerprint %s differs from good.xlsx's %s", r.Fingerprint, fp)
			}
			if len(r.Fingerprint) != 64 {
				t.Errorf("fingerprint %q", r.Fingerprint)
			}
		})
	}
}

func TestFingerprintIgnoresRowOrder(t *testing.T) {
	recs := goodCSVRecords()
	a, err := Parse([]byte(encodeCSV(recs)), "a.csv", today)
	must(t, err)
	// Drop the title row and reverse the data rows.
	rev := [][]string{recs[1]}
	for i := len(recs) - 1; i >= 2; i-- {
		rev = append(rev, recs[i])
	}
	b, err := Parse([]byte(encodeCSV(rev)), "b.csv", today)
	must(t, err)
	if a.Fingerprint != b.Fingerprint || a.Fingerprint == "" {
		t.Fatalf("fingerprints differ: %s %s", a.Fingerprint, b.Fingerprint)
	}
	rev[1][2] = "欧阳娜"
	c, err := Parse([]byte(encodeCSV(rev)), "c.csv", today)
	must(t, err)
	if c.Fingerprint == a.Fingerprint {
		t.Fatal("a changed name must change the fingerprint")
	}
}

func TestParseBadCSV(t *testing.T) {
	r, err := Parse(readFixture(t, "bad-utf8.csv"), "bad.csv", today)
	if err != nil {
		t.Fatal(err)
	}
	byRow := map[int][]Problem{}
	for _, p := range r.Problems {
		byRow[p.Row] = append(byRow[p.Row], p)
		if p.Zh == "" || p.En == "" || p.Code == "" {
			t.Errorf("incomplete problem %+v", p)
		}
	}
	for i, c := range badCases {
		row := i + 2
		t.Run(c.name, func(t *testing.T) {
			ps := byRow[row]
			if c.code == "" {
				if len(ps) != 0 {
					t.Fatalf("row %d: unexpected %+v", row, ps)
				}
				return
			}
			if len(ps) != 1 {
				t.Fatalf("row %d: want exactly one problem %s, got %+v", row, c.code, ps)
			}
			p := ps[0]
			if p.Code != c.code || p.Field != c.field || p.Col != c.col || p.Column != badHeader[c.col] {
				t.Errorf("row %d: got code=%s field=%s col=%d column=%q; want %s %s %d %q",
					row, p.Code, p.Field, p.Col, p.Column, c.code, c.field, c.col, badHeader[c.col])
			}
			if v, ok := c.cells[badHeader[c.col]]; ok && p.Value != shorten(v, maxValueEcho) {
				t.Errorf("row %d: value %q, want %q", row, p.Value, v)
			}
		})
	}
	if len(r.Entries) != 1 || r.Entries[0].Row != 2 {
		t.Errorf("entries = %+v, want only row 2", r.Entries)
	}
	if r.Fingerprint != "" {
		t.Error("fingerprint must be empty while there are problems")
	}
	// The duplicate names the row it repeats.
	for _, p := range r.Problems {
		if p.Code == "duplicate" && !strings.Contains(p.Zh, "第2行") {
			t.Errorf("duplicate should name row 2: %s", p.Zh)
		}
		if p.Code == "doc_number_excel" && !strings.Contains(p.Zh, "文本") {
			t.Errorf("excel damage must say to format as text: %s", p.Zh)
		}
	}
}

func TestParseBadXLSX(t *testing.T) {
	r, err := Parse(readFixture(t, "bad-numeric-id.xlsx"), "bad.xlsx", today)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		row, col int
		code     string
	}
	var got []key
	for _, p := range r.Problems {
		got = append(got, key{p.Row, p.Col, p.Code})
	}
	want := []key{{3, 1, "doc_number_excel"}, {4, 3, "level_invalid"}, {4, 5, "date_future"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("problems %v, want %v\n%s", got, want, r.ProblemsText())
	}
	if len(r.Entries) != 1 || r.Entries[0].AssessedOn != date(2026, 7, 1) {
		t.Errorf("entries %+v", r.Entries)
	}
}

func TestFileErrors(t *testing.T) {
	csvHead := "姓名,证件号码,职业编码,等级,考生类别,考核日期\n"
	okRow := "张三," + rid("22010220050606007") + ",6-18-01-01,四级,在校生,2026-07-01\n"
	many := strings.Repeat(okRow, MaxRows+1)
	tests := []struct {
		name, file string
		data       []byte
		code       string
		mention    string
	}{
		{"empty", "a.csv", nil, "file_empty", ""},
		{"whitespace", "a.csv", []byte(" \r\n "), "file_empty", ""},
		{"binary", "a.bin", []byte{0x00, 0x01, 0x02, 'a', ',', 'b'}, "file_format", ""},
		{"neither encoding", "a.csv", []byte{'a', ',', 0xFF, 0xFF, 0xFE, '\n'}, "encoding", ""},
		{"legacy xls", "a.xls", append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, make([]byte, 100)...), "xls_legacy", ""},
		{"html as xls", "a.xls", []byte("<html><table><tr><td>姓名</td></tr></table></html>"), "html_table", ""},
		{"not a workbook", "a.xlsx", []byte("姓名,证件号码\n"), "xlsx_damaged", ""},
		{"broken zip", "a.xlsx", []byte("PK\x03\x04garbage"), "xlsx_damaged", ""},
		{"no header", "a.csv", []byte("a,b,c\n1,2,3\n"), "no_header", ""},
		{"missing columns", "a.csv", []byte("姓名,证件号码,等级\n张三,1,3\n"), "missing_columns", "职业编码"},
		{"duplicate column", "a.csv", []byte("姓名,证件号码,身份证号,职业编码,等级,考生类别,考核日期\n"), "duplicate_column", "证件号码"},
		{"no rows", "a.csv", []byte("标题\n" + csvHead + "\n,,,\n"), "no_rows", ""},
		{"too many rows", "a.csv", []byte(csvHead + many), "too_many_rows", "20000"},
		{"too large", "a.csv", make([]byte, MaxFileBytes+1), "file_too_large", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(tt.data, tt.file, today)
			fe, ok := fault.As(err)
			if !ok || fe.Kind != fault.Invalid {
				t.Fatalf("want a file error %s, got %v (roster %+v)", tt.code, err, r)
			}
			if fe.Code != tt.code || fe.Zh == "" || fe.En == "" {
				t.Fatalf("got %s %q, want code %s", fe.Code, fe.Error(), tt.code)
			}
			if tt.mention != "" && (!strings.Contains(fe.Zh, tt.mention) || !strings.Contains(fe.En, tt.mention)) {
				t.Errorf("error %q should mention %q", fe.Error(), tt.mention)
			}
			if r != nil {
				t.Error("roster must be nil with a file error")
			}
		})
	}
}

// A whole-file error must not leak an ID number even when one sits in the
// header row's notes.
func TestFileErrorHasNoIDNumber(t *testing.T) {
	id := rid("22010220050606007")
	data := []byte("姓名,证件号码（" + id + "）,身份证号（" + id + "）,职业编码,等级,考生类别,考核日期\n")
	_, err := Parse(data, id+".csv", today)
	if err == nil || strings.Contains(err.Error(), id) || strings.Contains(err.Error(), id[:15]) {
		t.Fatalf("error %v", err)
	}
}

func TestHeaderVariants(t *testing.T) {
	tests := map[string]string{
		"证件号码（必填）": fDocNumber, "证件号码(必填)": fDocNumber, "* 姓名 *": fName, "姓名*": fName,
		"身份证号": fDocNumber, "身份证号码": fDocNumber, "ID_Number": fDocNumber, "id number": fDocNumber,
		"Doc_Type": fDocType, "职业代码": fOccupationCode, "工种/职业方向": fSpecialty, "工种／职业方向": fSpecialty,
		"职业方向": fSpecialty, "申报等级": fLevel, "职业技能等级": fLevel, "人员类别": fCandidateType,
		"鉴定日期": fAssessmentDate, "考试日期": fAssessmentDate, "assessment_date": fAssessmentDate,
		"Student No": fStudentNo, "MAJOR": fMajor, "occupation_name": fOccupationName, "candidate_type": fCandidateType,
		"考生姓名\n【必填】": fName, "\ufeff姓名": fName,
	}
	for in, want := range tests {
		if got := aliases[normHeader(in)]; got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-06-30", date(2026, 6, 30), true},
		{"2026/6/30", date(2026, 6, 30), true},
		{"2026.6.30", date(2026, 6, 30), true},
		{"2026年6月30日", date(2026, 6, 30), true},
		{"2026 年 6 月 30 日", date(2026, 6, 30), true},
		{"2026－06－30", date(2026, 6, 30), true},
		{"20260630", date(2026, 6, 30), true},
		{"46203", date(2026, 6, 30), true},
		{"46203.75", date(2026, 6, 30), true},
		{"2026-06-30 00:00:00", date(2026, 6, 30), true},
		{"2026-06-30T08:30", date(2026, 6, 30), true},
		{"36526", date(2000, 1, 1), true},
		{"2024-02-29", date(2024, 2, 29), true},
		{"2026-02-29", time.Time{}, false},
		{"20261301", time.Time{}, false},
		{"2026", time.Time{}, false},
		{"2026.06", time.Time{}, false},
		{"6/30/2026", time.Time{}, false},
		{"2026-6", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := parseDate(tt.in, false)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("parseDate(%q) = %v %v, want %v %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	// The 1904 system shifts serials by 1462 days.
	if got, ok := parseDate("44741", true); !ok || got != date(2026, 6, 30) {
		t.Errorf("1904 serial = %v %v", got, ok)
	}
}

func TestSplitCSV(t *testing.T) {
	in := "a,\"b,1\",\"c \"\"q\"\"\"\r\n\r\n\"multi\nline\",x\rlast,\"un\"closed"
	var got [][]string
	must(t, splitCSV(in, ',', func(c []string) error { got = append(got, c); return nil }))
	want := [][]string{{"a", "b,1", `c "q"`}, nil, {"multi\nline", "x"}, {"last", "unclosed"}}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

func TestGB18030SupplementaryName(t *testing.T) {
	// 𠮷 is outside the BMP; GB18030 encodes it in four bytes, GBK cannot.
	data := gb18030(t, "姓名,证件号码,职业编码,等级,考生类别,考核日期\n𠮷野家,"+rid("22010519990909002")+",6-18-01-01,四级,在校生,2026-07-01\n")
	r, err := Parse(data, "a.csv", today)
	must(t, err)
	if r.Format != "csv-gb18030" || len(r.Entries) != 1 || r.Entries[0].Name != "𠮷野家" {
		t.Fatalf("%+v %s", r, r.ProblemsText())
	}
}

func TestProblemJSON(t *testing.T) {
	b, err := json.Marshal(Problem{Row: 12, Col: 2, Column: "证件号码", Field: "doc_number", Value: "x", Code: "id_checksum", Zh: "中", En: "en"})
	must(t, err)
	want := `{"row":12,"col":2,"column":"证件号码","field":"doc_number","value":"x","code":"id_checksum","zh":"中","en":"en"}`
	if string(b) != want {
		t.Fatalf("%s", b)
	}
}

func TestProblemsText(t *testing.T) {
	r := &Roster{Problems: []Problem{
		{Row: 12, Col: 2, Column: "证件号码", Value: "220102", Code: "id_length", Zh: "身份证号码应为18位，实际为6位", En: "resident ID number must have 18 characters, got 6"},
		{Row: 13, Col: 0, Column: "姓名", Code: "name_empty", Zh: "姓名不能为空", En: "name is empty"},
	}}
	want := "第12行 证件号码 “220102”：身份证号码应为18位，实际为6位 / row 12, column 证件号码: resident ID number must have 18 characters, got 6\n" +
		"第13行 姓名：姓名不能为空 / row 13, column 姓名: name is empty\n"
	if got := r.ProblemsText(); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestTemplate(t *testing.T) {
	tpl, err := Template()
	must(t, err)
	_, err = Parse(tpl, "template.xlsx", today)
	if fe, ok := fault.As(err); !ok || fe.Code != "no_rows" {
		t.Fatalf("empty template should parse to no_rows, got %v", err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(tpl))
	must(t, err)
	defer f.Close()
	if got := f.GetSheetList(); len(got) != 2 || got[0] != TemplateSheet {
		t.Fatalf("sheets %v", got)
	}
	dvs, err := f.GetDataValidations(TemplateSheet)
	must(t, err)
	if len(dvs) != 3 {
		t.Fatalf("%d data validations, want 3", len(dvs))
	}
	// Fill one row the way an office would, then parse.
	for i, c := range templateColumns {
		cell, _ := excelize.CoordinatesToCellName(i+1, 2)
		v := c.example
		if c.field == fDocNumber {
			v = rid("22010220040101001")
		}
		if c.field == fAssessmentDate {
			must(t, f.SetCellValue(TemplateSheet, cell, date(2026, 6, 30)))
			continue
		}
		must(t, f.SetCellStr(TemplateSheet, cell, v))
	}
	buf, err := f.WriteToBuffer()
	must(t, err)
	r, err := Parse(buf.Bytes(), "filled.xlsx", today)
	must(t, err)
	if len(r.Problems) != 0 || len(r.Entries) != 1 {
		t.Fatalf("%s", r.ProblemsText())
	}
	if e := r.Entries[0]; e.Level != 3 || e.Specialty != "电焊工" || e.CandidateType != Graduating || e.AssessedOn != date(2026, 6, 30) {
		t.Errorf("%+v", e)
	}
	// The template's own example number must be valid.
	for _, c := range templateColumns {
		if c.field == fDocNumber {
			if err := ident.CheckResidentID(c.example, today); err != nil {
				t.Errorf("template example ID: %v", err)
			}
		}
	}
}

func TestMarkCSV(t *testing.T) {
	data := readFixture(t, "bad-utf8.csv")
	r, err := Parse(data, "bad.csv", today)
	must(t, err)
	out, err := Mark(data, "bad.csv", r.Problems)
	must(t, err)
	checkMarked(t, out, TemplateSheet, r.Problems)
	// A CSV's ID cells come back as text, not numbers.
	f, err := excelize.OpenReader(bytes.NewReader(out))
	must(t, err)
	defer f.Close()
	if ct, _ := f.GetCellType(TemplateSheet, "C2"); ct == excelize.CellTypeNumber || ct == excelize.CellTypeUnset {
		t.Errorf("C2 type %v", ct)
	}
}

func TestMarkXLSX(t *testing.T) {
	data := readFixture(t, "bad-numeric-id.xlsx")
	r, err := Parse(data, "bad.xlsx", today)
	must(t, err)
	out, err := Mark(data, "bad.xlsx", r.Problems)
	must(t, err)
	checkMarked(t, out, "Sheet1", r.Problems)
	f, err := excelize.OpenReader(bytes.NewReader(out))
	must(t, err)
	cs, err := f.GetComments("Sheet1")
	must(t, err)
	f.Close()
	var d4, b3 string
	for _, c := range cs {
		switch c.Cell {
		case "D4":
			d4 = commentText(c)
		case "B3":
			b3 = commentText(c)
		}
	}
	if !strings.Contains(d4, "请核对等级") || !strings.Contains(d4, "无法识别的等级") {
		t.Errorf("office comment lost or not merged: %q", d4)
	}
	// The marked copy parses the same, and marking it again does not stack
	// certd's reasons.
	r2, err := Parse(out, "marked.xlsx", today)
	must(t, err)
	if fmt.Sprint(r2.Problems) != fmt.Sprint(r.Problems) {
		t.Fatalf("re-parse differs:\n%s\n%s", r2.ProblemsText(), r.ProblemsText())
	}
	out2, err := Mark(out, "marked.xlsx", r2.Problems)
	must(t, err)
	checkMarked(t, out2, "Sheet1", r.Problems)
	f2, err := excelize.OpenReader(bytes.NewReader(out2))
	must(t, err)
	defer f2.Close()
	cs, _ = f2.GetComments("Sheet1")
	for _, c := range cs {
		if c.Cell == "B3" && commentText(c) != b3 || c.Cell == "D4" && strings.Count(commentText(c), "请核对等级") != 1 {
			t.Errorf("re-marking stacked comments: %s %q", c.Cell, commentText(c))
		}
	}

	// The office fixes D4 in the marked copy; the next round clears its
	// marking but keeps the office's own note.
	must(t, f2.SetCellStr("Sheet1", "D4", "四级"))
	buf, err := f2.WriteToBuffer()
	must(t, err)
	r3, err := Parse(buf.Bytes(), "fixed.xlsx", today)
	must(t, err)
	out3, err := Mark(buf.Bytes(), "fixed.xlsx", r3.Problems)
	must(t, err)
	checkMarked(t, out3, "Sheet1", r3.Problems)
	f3, err := excelize.OpenReader(bytes.NewReader(out3))
	must(t, err)
	defer f3.Close()
	idx, _ := f3.GetCellStyle("Sheet1", "D4")
	if st, _ := f3.GetStyle(idx); st.Fill.Pattern != 0 {
		t.Errorf("fixed cell D4 still filled: %+v", st.Fill)
	}
	cs, _ = f3.GetComments("Sheet1")
	found := false
	for _, c := range cs {
		if c.Cell == "D4" {
			found = true
			if text := commentText(c); !strings.Contains(text, "请核对等级") || strings.Contains(text, "无法识别的等级") {
				t.Errorf("D4 comment after fix: %q", text)
			}
		}
	}
	if !found {
		t.Error("office comment on D4 lost")
	}
}

// checkMarked asserts a red fill and a bilingual comment on every problem
// cell, and one line per problem in the problems sheet.
func checkMarked(t *testing.T, out []byte, sheet string, problems []Problem) {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("marked workbook does not open: %v", err)
	}
	defer f.Close()
	comments, err := f.GetComments(sheet)
	must(t, err)
	byCell := map[string]string{}
	for _, c := range comments {
		byCell[c.Cell] = commentText(c)
	}
	for _, p := range problems {
		if p.Col < 0 {
			continue
		}
		cell, _ := excelize.CoordinatesToCellName(p.Col+1, p.Row)
		idx, err := f.GetCellStyle(sheet, cell)
		must(t, err)
		st, err := f.GetStyle(idx)
		must(t, err)
		if st.Fill.Pattern != 1 || len(st.Fill.Color) == 0 || !strings.EqualFold(st.Fill.Color[0], "FFC7CE") {
			t.Errorf("%s not filled red: %+v", cell, st.Fill)
		}
		if c := byCell[cell]; !strings.Contains(c, p.Zh) || !strings.Contains(c, p.En) {
			t.Errorf("%s comment %q lacks %q / %q", cell, c, p.Zh, p.En)
		}
	}
	rows, err := f.GetRows(ProblemsSheet)
	must(t, err)
	if len(rows) != len(problems)+1 {
		t.Fatalf("problems sheet has %d rows, want %d", len(rows), len(problems)+1)
	}
	for i, p := range problems {
		if rows[i+1][4] != p.Code || rows[i+1][5] != p.Zh || rows[i+1][6] != p.En {
			t.Errorf("problems sheet row %d = %q", i+2, rows[i+1])
		}
	}
}

func TestMarkRejectsUnusableFile(t *testing.T) {
	if _, err := Mark([]byte("a,b\n"), "x.csv", nil); err == nil {
		t.Fatal("want error")
	}
}

func TestColumn(t *testing.T) {
	r, err := Parse(readFixture(t, "good-utf8.csv"), "a.csv", today)
	must(t, err)
	tests := []struct {
		field  string
		col    int
		header string
	}{
		{"doc_number", 1, "证件号码（必填）"}, {"occupation_code", 4, "Occupation Code"}, {"level", 7, "技能等级"},
		{"nope", -1, ""},
	}
	for _, tt := range tests {
		if c, h := r.Column(tt.field); c != tt.col || h != tt.header {
			t.Errorf("Column(%s) = %d %q, want %d %q", tt.field, c, h, tt.col, tt.header)
		}
	}
	r, err = Parse(readFixture(t, "bad-numeric-id.xlsx"), "a.xlsx", today)
	must(t, err)
	if c, h := r.Column("specialty"); c != -1 || h != "工种/职业方向" {
		t.Errorf("absent column: %d %q", c, h)
	}
}

// Row checks a candidate given field by field exactly as Parse checks the
// same candidate as a row of a file: same entry, same problems.
func TestRowChecksLikeAFileRow(t *testing.T) {
	valid := map[string]string{
		fName: "欧阳娜娜", fDocType: "居民身份证", fDocNumber: rid("22010220040101001"), fStudentNo: "S0001", fMajor: "软件技术",
		fCandidateType: "毕业年度学生", fOccupationCode: "4-04-05-05", fSpecialty: "--", fLevel: "3", fAssessmentDate: "2026-06-20",
	}
	with := func(field, v string) map[string]string {
		m := map[string]string{}
		for k, x := range valid {
			m[k] = x
		}
		m[field] = v
		return m
	}
	tests := []struct {
		name   string
		fields map[string]string
		code   string
	}{
		{"valid", valid, ""},
		{"major over its limit", with(fMajor, strings.Repeat("专", 101)), "too_long"},
		{"student number over its limit", with(fStudentNo, strings.Repeat("1", 41)), "too_long"},
		{"ID checksum", with(fDocNumber, rid("22010220040101001")[:17]+"0"), "id_checksum"},
		{"unknown level", with(fLevel, "九级"), "level_invalid"},
		{"name with a private-use character", with(fName, "张\ue000"), "name_char"},
		{"assessed in the future", with(fAssessmentDate, "2027-01-01"), "date_future"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var head, row []string
			for _, c := range templateColumns {
				if v, ok := tt.fields[c.field]; ok {
					head, row = append(head, fieldInfo[c.field].zh), append(row, v)
				}
			}
			file, err := Parse([]byte(strings.Join(head, ",")+"\n"+strings.Join(row, ",")+"\n"), "r.csv", today)
			must(t, err)
			got := Row(tt.fields, today)
			if fmt.Sprint(got.Entries) != fmt.Sprint(file.Entries) || fmt.Sprint(got.Problems) != fmt.Sprint(file.Problems) {
				t.Fatalf("Row:\n  %+v\n  %+v\nParse:\n  %+v\n  %+v", got.Entries, got.Problems, file.Entries, file.Problems)
			}
			switch {
			case tt.code == "" && (len(got.Problems) != 0 || len(got.Entries) != 1):
				t.Fatalf("problems %+v", got.Problems)
			case tt.code != "" && (len(got.Problems) != 1 || got.Problems[0].Code != tt.code || got.Problems[0].Row != 2 || len(got.Entries) != 0):
				t.Fatalf("problems %+v, want one %s on row 2", got.Problems, tt.code)
			}
		})
	}
}
