// Package roster reads the list of candidates who passed an assessment
// (合格人员名单) that a college's certification office uploads, checks every
// row, and explains what is wrong in a way the office can act on.
//
// # What comes in
//
// Offices keep rosters in Excel, so the input is whatever Excel or WPS
// produces: an .xlsx workbook, or a CSV saved as UTF-8 (with or without the
// BOM Excel adds for "CSV UTF-8") or, on Chinese Windows, as GB18030/GBK
// ("CSV (逗号分隔)"). Parse tells these apart from the bytes alone; the file
// name is only used to word errors better. Tab-separated text (Excel's
// "Unicode 文本", UTF-16) is accepted too because it costs nothing.
//
// The layout is forgiving on purpose: the header may sit under a title row or
// two, columns may come in any order, extra columns are ignored, header texts
// may carry notes such as "证件号码（必填）" or a trailing "*", and English
// aliases work. See the alias table in header.go.
//
// # Two kinds of failure
//
// A file that cannot be used at all (not a spreadsheet, no header, a required
// column missing, too many rows) makes Parse return a *fault.Error of kind
// Invalid, whose messages never contain cell values, so it is safe to log.
// Anything wrong with individual rows is collected into Roster.Problems — all
// of them, not just the first — each naming the row number Excel shows, the
// column, the cell value and a reason in Chinese and English. A row with any
// problem is left out of Roster.Entries; callers should refuse to issue from a
// roster whose Problems is not empty and hand Mark's workbook back to the
// office instead.
//
// # Using it
//
//	r, err := roster.Parse(upload, filename, today)
//	if err != nil {
//		return err // a *fault.Error: show its Zh and En, nothing to mark
//	}
//	// Add the caller's own checks (catalogue, registration) with
//	// r.Column(field) so they point at cells too, then:
//	if len(r.Problems) > 0 {
//		marked, _ := roster.Mark(upload, filename, r.Problems) // give this back
//		...
//	}
//	// Issue r.Entries; r.Fingerprint recognises the same list uploaded again.
//
// Within one file Parse also reports the same person listed twice for the same
// occupation, 工种 and level, and one document number under two names, each on
// the later row and naming the earlier one.
//
// # Excel damage
//
// The most common real error is Excel itself: a 证件号码 column typed as
// numbers keeps only 15 significant digits and shows 2.20102E+17, and dates
// become serial numbers (46203). Dates are converted; damaged ID numbers get
// their own problem code ("doc_number_excel") telling the office to format
// the column as text, because "checksum wrong" would send them looking for a
// typo that is not there.
//
// # What is not checked here
//
// Whether the occupation is in the catalogue, whether the 工种 and level exist
// for it, whether the college may certify it, and whether the fonts can print
// the name are the caller's business: this package has no catalogue or
// registration data. OccupationName is kept so the caller can cross-check it
// against the code.
package roster

import (
	"bytes"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"certd/issuer/fault"
	"certd/issuer/ident"
	"certd/issuer/occupation"
)

// Limits. MaxRows matches what one 认定 batch plausibly holds; the byte and
// cell limits exist so a hostile or broken upload cannot exhaust memory.
const (
	MaxRows      = 20000    // data rows, not counting header, title or blank rows
	MaxFileBytes = 32 << 20 // upload size
	maxCols      = 256      // a CSV's cells beyond this are ignored; an XLSX cell there is refused
	headerScan   = 5        // the header must be within the first rows
	maxSheetRows = 1 << 20  // physical rows incl. blanks (Excel's own limit)
	// MaxCellBytes bounds one cell, in any column: a longer one is a row
	// problem, and is kept cut to this length, so that no preview or
	// marked copy carries it whole.
	MaxCellBytes = 4 << 10
)

// Candidate types (考生类别). The values are stable identifiers.
const (
	Graduating = "graduating" // 毕业年度学生
	Enrolled   = "enrolled"   // 在校生
	Social     = "social"     // 社会人员
)

// Entry is one valid roster row.
type Entry struct {
	Row            int              `json:"row"` // row number as Excel shows it (1-based; title and header rows count)
	Name           string           `json:"name"`
	DocType        ident.DocType    `json:"doc_type"`
	DocNumber      string           `json:"doc_number"`
	StudentNo      string           `json:"student_no,omitempty"`
	Major          string           `json:"major,omitempty"`
	CandidateType  string           `json:"candidate_type"`  // Graduating, Enrolled or Social
	Occupation     string           `json:"occupation"`      // normalised code, shape d-dd-dd-dd
	OccupationName string           `json:"occupation_name"` // as written, for the caller to cross-check
	Specialty      string           `json:"specialty,omitempty"`
	Level          occupation.Level `json:"level"`
	AssessedOn     time.Time        `json:"assessed_on"` // civil date at midnight UTC

	// Bad lists the fields of a row with problems whose cells could not be
	// read (a Problem.Field key each); empty for a valid row. The other
	// fields hold what was read, so a caller can check them too and report
	// every problem of the row at once.
	Bad []string `json:"-"`
}

// Unread reports whether field is one of e.Bad: its value is not to be
// judged, because the cell already has a problem of its own.
func (e Entry) Unread(field string) bool {
	for _, f := range e.Bad {
		if f == field {
			return true
		}
	}
	return false
}

// Problem is one thing wrong with a row. Row-level problems may echo the
// cell value (the uploader already has it); they never go to logs unmasked.
type Problem struct {
	Row    int    `json:"row"`    // as Excel shows it
	Col    int    `json:"col"`    // 0-based column index in the sheet, -1 if not about one cell
	Column string `json:"column"` // header text as written in the file
	Field  string `json:"field"`  // canonical field key, e.g. "doc_number"
	Value  string `json:"value"`  // cell text after trimming, shortened if very long
	Code   string `json:"code"`   // stable machine-readable reason
	Zh     string `json:"zh"`
	En     string `json:"en"`
}

// Roster is the outcome of Parse.
type Roster struct {
	Format  string  // "xlsx", "csv-utf8", "csv-utf8-bom", "csv-gb18030", "csv-utf16"; "fields" from Row
	Sheet   string  // worksheet the rows came from ("" for CSV)
	Entries []Entry // valid rows in file order
	// Incomplete holds the rows with problems, in file order, with what
	// could be read of them (Entry.Bad names what could not): a caller's
	// own checks (catalogue, scope) run on them too, so that one upload
	// reports every problem of a row, not the first stage's only.
	Incomplete []Entry
	Problems   []Problem // sorted by row, then column

	// Fingerprint identifies the roster's content independently of file
	// format, column order and row order, so re-uploading the same list
	// (say, as CSV after an xlsx) can be recognised. It is "" while there are
	// problems: a fingerprint of the valid subset would identify a list
	// nobody meant to submit.
	Fingerprint string

	hdr *header
}

// Column tells a caller that raises its own problems about an entry (say,
// an occupation missing from the catalogue) where that field sits, so its
// problems point at a cell and Mark can fill it. field is a Problem.Field
// key: name, doc_type, doc_number, student_no, major, candidate_type,
// occupation_code, occupation_name, specialty, level, assessment_date. For a
// column the file does not have, col is -1 and header the standard name.
func (r *Roster) Column(field string) (col int, header string) {
	info, known := fieldInfo[field]
	if r.hdr != nil {
		if c, ok := r.hdr.cols[field]; ok && c < len(r.hdr.texts) {
			return c, r.hdr.texts[c]
		}
	}
	if !known {
		return -1, ""
	}
	return -1, info.zh
}

// fileErr says the upload as a whole is unusable. Its messages never
// contain cell values, so it is safe to log.
func fileErr(code, zh, en string, args ...any) *fault.Error {
	return fault.Errorf(fault.Invalid, code, zh, en, args...)
}

// table is a sheet reduced to cell text, shared by the xlsx and CSV paths so
// that validation cannot differ between them.
type table struct {
	format string
	sheet  string
	rows   [][]string // rows[i] is Excel row i+1; nil for blank rows
	hdr    *header

	date1904 bool // workbook uses the 1904 date system (old Mac Excel)

	// isNumber reports whether a cell was stored as a number; only xlsx
	// knows. It is consulted lazily, for suspicious ID cells only.
	isNumber func(row, col int) bool

	// cut records the cells longer than MaxCellBytes, by row index and
	// column, with their length before they were cut.
	cut map[[2]int]int
}

// cutCell records that the cell at row index i, column c was len bytes
// long, and returns it cut to MaxCellBytes (a copy, so the long text can
// be freed).
func (t *table) cutCell(i, c int, v string) string {
	if t.cut == nil {
		t.cut = map[[2]int]int{}
	}
	t.cut[[2]int{i, c}] = len(v)
	n := MaxCellBytes
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return strings.Clone(v[:n])
}

// Parse reads a roster from an uploaded file. today bounds dates (an
// assessment cannot be in the future, nor a birth date in an ID number).
func Parse(data []byte, filename string, today time.Time) (*Roster, error) {
	t, closeFn, err := load(data, filename)
	if closeFn != nil {
		defer closeFn()
	}
	if err != nil {
		return nil, err
	}
	r := validate(t, today)
	return r, nil
}

// Row checks one candidate given field by field, keyed as Problem.Field
// (name, doc_type, doc_number...), with exactly the checks Parse gives a row
// of a file, length limits included, and returns a one-row Roster: Entries
// holds the row if it passed, Problems says why not (on row 2, as under a
// header, each Column the field's standard header). A correction (reissue)
// goes through here, so that it meets the rules of the roster it corrects.
func Row(fields map[string]string, today time.Time) *Roster {
	h := &header{cols: map[string]int{}}
	var cells []string
	for _, c := range templateColumns {
		if v, ok := fields[c.field]; ok {
			h.cols[c.field] = len(cells)
			h.texts = append(h.texts, fieldInfo[c.field].zh)
			cells = append(cells, v)
		}
	}
	return validate(&table{format: "fields", rows: [][]string{h.texts, cells}, hdr: h}, today)
}

// load turns the upload into a table with a recognised header. The returned
// close function must be called once the table is no longer needed (the
// xlsx path keeps the workbook open for lazy cell-type lookups).
func load(data []byte, filename string) (*table, func(), error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, fileErr("file_empty", "文件是空的", "the file is empty")
	}
	if len(data) > MaxFileBytes {
		return nil, nil, fileErr("file_too_large", "文件过大（最大%d MB）", "the file is too large (at most %d MB)", MaxFileBytes>>20)
	}
	ext := strings.ToLower(filepath.Ext(filename))
	switch {
	case bytes.HasPrefix(data, []byte("PK\x03\x04")), bytes.HasPrefix(data, []byte("PK\x05\x06")):
		return loadXLSX(data)
	case bytes.HasPrefix(data, []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}):
		return nil, nil, fileErr("xls_legacy",
			"这是旧版Excel（.xls）文件或加了密码的工作簿，请在Excel中“另存为”不加密码的.xlsx文件后再上传",
			"this is an old-format Excel (.xls) file or a password-protected workbook; save it in Excel as an .xlsx without a password and upload again")
	}
	if looksLikeHTML(data) {
		return nil, nil, fileErr("html_table",
			"这是一个网页文件（常见于从网页系统导出的.xls），请用Excel打开后“另存为”.xlsx再上传",
			"this is a web page (often what web systems export as .xls); open it in Excel, save it as .xlsx and upload again")
	}
	if ext == ".xlsx" || ext == ".xlsm" {
		return nil, nil, fileErr("xlsx_damaged", "文件不是有效的.xlsx工作簿（可能已损坏）", "the file is not a valid .xlsx workbook (it may be damaged)")
	}
	t, err := loadCSV(data)
	return t, nil, err
}

func looksLikeHTML(data []byte) bool {
	head := data[:min(len(data), 512)]
	head = bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF"))
	head = bytes.ToLower(bytes.TrimSpace(head))
	for _, p := range []string{"<html", "<!doctype html", "<table", "<?xml"} {
		if bytes.HasPrefix(head, []byte(p)) {
			return true
		}
	}
	return false
}

// errTooManyRows is shared so the xlsx and CSV readers stop at the same point.
func errTooManyRows() *fault.Error {
	return fileErr("too_many_rows",
		"名单超过%d行，请拆分为多个文件上传",
		"the roster has more than %d rows; split it into several files", MaxRows)
}

// asFileError keeps *fault.Error values and replaces anything else with
// fallback, so Parse's callers only ever see the documented type (and no
// library's message, which might quote a cell, reaches a log).
func asFileError(err error, fallback *fault.Error) error {
	if fe, ok := fault.As(err); ok {
		return fe
	}
	return fallback
}
