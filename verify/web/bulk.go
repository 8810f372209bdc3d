package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
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
		"无法读取文件：请上传表格（CSV：UTF-8 或 GB18030；XLSX）或本系统签发的证书 PDF", "cannot read the file: upload a sheet (CSV in UTF-8 or GB18030, or XLSX) or a certificate PDF this service issued")
	errNoNumberCol = issuer.Errorf(issuer.ErrInvalid, "sheet_header", "表头中没有“证书编号”列", "the header has no certificate number column")
	errSheetWide   = issuer.Errorf(issuer.ErrInvalid, "sheet_format", "每行最多%d列", "at most %d columns a row", maxSheetCols)
)

// sheet is an uploaded bulk check sheet: its items, and the clerk's own
// columns (any column the check does not read), echoed back beside the
// results in their original order.
type sheet struct {
	Items []item
	// Extra names the clerk's own columns: the header's text, or 第N列
	// when the sheet has no header.
	Extra []string
}

// parseSheet reads a bulk check sheet: CSV (UTF-8, with or without BOM, or
// GB18030 as older Excel saves it) or XLSX, one certificate per row with
// the number, the full name and optionally the ID number. A first row that
// names its columns (证书编号/姓名/证件号码, or number/name/id_number) is
// used to find them in any order; otherwise the columns are taken in that
// order. Every other column is the clerk's own (readSheet keeps them).
func parseSheet(ctx context.Context, data []byte, isXLSX bool) ([]item, error) {
	s, err := readSheet(ctx, data, isXLSX)
	if err != nil {
		return nil, err
	}
	return s.Items, nil
}

// readSheet is parseSheet with the clerk's own columns.
func readSheet(ctx context.Context, data []byte, isXLSX bool) (*sheet, error) {
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
	var header []string
	if len(rows) > 0 {
		if hdr, ok, err := headerColumns(rows[0]); err != nil {
			return nil, err
		} else if ok {
			col, header, rows = hdr, rows[0], rows[1:]
		}
	}
	// The clerk's columns: every column up to the widest row (or the
	// header) that is not one the check reads.
	width := len(header)
	for _, r := range rows {
		width = max(width, len(r))
	}
	var extra []int
	s := &sheet{}
	for i := 0; i < width; i++ {
		if i == col[0] || i == col[1] || i == col[2] {
			continue
		}
		name := ""
		if i < len(header) {
			name = strings.TrimSpace(header[i])
		}
		if name == "" {
			name = fmt.Sprintf("第%d列 Column %d", i+1, i+1)
		}
		extra = append(extra, i)
		s.Extra = append(s.Extra, name)
	}
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
		if len(extra) > 0 {
			it.Extra = make([]string, len(extra))
			for j, i := range extra {
				if i < len(r) {
					// Unchanged: the clerk's cell as read, spaces kept.
					it.Extra[j] = r[i]
				}
			}
		}
		s.Items = append(s.Items, it)
		if len(s.Items) > maxItems {
			return nil, errSheetTooMany
		}
	}
	if len(s.Items) == 0 {
		return nil, errSheetEmpty
	}
	return s, nil
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

// The check's own columns after the results: when and under which receipt.
const (
	sheetTimeHeader = "核验时间 Checked at"
	sheetRefHeader  = "核验回执 Receipt"
)

var resultHeader = []string{"证书编号 Number", "姓名 Name", "结论", "Conclusion", "确认 Confirmed", "姓名一致 Name matches", "证件号码一致 ID matches",
	"状态说明 Status", "职业 Occupation", "等级 Level", "发证日期 Issued on", "发证机构 Issuer", "错误 Error"}

func yesNo(b bool) string {
	if b {
		return "是 yes"
	}
	return "否 no"
}

// sheetMeta is what a result sheet says about the check as a whole: when
// it was made, the receipt that records it, and the clerk's own columns.
type sheetMeta struct {
	CheckedAt time.Time // shown in China time (Asia/Shanghai), with the zone
	Ref       string    // the receipt's reference; empty when none was kept
	RefNote   string    // why there is none (Chinese / English)
	Extra     []string  // names of the clerk's own columns
}

// checkedAtText is a check time as the sheet and the receipt show it: in
// China time, with the zone spelled out, so that a copy read elsewhere
// cannot mistake it.
func checkedAtText(t time.Time) string {
	return t.In(issuer.ChinaTime).Format("2006-01-02 15:04:05 -07:00") + " (Asia/Shanghai)"
}

// resultRows turns results into the sheet's rows, echoing the names as the
// uploader gave them, then the check time and the receipt's reference, then
// the clerk's own columns unchanged (formula-defused, as every cell).
func resultRows(items []item, res []itemResult, meta sheetMeta) [][]string {
	header := append(append([]string{}, resultHeader...), sheetTimeHeader, sheetRefHeader)
	header = append(header, meta.Extra...)
	for j, v := range header {
		header[j] = issuer.DefuseFormula(v)
	}
	rows := [][]string{header}
	ref := meta.Ref
	if ref == "" {
		ref = meta.RefNote
	}
	checked := checkedAtText(meta.CheckedAt)
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
		row = append(row, checked, ref)
		for j := range meta.Extra {
			v := ""
			if j < len(items[i].Extra) {
				v = items[i].Extra[j]
			}
			row = append(row, v)
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
	widths := []float64{26, 12, 14, 22, 12, 14, 16, 40, 24, 14, 12, 24, 30, 34, 28}
	for col := len(widths); col < len(rows[0]); col++ {
		widths = append(widths, 16) // the clerk's own columns
	}
	for col, w := range widths {
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
	last, _ := excelize.CoordinatesToCellName(len(rows[0]), len(rows))
	if err := f.AutoFilter(sheet, "A1:"+last, nil); err != nil {
		return fail(err)
	}
	return f, nil
}

// bulkSummary is a bulk check as the page shows it: how many rows can be
// accepted, how many need action and why, and one line per row (no names).
type bulkSummary struct {
	Total, Accept, Review int
	CheckedAt             string  // checkedAtText
	Receipt               receipt // the receipt kept of the check (receipt.go)
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

// What an upload to /bulk is, by its first bytes (never by its name or
// declared type, which say what the sender claims).
type uploadKind int

const (
	uploadCSV uploadKind = iota
	uploadXLSX
	uploadPDF
	uploadImage
	uploadXLS
)

func kindOf(data []byte) uploadKind {
	head := bytes.TrimLeft(data[:min(len(data), 1024)], "\x00\t\r\n ")
	switch {
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return uploadPDF
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return uploadXLSX
	case bytes.HasPrefix(data, []byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")):
		return uploadXLS
	case bytes.HasPrefix(data, []byte("\x89PNG")), bytes.HasPrefix(data, []byte("\xff\xd8\xff")),
		bytes.HasPrefix(data, []byte("GIF8")), bytes.HasPrefix(data, []byte("II*\x00")), bytes.HasPrefix(data, []byte("MM\x00*")),
		len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP",
		len(data) >= 12 && string(data[4:8]) == "ftyp" && (string(data[8:12]) == "heic" || string(data[8:12]) == "heix" || string(data[8:12]) == "mif1"):
		return uploadImage
	}
	return uploadCSV
}

// Errors of an upload that is neither a sheet nor a certificate PDF.
var (
	errBulkImage = issuer.Errorf(issuer.ErrInvalid, "image_upload",
		"图片无法核验：照片或扫描件不含证书的签名记录。请上传发证机构提供的证书 PDF 原件，或扫描证书上的二维码、输入证书编号核验",
		"a picture cannot be verified: a photo or scan carries no signed record. Upload the certificate PDF the institution issued, or scan the certificate's QR code or enter its number")
	errBulkXLS = issuer.Errorf(issuer.ErrInvalid, "sheet_format",
		"无法读取旧版 Excel（.xls）文件：请在 Excel 中另存为 .xlsx 或 CSV 后再上传",
		"old Excel files (.xls) cannot be read: save the sheet as .xlsx or CSV in Excel and upload it again")
	errBulkPDFTooLarge = issuer.Errorf(issuer.ErrInvalid, codeTooLarge,
		"文件过大：表格或证书 PDF 最大 4 MB（证书 PDF 原件通常小于 1 MB）",
		"the file is too large: a sheet or certificate PDF may be at most 4 MB (an issued certificate PDF is under 1 MB)")
	errBulkNoRecord = issuer.Errorf(issuer.ErrInvalid, "no_record",
		"该 PDF 中没有证书签名记录：只有本系统签发的证书 PDF 原件可以在此核验，扫描件、打印后再扫描的文件或其他机构的证书不行。请扫描证书上的二维码或输入证书编号核验",
		"this PDF carries no signed certificate record: only the original PDF this service issued can be checked here, not a scan, a printed-and-scanned copy or another body's certificate. Scan the certificate's QR code or enter its number instead")
)

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
	// One bound for a sheet and a PDF: the body limit of /bulk
	// (MaxBulkBody) is chosen before the form says which it is.
	data, err := readUpload(fh, maxSheet)
	if err != nil {
		return bad(errBulkPDFTooLarge)
	}
	switch kindOf(data) {
	case uploadPDF:
		return h.bulkPDF(c, en, data)
	case uploadImage:
		return bad(errBulkImage)
	case uploadXLS:
		return bad(errBulkXLS)
	}
	isXLSX := kindOf(data) == uploadXLSX
	sh, err := readSheet(c.UserContext(), data, isXLSX)
	if e, ok := issuer.AsError(err); ok {
		return bad(e)
	} else if err != nil {
		return h.failWith(c, err)
	}
	items := sh.Items
	if !h.confirm.allow(h.clientKey(c), int64(len(items))) {
		return h.limited(c)
	}
	res, err := h.checkItems(c.UserContext(), h.clientKey(c), items)
	if err != nil {
		e, _ := issuer.AsError(err)
		return bad(e)
	}
	meta := sheetMeta{CheckedAt: time.Now(), Extra: sh.Extra}
	rc := h.keepBatch(c, meta.CheckedAt, "sheet", res)
	meta.Ref = rc.Ref
	if rc.Ref == "" {
		meta.RefNote = rc.NoteZh + " / " + rc.NoteEn // a sheet cell speaks both, as every other
	}
	if c.FormValue("view") == "page" {
		d := h.pageData(c, "/bulk", en, t(en, "批量核验证书", "Bulk certificate check"), "")
		d.Bulk = summarize(en, res)
		d.Bulk.CheckedAt, d.Bulk.Receipt = checkedAtText(meta.CheckedAt), rc
		return h.renderPage(c, fiber.StatusOK, "bulk", d)
	}
	rows := resultRows(items, res, meta)
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

// bulkPDF answers a certificate PDF uploaded to /bulk on the page, the way
// a presented credential is: the verdict, the checks (whether the file is
// exactly the one issued among them), the facts of the record, and a
// receipt of the check.
func (h *handlers) bulkPDF(c *fiber.Ctx, en bool, pdf []byte) error {
	ctx := c.UserContext()
	d := h.pageData(c, "/bulk", en, t(en, "批量核验证书", "Bulk certificate check"), "")
	tok, err := verify.TokenFromPDFContext(ctx, pdf)
	if err != nil {
		e, ok := issuer.AsError(err)
		if !ok {
			return h.failWith(c, err)
		}
		if e.Code == verify.ErrNoRecord.Code {
			e = errBulkNoRecord
		}
		if e.Kind != issuer.ErrInvalid {
			return h.fail(c, e)
		}
		d.Notice = t(en, e.Zh, e.En)
		return h.renderPage(c, statusOf(e), "bulk", d)
	}
	chk := verify.PDFCheck(ctx, tok, pdf, h.svc.Fresh)
	res := h.verifyToken(ctx, tok, &chk, "pdf")
	if ctx.Err() != nil {
		return h.fail(c, verify.ErrDeadline)
	}
	d.Cred, d.CredKind = &res, "pdf"
	now := time.Now()
	d.CheckedAt = checkedAtText(now)
	rc := h.keepPresented(c, now, "pdf", &res)
	d.Receipt = &rc
	return h.renderPage(c, fiber.StatusOK, "bulk", d)
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
	d.Cred, d.CredKind = &res, "credential"
	now := time.Now()
	d.CheckedAt = checkedAtText(now)
	rc := h.keepPresented(c, now, "credential", &res)
	d.Receipt = &rc
	return h.renderPage(c, fiber.StatusOK, "bulk", d)
}
