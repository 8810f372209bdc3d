package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"certd/issuer"
	"certd/issuer/workbook"
	"certd/verify"
)

// maxSheet bounds an uploaded bulk sheet.
const maxSheet = 4 << 20

// maxSheetCols bounds the columns of a bulk sheet's rows, CSV or XLSX.
const maxSheetCols = 256

// sheetLimits bound what reading an uploaded XLSX may cost: an honest
// sheet of 1,000 rows is a few hundred KB uncompressed. The densest
// workbook within them costs about 64 MB of allocation, most of it
// garbage (issuer/workbook's TestDenseWorkbookWithinBound).
var sheetLimits = workbook.Limits{
	Zip:           workbook.ZipLimits{Entries: 128, Total: 8 << 20, Entry: 4 << 20},
	SharedStrings: 512 << 10,
	SheetTags:     256 << 10,
	ParsedTags:    64 << 10,
	TextRun:       256 << 10,
	Rows:          maxItems + 1,
	Cols:          maxSheetCols,
	// Longer than any cell the check uses: a cut cell still fails the
	// item's own length check.
	CellBytes: 1 << 10,
	CellTotal: 4 << 20,
}

// Errors of an uploaded sheet.
var (
	errSheetTooLarge = issuer.Errorf(issuer.ErrInvalid, codeTooLarge, "文件过大", "the file is too large")
	errSheetEmpty    = issuer.Errorf(issuer.ErrInvalid, "sheet_empty", "文件中没有数据行", "the file has no data rows")
	errSheetTooMany  = issuer.Errorf(issuer.ErrInvalid, "too_many_items", "一次最多核验%d行", "at most %d rows per file", maxItems)
	errSheetFormat   = issuer.Errorf(issuer.ErrInvalid, "sheet_format",
		"无法读取文件：请上传 CSV（UTF-8 或 GB18030）或 XLSX", "cannot read the file: upload CSV (UTF-8 or GB18030) or XLSX")
	errNoNumberCol = issuer.Errorf(issuer.ErrInvalid, "sheet_header", "表头中没有“证书编号”列", "the header has no certificate number column")
	errSheetWide   = issuer.Errorf(issuer.ErrInvalid, "sheet_format", "每行最多%d列", "at most %d columns a row", maxSheetCols)
)

// parseSheet reads a bulk check sheet: CSV (UTF-8, with or without BOM, or
// GB18030 as older Excel saves it) or XLSX, one certificate per row with
// the number, the full name and optionally the ID number. A first row that
// names its columns (证书编号/姓名/证件号码, or number/name/id_number) is
// used to find them in any order; otherwise the columns are taken in that
// order.
func parseSheet(ctx context.Context, data []byte, isXLSX bool) ([]item, error) {
	if len(data) > maxSheet {
		return nil, errSheetTooLarge
	}
	var rows [][]string
	var err error
	if isXLSX {
		rows, err = readXLSX(ctx, data)
	} else {
		rows, err = readCSV(data)
	}
	if err != nil {
		return nil, err
	}
	col := [3]int{0, 1, 2}
	if len(rows) > 0 {
		if hdr, ok, err := headerColumns(rows[0]); err != nil {
			return nil, err
		} else if ok {
			col, rows = hdr, rows[1:]
		}
	}
	var items []item
	for _, r := range rows {
		cell := func(i int) string {
			if i < 0 || i >= len(r) {
				return ""
			}
			return strings.TrimSpace(r[i])
		}
		it := item{Number: cell(col[0]), Name: cell(col[1]), IDNumber: cell(col[2])}
		if it.Number == "" && it.Name == "" && it.IDNumber == "" {
			continue
		}
		items = append(items, it)
		if len(items) > maxItems {
			return nil, errSheetTooMany
		}
	}
	if len(items) == 0 {
		return nil, errSheetEmpty
	}
	return items, nil
}

func headerColumns(r []string) ([3]int, bool, error) {
	col := [3]int{-1, -1, -1}
	for i, h := range r {
		h = strings.ToLower(strings.Join(strings.Fields(h), ""))
		switch {
		case strings.Contains(h, "证书编号"), h == "number", h == "certificate_number", h == "certificatenumber":
			col[0] = i
		case h == "姓名", strings.Contains(h, "持证人"), h == "name":
			col[1] = i
		case strings.Contains(h, "证件号"), strings.Contains(h, "身份证"), h == "id_number", h == "idnumber":
			col[2] = i
		}
	}
	if col == [3]int{-1, -1, -1} {
		return col, false, nil
	}
	if col[0] < 0 {
		return col, false, errNoNumberCol
	}
	return col, true, nil
}

func readCSV(data []byte) ([][]string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		dec, err := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
		if err != nil || !utf8.Valid(dec) {
			return nil, errSheetFormat
		}
		data = dec
	}
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, errSheetFormat
	}
	// encoding/csv keeps a slice entry per field: a line of commas would
	// cost 24 bytes of memory for every byte sent. Count the separators
	// of each line first (quotes ignored, which can only count more).
	for line := range bytes.Lines(data) {
		if bytes.Count(line, []byte(",")) >= maxSheetCols || bytes.Count(line, []byte("\t")) >= maxSheetCols {
			return nil, errSheetWide
		}
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	if first, _, _ := strings.Cut(string(data[:min(len(data), 4096)]), "\n"); strings.Count(first, "\t") > strings.Count(first, ",") {
		r.Comma = '\t'
	}
	var rows [][]string
	for {
		rec, err := r.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, errSheetFormat
		}
		rows = append(rows, rec)
		if len(rows) > maxItems+1 {
			return nil, errSheetTooMany
		}
	}
	return rows, nil
}

// readXLSX reads the first sheet of a workbook through the bounded reader
// every upload path shares (issuer/workbook).
func readXLSX(ctx context.Context, data []byte) (rows [][]string, err error) {
	f, err := workbook.Open(data, sheetLimits, false)
	if err != nil {
		return nil, sheetError(err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, errSheetEmpty
	}
	err = workbook.Read(ctx, f, sheets[0], sheetLimits, func(r workbook.Row) error {
		rows = append(rows, r.Cells)
		return nil
	})
	if err != nil {
		return nil, sheetError(err)
	}
	return rows, nil
}

// sheetError turns the workbook reader's error into the bulk check's: its
// own message, with the status a size limit or a deadline calls for.
func sheetError(err error) error {
	e, ok := issuer.AsError(err)
	if !ok {
		return errSheetFormat
	}
	switch e.Code {
	case workbook.CodeOutOfTime:
		return verify.ErrDeadline
	case workbook.CodeRows:
		return errSheetTooMany
	case workbook.CodeTooLarge, workbook.CodeTooMany, workbook.CodeTooMuch, workbook.CodeTooLong:
		return &issuer.Error{Kind: issuer.ErrInvalid, Code: codeTooLarge, Zh: e.Zh, En: e.En}
	case workbook.CodeDamaged:
		return errSheetFormat
	}
	return e
}

var resultHeader = []string{"证书编号 Number", "姓名 Name", "结论", "Conclusion", "确认 Confirmed", "姓名一致 Name matches", "证件号码一致 ID matches",
	"状态说明 Status", "职业 Occupation", "等级 Level", "发证日期 Issued on", "发证机构 Issuer", "错误 Error"}

func yesNo(b bool) string {
	if b {
		return "是 yes"
	}
	return "否 no"
}

// resultRows turns results into the sheet's rows, echoing the names as the
// uploader gave them.
func resultRows(items []item, res []itemResult) [][]string {
	rows := [][]string{resultHeader}
	for i, r := range res {
		// The conclusion, not the verdict: a valid certificate checked
		// with the wrong name must not read 有效 in the column a clerk
		// filters on.
		row := []string{r.Number, items[i].Name, r.ConclusionZh, r.ConclusionEn, yesNo(r.Confirmed), "", "", "", "", "", "", "", r.Error}
		if r.Match != nil {
			row[5] = yesNo(r.Match.Name)
			if r.Match.IDNumber != nil {
				row[6] = yesNo(*r.Match.IDNumber)
			} else if r.Match.IDNotChecked {
				row[6] = "今日暂停核对（疑似有人猜测）not checked today (possible guessing)"
			} else if items[i].IDNumber != "" {
				row[6] = "未核验 not checked"
			}
		}
		if r.Verdict == verify.Stale {
			row[7] = "状态截至 " + r.AsOf + "，暂时无法确认当前状态，不表示证书无效 / status as of " + r.AsOf + ": the current status cannot be confirmed right now; this does not mean the certificate is invalid"
		}
		if s := r.Status; s != nil {
			switch s.Status {
			case "revoked":
				row[7] = "已于" + s.RevokedOn + "撤销：" + s.ReasonZh + " / revoked " + s.RevokedOn + ": " + s.ReasonEn
			case "superseded":
				row[7] = "已更正，新证书 " + s.SupersededBy + " / superseded by " + s.SupersededBy
			default:
				row[7] = s.Status
			}
		}
		if c := r.Cert; c != nil {
			row[8], row[9], row[10], row[11] = strings.TrimSpace(c.OccupationName+" "+c.Specialty), c.LevelZh, c.IssuedOn, c.IssuerName
		}
		for j, v := range row {
			row[j] = issuer.DefuseFormula(v)
		}
		rows = append(rows, row)
	}
	return rows
}

// resultXLSX is the result sheet as a clerk works with it: column widths, a
// frozen header row with a filter, and each row coloured by whether it can
// be accepted (green) or needs action (red), so that the 结论 column can be
// filtered and the rows to act on stand out.
func resultXLSX(rows [][]string, res []itemResult) (*excelize.File, error) {
	f := excelize.NewFile()
	fail := func(err error) (*excelize.File, error) { _ = f.Close(); return nil, err }
	const sheet = "Sheet1"
	head, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"D0D5DD"}}})
	if err != nil {
		return fail(err)
	}
	okStyle, err := f.NewStyle(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"ECFDF3"}}})
	if err != nil {
		return fail(err)
	}
	actStyle, err := f.NewStyle(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"FEE4E2"}}})
	if err != nil {
		return fail(err)
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return fail(err)
	}
	for col, w := range []float64{26, 12, 14, 22, 12, 14, 16, 40, 24, 14, 12, 24, 30} {
		if err := sw.SetColWidth(col+1, col+1, w); err != nil {
			return fail(err)
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return fail(err)
	}
	for i, r := range rows {
		cells := make([]any, len(r))
		for j, v := range r {
			cells[j] = v
		}
		style := head
		if i > 0 {
			style = actStyle
			if x := res[i-1]; x.Confirmed && x.Conclusion == verify.ConclusionValid {
				style = okStyle
			}
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := sw.SetRow(cell, cells, excelize.RowOpts{StyleID: style}); err != nil {
			return fail(err)
		}
	}
	if err := sw.Flush(); err != nil {
		return fail(err)
	}
	last, _ := excelize.CoordinatesToCellName(len(resultHeader), len(rows))
	if err := f.AutoFilter(sheet, "A1:"+last, nil); err != nil {
		return fail(err)
	}
	return f, nil
}

// bulkSummary is a bulk check as the page shows it: how many rows can be
// accepted, how many need action and why, and one line per row (no names).
type bulkSummary struct {
	Total, Accept, Review int
	Reasons               []bulkReason
	Rows                  []bulkRow
}

type bulkReason struct {
	Label string
	Count int
}

type bulkRow struct {
	Row                       int
	Number, Conclusion, Error string
	OK                        bool
}

func summarize(en bool, res []itemResult) *bulkSummary {
	s := &bulkSummary{Total: len(res)}
	counts := map[string]int{}
	var order []string
	for i, r := range res {
		label := t(en, r.ConclusionZh, r.ConclusionEn)
		if label == "" {
			label = t(en, "无法核验", "could not check")
		}
		ok := r.Confirmed && r.Conclusion == verify.ConclusionValid
		if ok {
			s.Accept++
		} else {
			s.Review++
			if counts[label] == 0 {
				order = append(order, label)
			}
			counts[label]++
		}
		s.Rows = append(s.Rows, bulkRow{Row: i + 1, Number: r.Number, Conclusion: label, Error: r.Error, OK: ok})
	}
	for _, l := range order {
		s.Reasons = append(s.Reasons, bulkReason{l, counts[l]})
	}
	return s
}

// bulkTemplate is the empty sheet a credit office fills in: the header the
// parser reads (证书编号, 姓名, 证件号码), with a BOM so that Excel opens it
// as UTF-8.
func (h *handlers) bulkTemplate(c *fiber.Ctx) error {
	c.Set("Cache-Control", "public, max-age=86400")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="bulk-check-template.csv"`)
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	return c.SendString("\xef\xbb\xbf证书编号,姓名,证件号码（选填）\r\n")
}

func (h *handlers) bulkForm(c *fiber.Ctx) error {
	en := wantsEnglish(c)
	d := h.pageData(c, "/bulk", en, t(en, "批量核验证书", "Bulk certificate check"), t(en, "上传CSV或XLSX批量核验职业技能等级证书", "Check skill certificates in bulk from a CSV or XLSX file"))
	return h.renderPage(c, fiber.StatusOK, "bulk", d)
}

func (h *handlers) bulkUpload(c *fiber.Ctx) error {
	en := wantsEnglish(c)
	c.Set("Cache-Control", "private, no-store")
	bad := func(e *issuer.Error) error {
		d := h.pageData(c, "/bulk", en, t(en, "批量核验证书", "Bulk certificate check"), "")
		d.Notice = t(en, e.Zh, e.En)
		return h.renderPage(c, statusOf(e), "bulk", d)
	}
	fh, err := c.FormFile("file")
	if err != nil {
		return bad(errNoSheet)
	}
	data, err := readUpload(fh, maxSheet)
	if err != nil {
		return bad(errSheetTooLarge)
	}
	isXLSX := bytes.HasPrefix(data, []byte("PK\x03\x04"))
	items, err := parseSheet(c.UserContext(), data, isXLSX)
	if e, ok := issuer.AsError(err); ok {
		return bad(e)
	} else if err != nil {
		return h.failWith(c, err)
	}
	if !h.confirm.allow(h.clientKey(c), int64(len(items))) {
		return h.limited(c)
	}
	res, err := h.checkItems(c.UserContext(), h.clientKey(c), items)
	if err != nil {
		e, _ := issuer.AsError(err)
		return bad(e)
	}
	if c.FormValue("view") == "page" {
		d := h.pageData(c, "/bulk", en, t(en, "批量核验证书", "Bulk certificate check"), "")
		d.Bulk = summarize(en, res)
		return h.renderPage(c, fiber.StatusOK, "bulk", d)
	}
	rows := resultRows(items, res)
	if isXLSX {
		f, err := resultXLSX(rows, res)
		if err != nil {
			return err
		}
		defer f.Close()
		var buf bytes.Buffer
		if _, err := f.WriteTo(&buf); err != nil {
			return err
		}
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="verify-results.xlsx"`)
		c.Set(fiber.HeaderContentType, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		return c.Send(buf.Bytes())
	}
	var buf bytes.Buffer
	buf.WriteString("\xef\xbb\xbf") // so that Excel opens UTF-8 as UTF-8
	w := csv.NewWriter(&buf)
	_ = w.WriteAll(rows)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="verify-results.csv"`)
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	return c.Send(buf.Bytes())
}

// errNoCredential: the credential form was sent empty.
var errNoCredential = issuer.Errorf(issuer.ErrInvalid, "no_credential", "请上传凭证文件或粘贴凭证内容", "upload a credential file or paste the credential")

// bulkCredential serves POST /bulk/credential: a holder credential
// (SD-JWT VC) uploaded or pasted, checked like a signed record, answered
// on the page. Bounded like a record sent to the API.
func (h *handlers) bulkCredential(c *fiber.Ctx) error {
	en := wantsEnglish(c)
	c.Set("Cache-Control", "private, no-store")
	d := h.pageData(c, "/bulk", en, t(en, "批量核验证书", "Bulk certificate check"), "")
	text := c.FormValue("credential")
	if fh, err := c.FormFile("file"); err == nil && strings.TrimSpace(text) == "" {
		b, err := readUpload(fh, maxTokenBody)
		if err != nil {
			d.Notice = t(en, errTokenTooLarge.Zh, errTokenTooLarge.En)
			return h.renderPage(c, fiber.StatusRequestEntityTooLarge, "bulk", d)
		}
		text = string(b)
	}
	switch {
	case strings.TrimSpace(text) == "":
		d.Notice = t(en, errNoCredential.Zh, errNoCredential.En)
		return h.renderPage(c, fiber.StatusBadRequest, "bulk", d)
	case len(text) > maxTokenBody:
		d.Notice = t(en, errTokenTooLarge.Zh, errTokenTooLarge.En)
		return h.renderPage(c, fiber.StatusRequestEntityTooLarge, "bulk", d)
	}
	res := h.verifyToken(c.UserContext(), text, nil, "credential")
	if c.UserContext().Err() != nil {
		return h.fail(c, verify.ErrDeadline)
	}
	d.Cred = &res
	return h.renderPage(c, fiber.StatusOK, "bulk", d)
}
