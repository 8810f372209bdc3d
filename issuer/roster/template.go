package roster

import (
	"fmt"

	"github.com/xuri/excelize/v2"

	"certd/issuer/ident"
	"certd/issuer/occupation"
)

// Template sheet names. The data sheet comes first because Parse takes the
// first sheet with a header; the instructions list one field per row so they
// can never be mistaken for a header.
const (
	TemplateSheet     = "名单"
	InstructionsSheet = "填写说明 Instructions"
	templateRows      = MaxRows + 1 // validation and formats reach the last allowed row
)

// templateColumns is the column order of the template; "*" marks required
// columns (Parse ignores it).
var templateColumns = []struct {
	field, header string
	width         float64
	text          bool // formatted as Text so Excel keeps every digit
	note, example string
}{
	{fName, "姓名*", 14, false, "与证件一致；少数民族姓名中间用“·”", "欧阳娜娜"},
	{fDocType, "证件类型", 24, false, "留空表示居民身份证", "居民身份证"},
	{fDocNumber, "证件号码*", 22, true, "本列已设为文本格式，请勿改为数字，否则Excel会丢失末尾数字", "220102200401010011"},
	{fStudentNo, "学号", 14, true, "选填", "2022010101"},
	{fMajor, "专业", 16, false, "选填", "智能焊接技术"},
	{fCandidateType, "考生类别*", 14, false, "毕业年度学生、在校生或社会人员", "毕业年度学生"},
	{fOccupationCode, "职业编码*", 12, true, "职业分类大典编码，如6-18-02-04", "6-18-02-04"},
	{fOccupationName, "职业名称", 14, false, "用于核对职业编码", "焊工"},
	{fSpecialty, "工种/职业方向", 16, false, "没有工种的职业留空", "电焊工"},
	{fLevel, "等级*", 14, false, "五级/初级工至一级/高级技师，也可填1至5", "三级/高级工"},
	{fAssessmentDate, "考核日期*", 13, false, "如2026-06-30或2026年6月30日", "2026-06-30"},
}

// Template returns the empty roster workbook offices fill in: a header row,
// columns pre-formatted (text for numbers that must keep their digits, a
// date format for the date), drop-down lists for 证件类型, 考生类别 and 等级,
// and an instructions sheet with an example for every column.
func Template() ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", TemplateSheet); err != nil {
		return nil, err
	}
	headStyle, err := f.NewStyle(&excelize.Style{
		Font:      &excelize.Font{Bold: true},
		Fill:      excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"D9E1F2"}},
		Alignment: &excelize.Alignment{Horizontal: "center", Vertical: "center"},
		NumFmt:    49,
	})
	if err != nil {
		return nil, err
	}
	textStyle, err := f.NewStyle(&excelize.Style{NumFmt: 49})
	if err != nil {
		return nil, err
	}
	dateFmt := "yyyy-mm-dd"
	dateStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &dateFmt})
	if err != nil {
		return nil, err
	}
	for i, c := range templateColumns {
		col := colName(i)
		cell := col + "1"
		if err := f.SetCellStr(TemplateSheet, cell, c.header); err != nil {
			return nil, err
		}
		if err := f.SetColWidth(TemplateSheet, col, col, c.width); err != nil {
			return nil, err
		}
		style := 0
		switch {
		case c.text:
			style = textStyle
		case c.field == fAssessmentDate:
			style = dateStyle
		}
		if style != 0 {
			if err := f.SetColStyle(TemplateSheet, col, style); err != nil {
				return nil, err
			}
		}
		var list []string
		switch c.field {
		case fDocType:
			for _, d := range ident.DocTypes {
				list = append(list, d.Chinese())
			}
		case fCandidateType:
			list = []string{"毕业年度学生", "在校生", "社会人员"}
		case fLevel:
			for l := occupation.Level(5); l >= 1; l-- {
				list = append(list, l.Chinese())
			}
		}
		if list != nil {
			dv := excelize.NewDataValidation(true)
			dv.SetSqref(fmt.Sprintf("%s2:%s%d", col, col, templateRows))
			if err := dv.SetDropList(list); err != nil {
				return nil, err
			}
			dv.SetError(excelize.DataValidationErrorStyleStop, "请从列表中选择", "请从下拉列表中选择 / choose from the list")
			if err := f.AddDataValidation(TemplateSheet, dv); err != nil {
				return nil, err
			}
		}
	}
	if err := f.SetCellStyle(TemplateSheet, "A1", colName(len(templateColumns)-1)+"1", headStyle); err != nil {
		return nil, err
	}
	if err := f.SetPanes(TemplateSheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return nil, err
	}

	if _, err := f.NewSheet(InstructionsSheet); err != nil {
		return nil, err
	}
	rows := [][]any{
		{"列名 Column", "必填 Required", "说明 Notes", "示例 Example"},
	}
	for _, c := range templateColumns {
		req := "否 no"
		if fieldInfo[c.field].required {
			req = "是 yes"
		}
		rows = append(rows, []any{fieldInfo[c.field].zh + " " + fieldInfo[c.field].en, req, c.note, c.example})
	}
	rows = append(rows, []any{}, []any{"每位考生一行，每个职业（工种）和等级各一行；可以在表头上方加标题行。最多" + fmt.Sprint(MaxRows) + "行。"},
		[]any{"One row per candidate, occupation (specialty) and level; a title row above the header is fine. At most " + fmt.Sprint(MaxRows) + " rows."})
	for i, r := range rows {
		if err := f.SetSheetRow(InstructionsSheet, fmt.Sprintf("A%d", i+1), &r); err != nil {
			return nil, err
		}
	}
	if err := f.SetColWidth(InstructionsSheet, "A", "A", 26); err != nil {
		return nil, err
	}
	if err := f.SetColWidth(InstructionsSheet, "B", "B", 14); err != nil {
		return nil, err
	}
	if err := f.SetColWidth(InstructionsSheet, "C", "D", 50); err != nil {
		return nil, err
	}
	f.SetActiveSheet(0)
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
