package roster

import (
	"fmt"
	"strings"
	"unicode"

	"certd/issuer/fault"
)

// Canonical field keys, used in Problem.Field and in the alias table.
const (
	fName           = "name"
	fDocType        = "doc_type"
	fDocNumber      = "doc_number"
	fOccupationCode = "occupation_code"
	fOccupationName = "occupation_name"
	fSpecialty      = "specialty"
	fLevel          = "level"
	fCandidateType  = "candidate_type"
	fStudentNo      = "student_no"
	fMajor          = "major"
	fAssessmentDate = "assessment_date"
)

// fieldInfo gives each field the header used in messages and the template.
var fieldInfo = map[string]struct {
	zh, en   string
	required bool
}{
	fName:           {"姓名", "name", true},
	fDocType:        {"证件类型", "document type", false},
	fDocNumber:      {"证件号码", "document number", true},
	fOccupationCode: {"职业编码", "occupation code", true},
	fOccupationName: {"职业名称", "occupation name", false},
	fSpecialty:      {"工种/职业方向", "specialty", false},
	fLevel:          {"等级", "level", true},
	fCandidateType:  {"考生类别", "candidate type", true},
	fStudentNo:      {"学号", "student number", false},
	fMajor:          {"专业", "major", false},
	fAssessmentDate: {"考核日期", "assessment date", true},
}

// requiredFields is ordered for stable error messages.
var requiredFields = []string{fName, fDocNumber, fOccupationCode, fLevel, fCandidateType, fAssessmentDate}

// aliases maps a normalised header text (see normHeader) to a field. Keys are
// what offices actually write; English keys lose '_', '-' and spaces.
var aliases = map[string]string{
	"姓名": fName, "考生姓名": fName, "学生姓名": fName, "name": fName, "fullname": fName,

	"证件类型": fDocType, "证件种类": fDocType, "idtype": fDocType, "doctype": fDocType, "documenttype": fDocType,

	"证件号码": fDocNumber, "证件号": fDocNumber, "身份证号": fDocNumber, "身份证号码": fDocNumber,
	"身份证": fDocNumber, "身份证件号码": fDocNumber, "idnumber": fDocNumber, "docnumber": fDocNumber,
	"idno": fDocNumber, "documentnumber": fDocNumber,

	"职业编码": fOccupationCode, "职业代码": fOccupationCode, "occupationcode": fOccupationCode,

	"职业名称": fOccupationName, "occupationname": fOccupationName,

	"工种": fSpecialty, "工种/职业方向": fSpecialty, "职业方向": fSpecialty, "职业(工种)": fSpecialty,
	"specialty": fSpecialty, "speciality": fSpecialty,

	"等级": fLevel, "技能等级": fLevel, "职业技能等级": fLevel, "申报等级": fLevel, "认定等级": fLevel,
	"level": fLevel, "skilllevel": fLevel,

	"考生类别": fCandidateType, "人员类别": fCandidateType, "考生类型": fCandidateType,
	"candidatetype": fCandidateType,

	"学号": fStudentNo, "studentno": fStudentNo, "studentnumber": fStudentNo, "studentid": fStudentNo,

	"专业": fMajor, "所学专业": fMajor, "major": fMajor,

	"考核日期": fAssessmentDate, "考试日期": fAssessmentDate, "鉴定日期": fAssessmentDate,
	"认定日期": fAssessmentDate, "评价日期": fAssessmentDate, "assessmentdate": fAssessmentDate,
	"examdate": fAssessmentDate,
}

// normHeader reduces a header cell to its alias key: full-width ASCII folded,
// lower case, no spaces/underscores/hyphens, bracketed notes such as （必填）
// removed, and required-markers (*) dropped.
func normHeader(s string) string {
	var b strings.Builder
	depth := 0
	for _, r := range s {
		if r >= 0xFF01 && r <= 0xFF5E {
			r -= 0xFEE0
		}
		switch {
		case r == '(' || r == '【' || r == '[':
			depth++
			continue
		case r == ')' || r == '】' || r == ']':
			if depth > 0 {
				depth--
			}
			continue
		}
		if depth > 0 || unicode.IsSpace(r) || r == '_' || r == '-' || r == '*' || r == ':' || r == '\u200b' || r == '\ufeff' {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// header is the recognised header row of a table.
type header struct {
	row   int            // 0-based index into table.rows
	cols  map[string]int // field → 0-based column
	texts []string       // header text per column, as written (trimmed)
}

// findHeader looks for the header among the first rows: the row where the
// most cells are known column names, needing at least two so that a title
// such as "姓名册" cannot pass for a header.
func findHeader(rows [][]string) (*header, error) {
	best, bestN := -1, 1
	for i := 0; i < len(rows) && i < headerScan; i++ {
		n := 0
		seen := map[string]bool{}
		for _, c := range rows[i] {
			if f, ok := aliases[normHeader(c)]; ok && !seen[f] {
				seen[f] = true
				n++
			}
		}
		if n > bestN {
			best, bestN = i, n
		}
	}
	if best < 0 {
		return nil, fileErr("no_header",
			"在前%d行中找不到表头（应包含“姓名”“证件号码”“职业编码”“等级”“考生类别”“考核日期”等列）",
			"no header row found in the first %d rows (expected columns such as 姓名, 证件号码, 职业编码, 等级, 考生类别, 考核日期)", headerScan)
	}
	h := &header{row: best, cols: map[string]int{}}
	for c, text := range rows[best] {
		text = cleanCell(text)
		h.texts = append(h.texts, text)
		f, ok := aliases[normHeader(text)]
		if !ok {
			continue
		}
		if prev, dup := h.cols[f]; dup {
			return nil, &fault.Error{Kind: fault.Invalid, Code: "duplicate_column",
				Zh: fmt.Sprintf("表头中第%s列和第%s列都是“%s”，请删除其中一列", colName(prev), colName(c), fieldInfo[f].zh),
				En: fmt.Sprintf("header columns %s and %s both mean %s (%s); delete one of them", colName(prev), colName(c), fieldInfo[f].zh, fieldInfo[f].en)}
		}
		h.cols[f] = c
	}
	var missing, missingEn []string
	for _, f := range requiredFields {
		if _, ok := h.cols[f]; !ok {
			missing = append(missing, fieldInfo[f].zh)
			missingEn = append(missingEn, fieldInfo[f].zh+" ("+fieldInfo[f].en+")")
		}
	}
	if len(missing) > 0 {
		return h, &fault.Error{Kind: fault.Invalid, Code: "missing_columns",
			Zh: fmt.Sprintf("第%d行的表头缺少必填列：%s", best+1, strings.Join(missing, "、")),
			En: fmt.Sprintf("the header in row %d lacks required columns: %s", best+1, strings.Join(missingEn, ", "))}
	}
	return h, nil
}
