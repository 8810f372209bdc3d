package roster

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"certd/issuer/fault"
	"certd/issuer/ident"
	"certd/issuer/occupation"
)

// Length limits for free-text cells, in characters. Names are bounded by
// ident.MaxNameRunes; anything longer than maxCellRunes is rejected before
// any other check so huge cells are never processed further. A cell of a
// column certd does not read (备注 and the like) may hold up to
// maxOtherCellRunes: it is shown back to the office in the preview and the
// marked workbook, so it is bounded too.
const (
	maxCellRunes      = 200
	maxStudentNoRunes = 40
	maxTextRunes      = 100 // 专业, 职业名称, 工种
	maxOtherCellRunes = 500
	maxValueEcho      = 100
)

var candidateTypes = map[string]string{
	"毕业年度学生": Graduating, "毕业年度": Graduating, "应届": Graduating, "应届生": Graduating,
	"应届毕业生": Graduating, "毕业生": Graduating, "graduating": Graduating,
	"在校生": Enrolled, "在校学生": Enrolled, "在校": Enrolled, "enrolled": Enrolled,
	"社会人员": Social, "社会考生": Social, "社会学员": Social, "social": Social,
}

// noSpecialty are the ways offices write "this occupation has no 工种".
var noSpecialty = map[string]bool{"": true, "-": true, "--": true, "—": true, "——": true, "无": true, "/": true}

// rowCheck collects the problems of one row.
type rowCheck struct {
	t        *table
	row      int // Excel row number
	cells    []string
	read     map[int]bool // the columns of fields, which have their own limits
	problems []Problem
}

// cell returns the cleaned text of a field's cell, its column, and whether
// the column exists.
func (rc *rowCheck) cell(field string) (string, int, bool) {
	c, ok := rc.t.hdr.cols[field]
	if !ok {
		return "", -1, false
	}
	if c >= len(rc.cells) {
		return "", c, true
	}
	return cleanCell(rc.cells[c]), c, true
}

func (rc *rowCheck) add(field string, col int, value, code, zh, en string) {
	column := ""
	if col >= 0 && col < len(rc.t.hdr.texts) {
		column = shorten(rc.t.hdr.texts[col], maxValueEcho)
	}
	rc.problems = append(rc.problems, Problem{
		Row: rc.row, Col: col, Column: column, Field: field,
		Value: shorten(value, maxValueEcho), Code: code, Zh: zh, En: en,
	})
}

func (rc *rowCheck) addIdent(field string, col int, value string, err error) {
	if ie, ok := fault.As(err); ok {
		rc.add(field, col, value, ie.Code, ie.Zh, ie.En)
		return
	}
	rc.add(field, col, value, "invalid", "内容无效："+err.Error(), "invalid: "+err.Error())
}

// tooLong reports (and records) a cell over its limit. A cell cut when it
// was read has its problem already (cutProblems), with its real length.
func (rc *rowCheck) tooLong(field string, col int, v string, limit int) bool {
	if _, cut := rc.t.cut[[2]int{rc.row - 1, col}]; cut {
		return true
	}
	if n := utf8.RuneCountInString(v); n > limit {
		rc.add(field, col, v, "too_long",
			fmt.Sprintf("内容过长（%d个字符，最多%d个）", n, limit),
			fmt.Sprintf("too long (%d characters, at most %d)", n, limit))
		return true
	}
	return false
}

// cutProblems records a problem for every cell of the row that was longer
// than MaxCellBytes when it was read, in any column, the ignored ones too:
// such a cell is never shown or kept whole.
func (rc *rowCheck) cutProblems(fieldOf map[int]string) {
	if len(rc.t.cut) == 0 {
		return
	}
	for c, v := range rc.cells {
		n, cut := rc.t.cut[[2]int{rc.row - 1, c}]
		if !cut {
			continue
		}
		rc.add(fieldOf[c], c, v, "cell_too_long",
			fmt.Sprintf("单元格内容过长（%d字节，最多%d字节），请删减", n, MaxCellBytes),
			fmt.Sprintf("the cell is too long (%d bytes, at most %d); shorten it", n, MaxCellBytes))
	}
}

// required records an empty required cell.
func (rc *rowCheck) required(field string, col int, v string) bool {
	if v != "" {
		return true
	}
	info := fieldInfo[field]
	rc.add(field, col, "", field+"_empty", info.zh+"不能为空", info.en+" is empty")
	return false
}

// firstSeen remembers the first row with a given key, for messages that
// point the office at both rows.
type firstSeen struct {
	row  int
	name string
}

// validate checks every data row of a table and builds the Roster.
func validate(t *table, today time.Time) *Roster {
	y, m, d := today.Date()
	todayUTC := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	r := &Roster{Format: t.format, Sheet: t.sheet, hdr: t.hdr}
	byCert := map[string]firstSeen{}
	byDoc := map[string]firstSeen{}
	read := make(map[int]bool, len(t.hdr.cols))
	fieldOf := make(map[int]string, len(t.hdr.cols))
	for f, c := range t.hdr.cols {
		read[c] = true
		fieldOf[c] = f
	}
	for i := t.hdr.row + 1; i < len(t.rows); i++ {
		if t.rows[i] == nil {
			continue
		}
		rc := &rowCheck{t: t, row: i + 1, cells: t.rows[i], read: read}
		rc.cutProblems(fieldOf)
		e, certKey, docKey := rc.check(todayUTC)
		if docKey != "" {
			if first, ok := byDoc[docKey]; !ok {
				byDoc[docKey] = firstSeen{rc.row, e.Name}
			} else if e.Name != "" && first.name != "" && first.name != e.Name {
				_, col, _ := rc.cell(fName)
				rc.add(fName, col, e.Name, "doc_number_name_mismatch",
					fmt.Sprintf("与第%d行证件号码相同但姓名不同（第%d行为“%s”）", first.row, first.row, first.name),
					fmt.Sprintf("same document number as row %d but a different name (row %d has %q)", first.row, first.row, first.name))
			}
		}
		if certKey != "" {
			if first, ok := byCert[certKey]; ok {
				v, col, _ := rc.cell(fDocNumber)
				rc.add(fDocNumber, col, v, "duplicate",
					fmt.Sprintf("与第%d行重复：同一人、同一职业（工种）和等级只能出现一次", first.row),
					fmt.Sprintf("duplicates row %d: the same person, occupation (specialty) and level may appear only once", first.row))
			} else {
				byCert[certKey] = firstSeen{row: rc.row}
			}
		}
		if len(rc.problems) == 0 {
			r.Entries = append(r.Entries, e)
		} else {
			for _, p := range rc.problems {
				if p.Field != "" && !e.Unread(p.Field) {
					e.Bad = append(e.Bad, p.Field)
				}
			}
			if len(e.Bad) == 0 {
				e.Bad = []string{""} // a problem of the row itself: never issuable
			}
			r.Incomplete = append(r.Incomplete, e)
		}
		r.Problems = append(r.Problems, rc.problems...)
	}
	sort.SliceStable(r.Problems, func(a, b int) bool {
		pa, pb := r.Problems[a], r.Problems[b]
		if pa.Row != pb.Row {
			return pa.Row < pb.Row
		}
		return pa.Col < pb.Col
	})
	if len(r.Problems) == 0 {
		r.Fingerprint = fingerprint(r.Entries)
	}
	return r
}

// check validates one row. certKey and docKey are "" unless the fields they
// are built from are valid, so duplicates are only reported between rows
// that would otherwise be fine in those fields.
func (rc *rowCheck) check(today time.Time) (e Entry, certKey, docKey string) {
	e.Row = rc.row
	docOK, occOK, levelOK, specOK := false, false, false, true

	for col, v := range rc.cells {
		if !rc.read[col] {
			rc.tooLong("", col, cleanCell(v), maxOtherCellRunes)
		}
	}

	if v, col, _ := rc.cell(fName); !rc.tooLong(fName, col, v, maxCellRunes) {
		name := ident.NormalizeName(v)
		if err := ident.CheckName(name); err != nil {
			rc.addIdent(fName, col, v, err)
		} else {
			e.Name = name
		}
	}

	e.DocType = ident.ResidentID
	typeOK := true
	if v, col, ok := rc.cell(fDocType); ok && !rc.tooLong(fDocType, col, v, maxCellRunes) {
		dt, ok := ident.ParseDocType(normDocType(v))
		if !ok {
			typeOK = false
			names := make([]string, len(ident.DocTypes))
			for i, d := range ident.DocTypes {
				names[i] = d.Chinese()
			}
			rc.add(fDocType, col, v, "doc_type_invalid",
				"无法识别的证件类型，可填："+strings.Join(names, "、"),
				"unknown document type; use one of: "+strings.Join(names, ", "))
		}
		e.DocType = dt
	}

	if v, col, _ := rc.cell(fDocNumber); rc.required(fDocNumber, col, v) && !rc.tooLong(fDocNumber, col, v, maxCellRunes) {
		n := ident.NormalizeDocNumber(strings.TrimLeft(strings.ReplaceAll(v, " ", ""), "'`"))
		switch {
		case isScientific(v):
			rc.excelDamage(fDocNumber, col, v)
		case !typeOK:
			// The number cannot be judged without knowing the document.
		default:
			if err := ident.CheckDocNumber(e.DocType, n, today); err != nil {
				if rc.lostDigits(col, n) {
					rc.excelDamage(fDocNumber, col, v)
				} else {
					rc.addIdent(fDocNumber, col, v, err)
				}
			} else {
				e.DocNumber, docOK = n, true
			}
		}
	}

	if v, col, ok := rc.cell(fStudentNo); ok && !rc.tooLong(fStudentNo, col, v, maxStudentNoRunes) {
		if isScientific(v) {
			rc.excelDamage(fStudentNo, col, v)
		} else {
			e.StudentNo = v
		}
	}
	if v, col, ok := rc.cell(fMajor); ok && !rc.tooLong(fMajor, col, v, maxTextRunes) {
		e.Major = v
	}

	if v, col, _ := rc.cell(fCandidateType); rc.required(fCandidateType, col, v) && !rc.tooLong(fCandidateType, col, v, maxCellRunes) {
		if ct, ok := candidateTypes[normHeader(v)]; ok {
			e.CandidateType = ct
		} else {
			rc.add(fCandidateType, col, v, "candidate_type_invalid",
				"无法识别的考生类别，可填：毕业年度学生、在校生、社会人员",
				"unknown candidate type; use 毕业年度学生 (graduating), 在校生 (enrolled) or 社会人员 (social)")
		}
	}

	if v, col, _ := rc.cell(fOccupationCode); rc.required(fOccupationCode, col, v) && !rc.tooLong(fOccupationCode, col, v, maxCellRunes) {
		code := occupation.NormalizeCode(v)
		if occupation.ValidCode(code) {
			e.Occupation, occOK = code, true
		} else {
			rc.add(fOccupationCode, col, v, "occupation_code_invalid",
				"职业编码格式不正确，应为职业分类大典中的“6-18-02-04”形式",
				"occupation code is malformed; expected the 大典 form 6-18-02-04")
		}
	}
	if v, col, ok := rc.cell(fOccupationName); ok && !rc.tooLong(fOccupationName, col, v, maxTextRunes) {
		e.OccupationName = v
	}
	if v, col, ok := rc.cell(fSpecialty); ok {
		if rc.tooLong(fSpecialty, col, v, maxTextRunes) {
			specOK = false
		} else if !noSpecialty[foldDashes(v)] {
			e.Specialty = v
		}
	}

	if v, col, _ := rc.cell(fLevel); rc.required(fLevel, col, v) && !rc.tooLong(fLevel, col, v, maxCellRunes) {
		if l, ok := occupation.ParseLevel(v); ok {
			e.Level, levelOK = l, true
		} else {
			rc.add(fLevel, col, v, "level_invalid",
				"无法识别的等级，可填：五级/初级工、四级/中级工、三级/高级工、二级/技师、一级/高级技师（或1至5）",
				"unknown level; use 五级/初级工, 四级/中级工, 三级/高级工, 二级/技师, 一级/高级技师 (or 1 to 5)")
		}
	}

	if v, col, _ := rc.cell(fAssessmentDate); rc.required(fAssessmentDate, col, v) && !rc.tooLong(fAssessmentDate, col, v, maxCellRunes) {
		if d, ok := rc.date(col, v, today); ok {
			e.AssessedOn = d
		}
	}

	if docOK {
		docKey = string(e.DocType) + "\x1f" + e.DocNumber
		if occOK && levelOK && specOK {
			certKey = docKey + "\x1f" + e.Occupation + "\x1f" + e.Specialty + "\x1f" + e.Level.String()
		}
	}
	return e, certKey, docKey
}

// normDocType lets "身份证（二代）" or "居民身份证 " through ParseDocType.
func normDocType(v string) string {
	if i := strings.IndexAny(v, "(（"); i > 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

func foldDashes(v string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '－', '‐', '‑', '–':
			return '-'
		case '／':
			return '/'
		}
		return r
	}, v)
}

var scientific = regexp.MustCompile(`^[0-9](\.[0-9]+)?[eE][+]?[0-9]+$`)

// isScientific spots what Excel shows for a long number: 2.20102E+17.
func isScientific(v string) bool { return scientific.MatchString(v) }

// lostDigits decides whether a failed ID number is really Excel rounding
// (only 15 significant digits survive in a number cell) rather than a typo:
// the cell was stored as a number, or the digits past the 15th are all zero.
func (rc *rowCheck) lostDigits(col int, n string) bool {
	if len(n) == 0 || strings.Trim(n, "0123456789") != "" {
		return false
	}
	if len(n) > 15 && strings.Trim(n[15:], "0") == "" {
		return true
	}
	return rc.t.isNumber != nil && rc.t.isNumber(rc.row, col)
}

func (rc *rowCheck) excelDamage(field string, col int, v string) {
	rc.add(field, col, v, field+"_excel",
		"该单元格被Excel当作数字保存，末尾数字已丢失（Excel只保留15位有效数字）；请把这一列设置为“文本”格式后重新输入",
		"Excel stored this cell as a number and lost its trailing digits (Excel keeps only 15 significant digits); format the column as Text and type the number again")
}

var (
	ymdPattern = regexp.MustCompile(`^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$`)
	mdyPattern = regexp.MustCompile(`^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$`)
	timeSuffix = regexp.MustCompile(`[ T]+\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$`)
	serialNum  = regexp.MustCompile(`^\d{5}(\.\d+)?$`)
	minDate    = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// date parses an assessment date in the forms offices use and Excel
// produces, and records a problem if it is not acceptable.
func (rc *rowCheck) date(col int, v string, today time.Time) (time.Time, bool) {
	d, ok := parseDate(v, rc.t.date1904)
	switch {
	case !ok && (ymdPattern.MatchString(v) || len(v) == 8 && strings.Trim(v, "0123456789") == ""):
		rc.add(fAssessmentDate, col, v, "date_not_real",
			"日期不存在（请检查月份和日）",
			"this date does not exist (check the month and day)")
	case !ok && mdyPattern.MatchString(v):
		rc.add(fAssessmentDate, col, v, "date_order",
			"日期应按“年-月-日”的顺序填写，例如2026-06-30",
			"write dates as year-month-day, e.g. 2026-06-30")
	case !ok:
		rc.add(fAssessmentDate, col, v, "date_invalid",
			"无法识别的日期，请按“2026-06-30”或“2026年6月30日”的格式填写",
			"cannot read this date; write it as 2026-06-30 or 2026年6月30日")
	case d.After(today):
		rc.add(fAssessmentDate, col, v, "date_future",
			fmt.Sprintf("考核日期%s晚于今天", d.Format("2006-01-02")),
			fmt.Sprintf("assessment date %s is in the future", d.Format("2006-01-02")))
	case d.Before(minDate):
		rc.add(fAssessmentDate, col, v, "date_too_early",
			fmt.Sprintf("考核日期%s早于2000年", d.Format("2006-01-02")),
			fmt.Sprintf("assessment date %s is before 2000", d.Format("2006-01-02")))
	default:
		return d, true
	}
	return time.Time{}, false
}

// parseDate returns the civil date at midnight UTC. Five-digit numbers are
// Excel serials (36526 is 2000-01-01; 73051 is 2100-01-01), eight digits are
// yyyymmdd; a time of day, if any, is ignored.
func parseDate(v string, date1904 bool) (time.Time, bool) {
	v = strings.Map(func(r rune) rune {
		switch r {
		case '－':
			return '-'
		case '／':
			return '/'
		case '．':
			return '.'
		}
		return r
	}, v)
	v = timeSuffix.ReplaceAllString(v, "")
	var y, m, d int
	switch {
	case serialNum.MatchString(v):
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return time.Time{}, false
		}
		t, err := excelize.ExcelDateToTime(f, date1904)
		if err != nil {
			return time.Time{}, false
		}
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), true
	case len(v) == 8 && strings.Trim(v, "0123456789") == "":
		y, _ = strconv.Atoi(v[:4])
		m, _ = strconv.Atoi(v[4:6])
		d, _ = strconv.Atoi(v[6:])
	default:
		p := ymdPattern.FindStringSubmatch(v)
		if p == nil {
			return time.Time{}, false
		}
		y, _ = strconv.Atoi(p[1])
		m, _ = strconv.Atoi(p[2])
		d, _ = strconv.Atoi(p[3])
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Year() != y || int(t.Month()) != m || t.Day() != d {
		return time.Time{}, false
	}
	return t, true
}
