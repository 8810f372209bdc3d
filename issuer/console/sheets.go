package console

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/xuri/excelize/v2"

	"certd/issuer"
	"certd/issuer/occupation"
	"certd/issuer/workbook"
)

// Fees and the catalogue as people keep them: forms that name each
// occupation and level, and spreadsheets with a template to download,
// filled in and uploaded back. Every uploaded sheet goes through the
// bounded workbook reader.

var smallSheetLimits = workbook.Limits{
	Zip:           workbook.ZipLimits{Entries: 64, Total: 4 << 20, Entry: 2 << 20},
	SharedStrings: 512 << 10,
	SheetTags:     128 << 10,
	ParsedTags:    32 << 10,
	TextRun:       64 << 10,
	Rows:          3000,
	Cols:          12,
	CellBytes:     1 << 10,
	CellTotal:     2 << 20,
}

// sheetRows reads the first sheet of an .xlsx, or a CSV (UTF-8, with or
// without a BOM), into rows of cells.
func sheetRows(ctx context.Context, name string, data []byte) ([][]string, error) {
	if strings.EqualFold(filepath.Ext(name), ".csv") {
		data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
		if !utf8.Valid(data) {
			return nil, errf(issuer.ErrInvalid, "csv_encoding", "CSV文件应为UTF-8编码（可在Excel中“另存为 CSV UTF-8”）", "the CSV file must be UTF-8 (in Excel: Save As, CSV UTF-8)")
		}
		r := csv.NewReader(bytes.NewReader(data))
		r.FieldsPerRecord = -1
		rows, err := r.ReadAll()
		if err != nil || len(rows) > smallSheetLimits.Rows {
			return nil, errf(issuer.ErrInvalid, "csv_invalid", "CSV文件无法读取或超过3000行", "the CSV file cannot be read or has more than 3,000 rows")
		}
		return rows, nil
	}
	f, err := workbook.Open(data, smallSheetLimits, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, errf(issuer.ErrInvalid, "sheet_empty", "工作簿中没有工作表", "the workbook has no sheet")
	}
	var rows [][]string
	err = workbook.Read(ctx, f, sheets[0], smallSheetLimits, func(r workbook.Row) error {
		rows = append(rows, r.Cells)
		return nil
	})
	return rows, err
}

// columns finds each wanted column by a header that starts with one of its
// names, in the first row; missing ones keep their template position.
func columns(header []string, want [][]string) []int {
	idx := make([]int, len(want))
	for i := range want {
		idx[i] = i
		for j, h := range header {
			h = strings.TrimSpace(h)
			for _, name := range want[i] {
				if strings.HasPrefix(h, name) {
					idx[i] = j
				}
			}
		}
	}
	return idx
}

func cell(row []string, i int) string {
	if i < len(row) {
		return strings.TrimSpace(row[i])
	}
	return ""
}

// writeSheet writes rows under a bold, frozen header with the given widths.
func writeSheet(sheet string, header []string, widths []float64, rows [][]any) ([]byte, error) {
	x := excelize.NewFile()
	defer x.Close()
	if err := x.SetSheetName("Sheet1", sheet); err != nil {
		return nil, err
	}
	for i, w := range widths {
		col, _ := excelize.ColumnNumberToName(i + 1)
		_ = x.SetColWidth(sheet, col, col, w)
	}
	bold, _ := x.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}}})
	sw, err := x.NewStreamWriter(sheet)
	if err != nil {
		return nil, err
	}
	_ = sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"})
	hdr := make([]any, len(header))
	for i, h := range header {
		hdr[i] = excelize.Cell{StyleID: bold, Value: h}
	}
	if err := sw.SetRow("A1", hdr); err != nil {
		return nil, err
	}
	for i, r := range rows {
		c, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(c, r); err != nil {
			return nil, err
		}
	}
	if err := sw.Flush(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := x.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sendSheet(fc *fiber.Ctx, name string, b []byte) error {
	fc.Set(fiber.HeaderContentType, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	fc.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	return fc.Send(b)
}

// ---- fees ----

// feeRow is one (occupation, level) of the college's scope on the fee form.
type feeRow struct {
	Key, Code, Name string
	Level           occupation.Level
	Amount, Basis   string
}

// feeRows lists every occupation and level of in's scope (and any
// published fee outside it, so nothing is dropped unseen), with the
// amounts in force.
func (c *Console) feeRows(fc *fiber.Ctx, in issuer.Institution) ([]feeRow, error) {
	occ, err := c.svc.Occupations(fc.UserContext())
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, o := range occ {
		names[o.Code] = o.Name
	}
	fees := map[string]issuer.Fee{}
	for _, f := range in.Fees {
		fees[f.Occupation+"|"+f.Level.String()] = f
	}
	var out []feeRow
	seen := map[string]bool{}
	add := func(code string, l occupation.Level) {
		k := code + "|" + l.String()
		if seen[k] {
			return
		}
		seen[k] = true
		r := feeRow{Key: k, Code: code, Name: names[code], Level: l}
		if f, ok := fees[k]; ok {
			r.Amount, r.Basis = yuan(f.AmountFen), f.Basis
		}
		out = append(out, r)
	}
	for _, s := range in.Scope {
		for _, l := range s.Levels {
			add(s.Occupation, l)
		}
	}
	for _, f := range in.Fees {
		add(f.Occupation, f.Level)
	}
	return out, nil
}

var amountPattern = regexp.MustCompile(`^\d{1,7}(\.\d{1,2})?$`)

// feesFromForm reads the table form: an amount (and basis) per line of
// the scope; a line left empty is not published.
func feesFromForm(fc *fiber.Ctx, rows []feeRow) []issuer.FeeSpec {
	var specs []issuer.FeeSpec
	for _, r := range rows {
		amount := strings.TrimSpace(fc.FormValue("amount:" + r.Key))
		if amount == "" {
			continue
		}
		specs = append(specs, issuer.FeeSpec{Occupation: r.Code, Level: r.Level.String(), Amount: amount, Basis: strings.TrimSpace(fc.FormValue("basis:" + r.Key))})
	}
	return specs
}

var feeHeader = []string{"职业编码 Code", "职业名称 Occupation", "等级 Level", "金额（元）Amount (yuan)", "收费依据 Basis"}

// feesFromSheet reads an uploaded fee sheet, reporting every bad row at
// once with its row number as Excel shows it.
func feesFromSheet(ctx context.Context, name string, data []byte) ([]issuer.FeeSpec, error) {
	rows, err := sheetRows(ctx, name, data)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errf(issuer.ErrInvalid, "sheet_empty", "表格是空的", "the sheet is empty")
	}
	col := columns(rows[0], [][]string{{"职业编码"}, {"职业名称"}, {"等级"}, {"金额"}, {"收费依据", "依据"}})
	var specs []issuer.FeeSpec
	var zh, en []string
	for i, r := range rows[1:] {
		code, lv, amount, basis := cell(r, col[0]), cell(r, col[2]), strings.TrimSuffix(cell(r, col[3]), "元"), cell(r, col[4])
		if amount == "" {
			continue // a line of the template left empty: not published
		}
		n := i + 2
		l, ok := occupation.ParseLevel(lv)
		if code == "" || !ok || !amountPattern.MatchString(amount) {
			zh = append(zh, fmt.Sprintf("第%d行（职业编码、等级或金额有误）", n))
			en = append(en, fmt.Sprintf("row %d (occupation code, level or amount)", n))
			continue
		}
		specs = append(specs, issuer.FeeSpec{Occupation: code, Level: l.String(), Amount: amount, Basis: basis})
	}
	if len(zh) > 0 {
		return nil, &issuer.Error{Kind: issuer.ErrInvalid, Code: "fees_sheet", Zh: "收费标准表格有误：" + strings.Join(zh, "；") + "。金额以元为单位，最多两位小数；等级可写“3”或“三级/高级工”",
			En: "the fee sheet has problems: " + strings.Join(en, "; ") + ". Amounts are in yuan with at most two decimals; a level may be written 3 or 三级/高级工"}
	}
	return specs, nil
}

func (c *Console) feesTemplate(fc *fiber.Ctx, rc *reqCtx) error {
	in, err := c.own(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	rows, err := c.feeRows(fc, in)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	var out [][]any
	for _, r := range rows {
		out = append(out, []any{r.Code, r.Name, r.Level.Chinese(), r.Amount, r.Basis})
	}
	b, err := writeSheet("收费标准", feeHeader, []float64{14, 28, 16, 20, 50}, out)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	return sendSheet(fc, "fees-template.xlsx", b)
}

// ---- catalogue ----

var catalogueHeader = []string{"职业编码 Code", "职业名称 Occupation", "等级 Levels（如 5,4,3）", "工种 Specialty（可空）", "领域 Area（可空）"}

// catalogueFromSheet builds the catalogue JSON from a sheet: one row per
// occupation (工种 empty) and one per 工种 (same code, the 工种 named), each
// with its levels. Every bad row is reported at once.
func catalogueFromSheet(ctx context.Context, name string, data []byte) ([]byte, int, error) {
	rows, err := sheetRows(ctx, name, data)
	if err != nil {
		return nil, 0, err
	}
	if len(rows) < 2 {
		return nil, 0, errf(issuer.ErrInvalid, "sheet_empty", "表格中没有职业", "the sheet lists no occupation")
	}
	col := columns(rows[0], [][]string{{"职业编码"}, {"职业名称"}, {"等级"}, {"工种"}, {"领域"}})
	type entry = occupation.Occupation
	var list []*entry
	byCode := map[string]*entry{}
	var zh, en []string
	bad := func(n int, z, e string) {
		zh, en = append(zh, fmt.Sprintf("第%d行%s", n, z)), append(en, fmt.Sprintf("row %d %s", n, e))
	}
	for i, r := range rows[1:] {
		n := i + 2
		code, nm, lv, spec, area := occupation.NormalizeCode(cell(r, col[0])), cell(r, col[1]), cell(r, col[2]), cell(r, col[3]), cell(r, col[4])
		if code == "" && nm == "" && lv == "" && spec == "" {
			continue
		}
		var levels []occupation.Level
		ok := true
		for _, p := range strings.FieldsFunc(lv, func(r rune) bool { return strings.ContainsRune(",，、;； ", r) }) {
			l, good := occupation.ParseLevel(p)
			if !good {
				ok = false
				break
			}
			levels = append(levels, l)
		}
		if !ok || len(levels) == 0 {
			bad(n, "：等级应写为 5,4,3 或 五级、四级", ": levels must be written like 5,4,3")
			continue
		}
		o := byCode[code]
		if spec == "" {
			if o != nil && o.Name != "" {
				bad(n, "：职业"+code+"重复", ": occupation "+code+" is listed twice")
				continue
			}
			if o == nil {
				o = &entry{Code: code}
				byCode[code] = o
				list = append(list, o)
			}
			o.Name, o.Levels, o.Area = nm, levels, area
			continue
		}
		if o == nil {
			o = &entry{Code: code}
			byCode[code] = o
			list = append(list, o)
		}
		o.Specialties = append(o.Specialties, occupation.Specialty{Name: spec, Levels: levels})
	}
	for _, o := range list {
		if o.Name == "" {
			zh, en = append(zh, "职业"+o.Code+"只有工种行，缺少职业本身的一行"), append(en, "occupation "+o.Code+" has 工种 rows but no row of its own")
		}
	}
	if len(zh) > 0 {
		return nil, 0, &issuer.Error{Kind: issuer.ErrInvalid, Code: "catalogue_sheet", Zh: "职业目录表格有误：" + strings.Join(zh, "；"), En: "the catalogue sheet has problems: " + strings.Join(en, "; ")}
	}
	doc := struct {
		Edition     string   `json:"edition"`
		Occupations []*entry `json:"occupations"`
	}{"2022", list}
	b, err := json.Marshal(doc)
	return b, len(list), err
}

func (c *Console) catalogueTemplate(fc *fiber.Ctx, rc *reqCtx) error {
	occ, err := c.svc.Occupations(fc.UserContext())
	if err != nil {
		return c.fail(fc, rc, err)
	}
	levels := func(ls []occupation.Level) string {
		var s []string
		for _, l := range ls {
			s = append(s, l.String())
		}
		return strings.Join(s, ",")
	}
	var rows [][]any
	for _, o := range occ {
		rows = append(rows, []any{o.Code, o.Name, levels(o.Levels), "", o.Area})
		for _, s := range o.Specialties {
			rows = append(rows, []any{o.Code, o.Name, levels(s.Levels), s.Name, ""})
		}
	}
	b, err := writeSheet("职业目录", catalogueHeader, []float64{14, 30, 20, 24, 24}, rows)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	return sendSheet(fc, "catalogue-template.xlsx", b)
}

// catalogueEntry adds or corrects one occupation from the page's form:
// code, name, the levels ticked, and its 工种 one per line ("名称" takes the
// occupation's levels, "名称:3,2" its own).
func (c *Console) catalogueEntry(fc *fiber.Ctx, rc *reqCtx) error {
	o := occupation.Occupation{Code: occupation.NormalizeCode(fc.FormValue("code")), Name: strings.TrimSpace(fc.FormValue("name")), Edition: "2022"}
	for _, v := range formValues(fc, "level") {
		if l, ok := occupation.ParseLevel(v); ok {
			o.Levels = append(o.Levels, l)
		}
	}
	var err error
	specs := strings.TrimSpace(fc.FormValue("specialties"))
	if len(specs) > 8<<10 {
		err = errf(issuer.ErrInvalid, "field_long", "工种内容过长", "the 工种 list is too long")
	}
	for _, line := range strings.Split(specs, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || err != nil {
			continue
		}
		name, lv, has := strings.Cut(strings.ReplaceAll(line, "：", ":"), ":")
		s := occupation.Specialty{Name: strings.TrimSpace(name), Levels: o.Levels}
		if has {
			s.Levels = nil
			for _, p := range strings.FieldsFunc(lv, func(r rune) bool { return strings.ContainsRune(",，、 ", r) }) {
				l, ok := occupation.ParseLevel(p)
				if !ok {
					err = errf(issuer.ErrInvalid, "specialty_levels", "工种“%s”的等级无法识别", "the levels of 工种 %q are not understood", s.Name)
					break
				}
				s.Levels = append(s.Levels, l)
			}
		}
		o.Specialties = append(o.Specialties, s)
	}
	if err == nil {
		var raw []byte
		raw, err = json.Marshal(map[string]any{"edition": "2022", "occupations": []occupation.Occupation{o}})
		if err == nil {
			_, err = c.svc.ImportCatalogue(fc.UserContext(), rc.actor, raw)
		}
	}
	if err != nil {
		occ, _ := c.svc.Occupations(fc.UserContext())
		_, _, status := c.userError(err)
		return c.renderStatus(fc, rc, status, "catalogue", catalogueData{Occupations: occ, Err: c.formError(err), Entry: o, Specs: specs})
	}
	return c.redirect(fc, "/console/catalogue", "imported")
}
