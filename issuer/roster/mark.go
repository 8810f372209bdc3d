package roster

import (
	"fmt"
	"sort"
	"strings"

	"github.com/xuri/excelize/v2"
)

// ProblemsSheet is the sheet Mark adds. A workbook that comes back with it
// (the office fixed the marked copy and re-uploaded it) parses normally: the
// sheet has no roster header, and Mark replaces it on the next round.
const ProblemsSheet = "问题 Problems"

// commentAuthor tags the comments Mark writes so that marking a re-uploaded
// workbook replaces them instead of stacking old reasons on top. When a cell
// already had the office's own comment, certd's reasons follow it after
// commentMarker, and only the part after the marker is replaced later.
const (
	commentAuthor = "certd"
	commentMarker = "—— certd 检查结果 / check result ——"
)

// officeText is the part of an existing comment that is not certd's.
func officeText(c excelize.Comment) string {
	text := commentText(c)
	if c.Author != commentAuthor {
		return text
	}
	if i := strings.Index(text, commentMarker); i >= 0 {
		return strings.TrimRight(text[:i], "\n")
	}
	return ""
}

// Mark returns a copy of the uploaded workbook with every cell named in
// problems filled red and carrying a comment with the reasons in Chinese and
// English, plus a sheet listing all problems with links to the cells. A CSV
// upload comes back as an .xlsx holding the CSV's cells as text. Problems
// not about a cell (Col < 0) appear only in the list.
func Mark(data []byte, filename string, problems []Problem) ([]byte, error) {
	t, closeFn, err := load(data, filename)
	if closeFn != nil {
		closeFn()
	}
	if err != nil {
		return nil, err
	}
	if t.format == "xlsx" {
		f, err := openXLSX(data, false)
		if err != nil {
			return nil, err
		}
		out, err := markFile(f, t.sheet, problems)
		_ = f.Close() // a workbook read from memory; markFile's result is what counts
		if err == nil {
			return out, nil
		}
		// Parts Parse never reads (comments, drawings, styles) can be broken
		// in a workbook whose cells are fine. The office still needs its
		// marked copy, so fall back to a fresh workbook of the same cells.
	}
	f, err := workbookFromRows(t.rows)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return markFile(f, TemplateSheet, problems)
}

// markFile marks problems on sheet of f and returns the workbook bytes.
func markFile(f *excelize.File, sheet string, problems []Problem) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("roster: marking failed: %v", p)
		}
	}()
	byCell := map[string][]Problem{}
	var cells []string
	for _, p := range problems {
		if p.Col < 0 || p.Row < 1 || p.Col >= excelize.MaxColumns || p.Row > excelize.TotalRows {
			continue
		}
		name, _ := excelize.CoordinatesToCellName(p.Col+1, p.Row)
		if _, ok := byCell[name]; !ok {
			cells = append(cells, name)
		}
		byCell[name] = append(byCell[name], p)
	}

	existing := map[string]excelize.Comment{}
	cs, err := f.GetComments(sheet)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		existing[c.Cell] = c
	}
	redFor := map[int]int{} // original style → red variant, so formats survive
	for _, cell := range cells {
		orig, err := f.GetCellStyle(sheet, cell)
		if err != nil {
			return nil, err
		}
		red, ok := redFor[orig]
		if !ok {
			if red, err = redStyle(f, orig); err != nil {
				return nil, err
			}
			redFor[orig] = red
		}
		if err := f.SetCellStyle(sheet, cell, cell, red); err != nil {
			return nil, err
		}
		var text []string
		for _, p := range byCell[cell] {
			text = append(text, p.Zh, p.En)
		}
		body := strings.Join(text, "\n")
		if old, ok := existing[cell]; ok {
			if err := f.DeleteComment(sheet, cell); err != nil {
				return nil, err
			}
			if prefix := officeText(old); prefix != "" {
				body = prefix + "\n\n" + commentMarker + "\n" + body
			}
		}
		if err := f.AddComment(sheet, excelize.Comment{
			Cell:   cell,
			Author: commentAuthor,
			Text:   body,
			Width:  320,
			Height: uint(40 + 30*len(byCell[cell])),
		}); err != nil {
			return nil, err
		}
	}
	if err := unmarkFixed(f, sheet, existing, byCell); err != nil {
		return nil, err
	}
	if err := writeProblemsSheet(f, sheet, problems); err != nil {
		return nil, err
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func commentText(c excelize.Comment) string {
	if c.Text != "" {
		return c.Text
	}
	var b strings.Builder
	for _, r := range c.Paragraph {
		b.WriteString(r.Text)
	}
	return b.String()
}

// workbookFromRows builds a workbook holding rows at the same row and
// column positions, so problem coordinates apply unchanged. Every cell is
// text, and the columns are formatted as Text so the office's next edit of
// an ID cell is not turned into a number again.
func workbookFromRows(rows [][]string) (*excelize.File, error) {
	f := excelize.NewFile()
	const sheet = TemplateSheet
	fail := func(err error) (*excelize.File, error) {
		_ = f.Close() // err is the one to report
		return nil, err
	}
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return fail(err)
	}
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49})
	if err != nil {
		return fail(err)
	}
	width := 0
	for i, r := range rows {
		for c, v := range r {
			if v == "" {
				continue
			}
			cell, _ := excelize.CoordinatesToCellName(c+1, i+1)
			if err := f.SetCellStr(sheet, cell, v); err != nil {
				return fail(err)
			}
		}
		width = max(width, len(r))
	}
	if width > 0 {
		if err := f.SetColStyle(sheet, "A:"+colName(width-1), text); err != nil {
			return fail(err)
		}
		if err := f.SetColWidth(sheet, "A", colName(width-1), 16); err != nil {
			return fail(err)
		}
	}
	return f, nil
}

// unmarkFixed clears an earlier round's marking from cells that are fine
// now: a certd comment means certd filled the cell, so its fill goes too.
func unmarkFixed(f *excelize.File, sheet string, existing map[string]excelize.Comment, current map[string][]Problem) error {
	plain := map[int]int{}
	for cell, c := range existing {
		if _, still := current[cell]; still || c.Author != commentAuthor {
			continue
		}
		if err := f.DeleteComment(sheet, cell); err != nil {
			return err
		}
		if prefix := officeText(c); prefix != "" {
			text := prefix + "\n\n" + commentMarker + "\n已改正 / fixed"
			if err := f.AddComment(sheet, excelize.Comment{Cell: cell, Author: commentAuthor, Text: text}); err != nil {
				return err
			}
		}
		orig, err := f.GetCellStyle(sheet, cell)
		if err != nil {
			return err
		}
		id, ok := plain[orig]
		if !ok {
			st, err := f.GetStyle(orig)
			if err != nil || st == nil {
				st = &excelize.Style{}
			}
			st.Fill = excelize.Fill{}
			if st.Font != nil && strings.EqualFold(st.Font.Color, "9C0006") {
				font := *st.Font
				font.Color = ""
				st.Font = &font
			}
			if id, err = f.NewStyle(st); err != nil {
				return err
			}
			plain[orig] = id
		}
		if err := f.SetCellStyle(sheet, cell, cell, id); err != nil {
			return err
		}
	}
	return nil
}

// redStyle derives a red-filled copy of a cell style, keeping its number
// format, font and borders.
func redStyle(f *excelize.File, orig int) (int, error) {
	st, err := f.GetStyle(orig)
	if err != nil || st == nil {
		st = &excelize.Style{}
	}
	st.Fill = excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FFC7CE"}}
	font := excelize.Font{}
	if st.Font != nil {
		font = *st.Font
	}
	font.Color = "9C0006"
	st.Font = &font
	return f.NewStyle(st)
}

// writeProblemsSheet (re)creates the problem list with a link from each row
// number to the offending cell.
func writeProblemsSheet(f *excelize.File, sheet string, problems []Problem) error {
	if idx, _ := f.GetSheetIndex(ProblemsSheet); idx >= 0 {
		if err := f.DeleteSheet(ProblemsSheet); err != nil {
			return err
		}
	}
	if _, err := f.NewSheet(ProblemsSheet); err != nil {
		return err
	}
	head := []any{"行 Row", "列 Column", "字段 Field", "内容 Value", "代码 Code", "原因", "Reason"}
	if err := f.SetSheetRow(ProblemsSheet, "A1", &head); err != nil {
		return err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	if err := f.SetCellStyle(ProblemsSheet, "A1", "G1", bold); err != nil {
		return err
	}
	sorted := append([]Problem(nil), problems...)
	sort.SliceStable(sorted, func(a, b int) bool {
		if sorted[a].Row != sorted[b].Row {
			return sorted[a].Row < sorted[b].Row
		}
		return sorted[a].Col < sorted[b].Col
	})
	quoted := "'" + strings.ReplaceAll(sheet, "'", "''") + "'"
	for i, p := range sorted {
		r := i + 2
		column := p.Column
		if p.Col >= 0 {
			column = fmt.Sprintf("%s（%s）", p.Column, colName(p.Col))
		}
		row := []any{p.Row, column, p.Field, p.Value, p.Code, p.Zh, p.En}
		if err := f.SetSheetRow(ProblemsSheet, fmt.Sprintf("A%d", r), &row); err != nil {
			return err
		}
		// Values are written as strings so an ID number stays text.
		if err := f.SetCellStr(ProblemsSheet, fmt.Sprintf("D%d", r), p.Value); err != nil {
			return err
		}
		if p.Row >= 1 && p.Row <= excelize.TotalRows {
			target := fmt.Sprintf("A%d", p.Row)
			if p.Col >= 0 && p.Col < excelize.MaxColumns {
				target, _ = excelize.CoordinatesToCellName(p.Col+1, p.Row)
			}
			if err := f.SetCellHyperLink(ProblemsSheet, fmt.Sprintf("A%d", r), quoted+"!"+target, "Location"); err != nil {
				return err
			}
		}
	}
	for col, w := range map[string]float64{"A": 8, "B": 18, "C": 16, "D": 22, "E": 24, "F": 50, "G": 60} {
		if err := f.SetColWidth(ProblemsSheet, col, col, w); err != nil {
			return err
		}
	}
	return f.SetPanes(ProblemsSheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"})
}
