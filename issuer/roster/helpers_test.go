package roster

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// Regenerate the committed fixtures with: go test ./issuer/roster -run TestFixtures -update
var update = flag.Bool("update", false, "rewrite testdata fixtures")

// today is fixed so fixtures never expire.
var today = time.Date(2026, 7, 15, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

// rid appends the GB 11643 MOD 11-2 check character to 17 digits.
func rid(first17 string) string {
	w := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * w[i]
	}
	return first17 + string("10X98765432"[sum%11])
}

// wrongCheck returns a resident ID whose check character is wrong.
func wrongCheck(first17 string) string {
	good := rid(first17)
	bad := byte('0')
	if good[17] == '0' {
		bad = '1'
	}
	return first17 + string(bad)
}

func date(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }

// good is the valid content shared by every "good" fixture, so all of them
// must parse to the same entries and the same fingerprint.
var good = []Entry{
	{Name: "欧阳娜娜", DocType: "resident_id", DocNumber: rid("22010220040101001"), StudentNo: "2022010101", Major: "智能焊接技术", CandidateType: Graduating, Occupation: "6-18-02-04", OccupationName: "焊工", Specialty: "电焊工", Level: 3, AssessedOn: date(2026, 6, 30)},
	{Name: "阿卜杜热合曼·买买提", DocType: "resident_id", DocNumber: rid("65010220030512003"), StudentNo: "2022010102", Major: "智能焊接技术", CandidateType: Enrolled, Occupation: "6-18-02-04", OccupationName: "焊工", Specialty: "", Level: 4, AssessedOn: date(2026, 6, 30)},
	{Name: "𠮷野家", DocType: "resident_id", DocNumber: rid("22010519990909002"), StudentNo: "2022010103", Major: "电子商务", CandidateType: Social, Occupation: "4-01-02-02", OccupationName: "电子商务师", Level: 3, AssessedOn: date(2026, 5, 20)},
	{Name: "龘", DocType: "resident_id", DocNumber: rid("22010420050228004"), StudentNo: "2022010104", Major: "电子商务", CandidateType: Graduating, Occupation: "4-01-02-02", OccupationName: "电子商务师", Level: 3, AssessedOn: date(2026, 5, 20)},
	{Name: "䶮", DocType: "resident_id", DocNumber: rid("22010320041111005"), StudentNo: "2022010105", Major: "护理", CandidateType: Graduating, Occupation: "4-14-01-02", OccupationName: "健康管理师", Level: 3, AssessedOn: date(2026, 1, 8)},
	{Name: "John Smith", DocType: "passport", DocNumber: "E12345678", CandidateType: Social, Occupation: "4-14-01-02", OccupationName: "健康管理师", Level: 4, AssessedOn: date(2026, 1, 8)},
	{Name: "张三", DocType: "resident_id", DocNumber: rid("22010220050606007"), StudentNo: "2022010107", Major: "数控技术", CandidateType: Enrolled, Occupation: "6-18-01-01", OccupationName: "车工", Level: 5, AssessedOn: date(2026, 7, 15)},
	{Name: "李四", DocType: "resident_id", DocNumber: rid("22010220050707008"), StudentNo: "2022010108", Major: "数控技术", CandidateType: Enrolled, Occupation: "6-18-01-01", OccupationName: "车工", Level: 4, AssessedOn: date(2026, 7, 1)},
	{Name: "王五", DocType: "resident_id", DocNumber: rid("22010220050808009"), StudentNo: "2022010109", Major: "数控技术", CandidateType: Graduating, Occupation: "6-18-01-01", OccupationName: "车工", Level: 5, AssessedOn: date(2026, 7, 2)},
	{Name: "赵六", DocType: "resident_id", DocNumber: rid("22010220050909000"), StudentNo: "2022010110", Major: "数控技术", CandidateType: Graduating, Occupation: "6-18-01-01", OccupationName: "车工", Level: 3, AssessedOn: date(2026, 7, 3)},
}

// Spellings the office might use for each good row, by index.
var (
	levelSpellings = []string{"三级/高级工", "四级", "高级工", "3", "三级（高级工）", "Level 4", "五级/初级工", "中级工", "初级", "三级"}
	typeSpellings  = map[string][]string{
		Graduating: {"毕业年度学生", "应届", "毕业生"},
		Enrolled:   {"在校生", "在校学生"},
		Social:     {"社会人员", "社会考生"},
	}
	docTypeSpellings = map[string]string{"resident_id": "居民身份证", "passport": "护照"}
	specSpellings    = []string{"电焊工", "--", "—", "无", "-", "", "", "", "", ""}
	dateSpellings    = []string{"2026-06-30", "2026/6/30", "2026.5.20", "2026年5月20日", "20260108", "2026-01-08", "2026-07-15", "2026-7-1", "2026/07/02", "2026年07月03日"}
)

func typeSpelling(i int, ct string) string {
	s := typeSpellings[ct]
	return s[i%len(s)]
}

// csvHeader is a shuffled column order with English aliases mixed in.
var csvHeader = []string{"序号", "证件号码（必填）", "姓名*", "doc_type", "Occupation Code", "职业名称", "工种/职业方向", "技能等级", "人员类别", "学号", "专业", "考试日期", "备注"}

func goodCSVRecords() [][]string {
	recs := [][]string{{"吉林某职业技术学院 2026年职业技能等级认定合格人员名单"}, csvHeader}
	for i, e := range good {
		code := e.Occupation
		if i == 3 {
			code = "40102 02" // normalised by occupation.NormalizeCode
		}
		recs = append(recs, []string{
			fmt.Sprint(i + 1), strings.ToLower(e.DocNumber), e.Name, docTypeSpellings[string(e.DocType)], code, e.OccupationName,
			specSpellings[i], levelSpellings[i], typeSpelling(i, e.CandidateType), e.StudentNo, e.Major, dateSpellings[i], "",
		})
		if i == 4 {
			recs = append(recs, []string{"", "", "", ""}) // a blank row keeps its row number
		}
	}
	return recs
}

func encodeCSV(recs [][]string) string {
	var b strings.Builder
	for _, r := range recs {
		for j, c := range r {
			if j > 0 {
				b.WriteByte(',')
			}
			if strings.ContainsAny(c, ",\"\n") {
				c = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
			}
			b.WriteString(c)
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

func gb18030(t testing.TB, s string) []byte {
	b, err := simplifiedchinese.GB18030.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatalf("encode GB18030: %v", err)
	}
	return b
}

// goodXLSX writes the good rows under two title rows, with its own column
// order, an extra column, a blank row, real date cells and raw serials.
func goodXLSX(t testing.TB) []byte {
	f := excelize.NewFile()
	defer f.Close()
	// An instructions-like first sheet without a header must be skipped.
	must(t, f.SetSheetName("Sheet1", "说明"))
	must(t, f.SetCellStr("说明", "A1", "请在“名单”工作表中填写"))
	_, err := f.NewSheet("名单")
	must(t, err)
	s := "名单"
	must(t, f.SetCellStr(s, "A1", "2026年职业技能等级认定合格人员名单"))
	must(t, f.SetCellStr(s, "A2", "认定机构：吉林某职业技术学院"))
	head := []any{"技能等级", "考生类别", "姓名", "备注", "身份证号码", "证件类型", "职业代码", "职业名称", "工种", "考核日期", "学号", "专业"}
	must(t, f.SetSheetRow(s, "A3", &head))
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	must(t, err)
	row := 4
	for i, e := range good {
		if i == 2 {
			row++ // blank row
		}
		r := []any{levelSpellings[i], typeSpelling(i+1, e.CandidateType), " " + e.Name + " ", "备注" + fmt.Sprint(i), e.DocNumber,
			docTypeSpellings[string(e.DocType)], e.Occupation, e.OccupationName, e.Specialty, nil, e.StudentNo, e.Major}
		if e.Specialty == "" {
			r[8] = []string{"--", "无", "—", ""}[i%4]
		}
		cell := fmt.Sprintf("A%d", row)
		must(t, f.SetSheetRow(s, cell, &r))
		dcell := fmt.Sprintf("J%d", row)
		switch i % 3 {
		case 0: // a real date cell: number + date format
			must(t, f.SetCellValue(s, dcell, e.AssessedOn))
			must(t, f.SetCellStyle(s, dcell, dcell, dateStyle))
		case 1: // a bare serial number
			serial := e.AssessedOn.Sub(time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)).Hours() / 24
			must(t, f.SetCellFloat(s, dcell, serial, -1, 64))
		case 2: // text
			must(t, f.SetCellStr(s, dcell, e.AssessedOn.Format("2006年1月2日")))
		}
		if i == 0 {
			// Full-width digits typed with a Chinese IME.
			must(t, f.SetCellStr(s, fmt.Sprintf("E%d", row), toFullWidth(e.DocNumber)))
		}
		row++
	}
	// Formatted but empty trailing rows, as Excel leaves after deletions.
	must(t, f.SetCellStyle(s, "A40", "L40", dateStyle))
	buf, err := f.WriteToBuffer()
	must(t, err)
	return buf.Bytes()
}

func toFullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r - '0' + '０'
		}
		return r
	}, s)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// badCase is a row of the bad CSV fixture and what Parse must report for it.
type badCase struct {
	name  string
	cells map[string]string // header → value; unspecified cells take the base row
	field string
	col   int // expected column (index into badHeader); -1 when not a cell
	code  string
}

var badHeader = []string{"姓名", "证件类型", "证件号码", "学号", "专业", "考生类别", "职业编码", "职业名称", "工种", "等级", "考核日期"}

func baseBad(i int) map[string]string {
	return map[string]string{
		"姓名": "孙七", "证件类型": "居民身份证", "证件号码": rid(fmt.Sprintf("220102200501%02d1%02d", i%28+1, i)),
		"学号": fmt.Sprintf("S%03d", i), "专业": "数控技术", "考生类别": "在校生", "职业编码": "6-18-01-01",
		"职业名称": "车工", "工种": "", "等级": "四级", "考核日期": "2026-07-01",
	}
}

var badCases = []badCase{
	{"valid first", nil, "", 0, ""},
	{"digit in name", map[string]string{"姓名": "张3"}, "name", 0, "name_char"},
	{"empty name", map[string]string{"姓名": ""}, "name", 0, "name_empty"},
	{"bad doc type", map[string]string{"证件类型": "军官证"}, "doc_type", 1, "doc_type_invalid"},
	{"checksum", map[string]string{"证件号码": wrongCheck("22010220050101123")}, "doc_number", 2, "id_checksum"},
	{"scientific", map[string]string{"证件号码": "2.20102E+17"}, "doc_number", 2, "doc_number_excel"},
	{"rounded", map[string]string{"证件号码": "220102200501234000"}, "doc_number", 2, "doc_number_excel"},
	{"17 digits", map[string]string{"证件号码": "22010220050101123"}, "doc_number", 2, "id_length"},
	{"empty number", map[string]string{"证件号码": ""}, "doc_number", 2, "doc_number_empty"},
	{"birth date", map[string]string{"证件号码": rid("22010220051301123")}, "doc_number", 2, "id_birthdate"},
	{"student no lost", map[string]string{"学号": "2.02201E+15"}, "student_no", 3, "student_no_excel"},
	{"major too long", map[string]string{"专业": strings.Repeat("专", 101)}, "major", 4, "too_long"},
	{"candidate type", map[string]string{"考生类别": "老师"}, "candidate_type", 5, "candidate_type_invalid"},
	{"empty candidate type", map[string]string{"考生类别": ""}, "candidate_type", 5, "candidate_type_empty"},
	{"occupation code", map[string]string{"职业编码": "6-18-02"}, "occupation_code", 6, "occupation_code_invalid"},
	{"level", map[string]string{"等级": "特级"}, "level", 9, "level_invalid"},
	{"empty level", map[string]string{"等级": ""}, "level", 9, "level_empty"},
	{"no such date", map[string]string{"考核日期": "2026-02-30"}, "assessment_date", 10, "date_not_real"},
	{"m/d/y", map[string]string{"考核日期": "6/30/2026"}, "assessment_date", 10, "date_order"},
	{"future", map[string]string{"考核日期": "2026-07-16"}, "assessment_date", 10, "date_future"},
	{"too early", map[string]string{"考核日期": "1999-12-31"}, "assessment_date", 10, "date_too_early"},
	{"garbage date", map[string]string{"考核日期": "下周一"}, "assessment_date", 10, "date_invalid"},
	{"empty date", map[string]string{"考核日期": ""}, "assessment_date", 10, "assessment_date_empty"},
	{"passport format", map[string]string{"证件类型": "护照", "证件号码": "E12-345"}, "doc_number", 2, "doc_chars"},
	// Row 2 + 25 = 27 repeats the first data row (row 3) exactly.
	{"duplicate", map[string]string{"证件号码": rid("220102200501011" + "00")}, "doc_number", 2, "duplicate"},
	{"same id, other name", map[string]string{"姓名": "孙八", "证件号码": rid("220102200501011" + "00"), "等级": "三级"}, "name", 0, "doc_number_name_mismatch"},
}

// badCSV renders badCases below a header row; case i is on row i+2.
func badCSV() string {
	recs := [][]string{badHeader}
	for i, c := range badCases {
		row := baseBad(0)
		if i > 0 {
			row = baseBad(i)
		}
		for k, v := range c.cells {
			row[k] = v
		}
		rec := make([]string, len(badHeader))
		for j, h := range badHeader {
			rec[j] = row[h]
		}
		recs = append(recs, rec)
	}
	return encodeCSV(recs)
}

// badXLSX holds problems only a workbook can have: an ID typed into a
// number cell, which Excel rounds to 15 significant digits.
func badXLSX(t testing.TB) []byte {
	f := excelize.NewFile()
	defer f.Close()
	s := "Sheet1"
	must(t, f.SetSheetRow(s, "A1", &[]any{"姓名", "证件号码", "职业编码", "等级", "考生类别", "考核日期"}))
	must(t, f.SetSheetRow(s, "A2", &[]any{"周九", rid("22010220050101123"), "6-18-01-01", "四级", "在校生", date(2026, 7, 1)}))
	must(t, f.SetSheetRow(s, "A3", &[]any{"吴十", 220102200501011234.0, "6-18-01-01", "四级", "在校生", 46203}))
	must(t, f.SetSheetRow(s, "A4", &[]any{"郑一", rid("22010220050101125"), "6180101", 7, "在校生", 46300}))
	// A comment the office wrote must survive Mark.
	must(t, f.AddComment(s, excelize.Comment{Cell: "D4", Author: "教务处", Text: "请核对等级"}))
	buf, err := f.WriteToBuffer()
	must(t, err)
	return buf.Bytes()
}

// fixtures maps testdata file names to their generated content.
func fixtures(t testing.TB) map[string][]byte {
	csv := encodeCSV(goodCSVRecords())
	return map[string][]byte{
		"good.xlsx":           goodXLSX(t),
		"good-utf8.csv":       []byte(csv),
		"good-utf8-bom.csv":   append([]byte("\xEF\xBB\xBF"), csv...),
		"good-gb18030.csv":    gb18030(t, csv),
		"good-tab-utf8.txt":   []byte(strings.ReplaceAll(csv, ",", "\t")),
		"bad-utf8.csv":        []byte(badCSV()),
		"bad-numeric-id.xlsx": badXLSX(t),
	}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%v (regenerate with: go test ./issuer/roster -run TestFixtures -update)", err)
	}
	return b
}

// TestFixtures regenerates testdata with -update; otherwise it checks that
// the committed text fixtures still match the generator (xlsx bytes embed
// timestamps, so those are only checked for presence).
func TestFixtures(t *testing.T) {
	for name, content := range fixtures(t) {
		path := filepath.Join("testdata", name)
		if *update {
			must(t, os.MkdirAll("testdata", 0o755))
			must(t, os.WriteFile(path, content, 0o644))
			continue
		}
		got := readFixture(t, name)
		if !strings.HasSuffix(name, ".xlsx") && !bytes.Equal(got, content) {
			t.Errorf("%s is stale; regenerate with -update", name)
		}
	}
}
