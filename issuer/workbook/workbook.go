// Package workbook reads uploaded XLSX workbooks within stated bounds on
// memory and work. Every path that reads an uploaded workbook goes through
// it: the public bulk check (verify/web) and the college's roster import
// (issuer/roster); [OpenZip] is the same pre-check for any other uploaded
// ZIP archive.
//
// An XLSX file is a ZIP archive of XML parts, and a ZIP of 62 KB can hold a
// 60 MB cell: deflate compresses a repeated character about a thousandfold.
// The bounds are therefore checked in two places:
//
//   - Before anything is inflated, from the archive's central directory: the
//     number of entries, the declared uncompressed size of each entry and of
//     all of them, and of the shared strings part. The declared sizes are
//     upper bounds: Go's archive/zip refuses to return more bytes than an
//     entry declares (TestDeclaredSizeIsAnUpperBound holds it to that), and
//     excelize, which inflates the parts, reads the same directory.
//   - Before excelize sees the file, by inflating each part once and
//     counting its XML tags: excelize's cost is per element, not per byte
//     (a part of tiny elements such as <si><t>a</t></si> costs about 250
//     bytes of allocation per tag, 60 times its size), so the parts it
//     parses whole into memory (shared strings, styles, the workbook) are
//     bounded by their tags together, and each worksheet, which it streams,
//     by its own. The same pass bounds the longest run of bytes between
//     two tags: a text node is decoded whole, at about nine times its
//     size, so one 60 MB cell must be refused before excelize meets it.
//   - While reading a sheet, row by row with excelize's streaming iterator:
//     the rows read, the columns a row may reach, the bytes of one cell
//     (longer cells are cut and reported, for the caller to turn into a row
//     problem) and of all cells returned.
//
// Errors are *fault.Error values of kind Invalid (a deadline: Unavailable)
// with a stable code and a message in Chinese and English.
package workbook

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"certd/issuer/fault"
)

// ZipLimits bound what an archive may expand to, judged from its central
// directory alone.
type ZipLimits struct {
	Entries int   // entries in the archive
	Total   int64 // declared uncompressed bytes of all entries
	Entry   int64 // declared uncompressed bytes of any one entry
}

// Limits bound reading one workbook.
type Limits struct {
	Zip ZipLimits
	// SharedStrings bounds the declared size of xl/sharedStrings.xml: it
	// is parsed whole into memory, at several times its size, while a
	// sheet part (bounded by Zip.Entry) is streamed.
	SharedStrings int64
	// SheetTags bounds the XML tags of each worksheet part (a part under
	// xl/worksheets/), ParsedTags those of all other parts together: they
	// are what excelize's work and memory grow with.
	SheetTags  int
	ParsedTags int
	// TextRun bounds the bytes between two tags in any part an XML
	// decoder could read. Excel's own cell limit is 32,767 characters, at
	// most 160 KB once escaped.
	TextRun int
	// Rows bounds the rows read from one sheet, blank ones included.
	Rows int
	// Cols is the rightmost column a non-empty cell may be in.
	Cols int
	// CellBytes bounds one cell: a longer one is cut to it (on a UTF-8
	// boundary) and listed in its Row's Cut.
	CellBytes int
	// CellTotal bounds the bytes of all cells one Read returns.
	CellTotal int64
}

func errorf(code, zh, en string, args ...any) *fault.Error {
	return fault.Errorf(fault.Invalid, code, zh, en, args...)
}

// Codes of the errors. A caller that has its own codes for the same
// things (the roster's xls_legacy, file_too_large, xlsx_damaged) can keep
// them: these were chosen to match.
const (
	CodeDamaged   = "xlsx_damaged"
	CodeLegacy    = "xls_legacy"
	CodeTooLarge  = "file_too_large"
	CodeTooMany   = "too_many_files"
	CodeRows      = "too_many_rows"
	CodeTooWide   = "too_many_columns"
	CodeTooMuch   = "cells_too_large"
	CodeTooLong   = "text_too_long"
	CodeNoSheet   = "no_sheet"
	CodeOutOfTime = "deadline"
)

// ErrDamaged is a file that is not a readable XLSX workbook.
var ErrDamaged = errorf(CodeDamaged, "文件不是有效的.xlsx工作簿（可能已损坏）", "the file is not a valid .xlsx workbook (it may be damaged)")

// ErrDeadline is a read stopped because its context ended.
var ErrDeadline = fault.Errorf(fault.Unavailable, CodeOutOfTime, "读取工作簿超时，请稍后再试", "reading the workbook took too long; try again later")

// OpenZip opens an uploaded archive and checks it against l before any
// entry is inflated. The entry count is bounded before the central
// directory is parsed (by counting its record signatures: parsing costs
// about 250 bytes of memory per entry, and Go's reader accepts more entries
// than the end record declares), then every declared size.
func OpenZip(data []byte, l ZipLimits) (*zip.Reader, error) {
	// Every central directory record starts with this signature, so its
	// count bounds the entries; compressed data may hold it by chance,
	// which can only refuse a file, never let one through.
	if n := bytes.Count(data, []byte("PK\x01\x02")); n > l.Entries {
		return nil, errorf(CodeTooMany, "压缩包内文件过多（最多%d个）", "the archive holds too many files (at most %d)", l.Entries)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, ErrDamaged
	}
	if len(zr.File) > l.Entries {
		return nil, errorf(CodeTooMany, "压缩包内文件过多（最多%d个）", "the archive holds too many files (at most %d)", l.Entries)
	}
	var total int64
	for _, f := range zr.File {
		size := declared(f)
		total += size
		if size > l.Entry || total > l.Total {
			return nil, errorf(CodeTooLarge, "解压后过大（单个文件最多%d MB，合计最多%d MB）", "too large once uncompressed (at most %d MB a file, %d MB in all)", l.Entry>>20, l.Total>>20)
		}
	}
	return zr, nil
}

// declared is an entry's declared uncompressed size, or MaxInt64 for one
// that does not fit (no limit is that large).
func declared(f *zip.File) int64 {
	if f.UncompressedSize64 > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(f.UncompressedSize64)
}

// Open checks an uploaded workbook against l and opens it with excelize,
// raw giving cell values as stored rather than formatted. Every part is
// kept in memory (the bounds were checked first), so no temporary files
// are written. A panic inside excelize on a malformed part becomes
// ErrDamaged.
func Open(data []byte, l Limits, raw bool) (f *excelize.File, err error) {
	zr, err := OpenZip(data, l.Zip)
	if err != nil {
		return nil, err
	}
	if err := checkParts(zr, l); err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, ErrDamaged
		}
	}()
	f, err = excelize.OpenReader(bytes.NewReader(data), excelize.Options{
		RawCellValue:      raw,
		UnzipSizeLimit:    l.Zip.Total,
		UnzipXMLSizeLimit: min(l.Zip.Entry+1, l.Zip.Total),
	})
	if err != nil {
		if f != nil {
			_ = f.Close()
		}
		if errors.Is(err, excelize.ErrWorkbookFileFormat) || errors.Is(err, excelize.ErrWorkbookPassword) {
			return nil, errorf(CodeLegacy,
				"工作簿加了密码或格式不受支持，请另存为不加密码的.xlsx文件后再上传",
				"the workbook is password-protected or in an unsupported format; save it as an .xlsx without a password and upload again")
		}
		return nil, ErrDamaged
	}
	return f, nil
}

// checkParts bounds the shared strings by their declared size, and every
// part by its XML tags, counted on one inflation of each part.
func checkParts(zr *zip.Reader, l Limits) error {
	parsed := 0
	buf := make([]byte, 32<<10)
	for _, zf := range zr.File {
		name := strings.ToLower(strings.ReplaceAll(zf.Name, `\`, "/"))
		if name == "xl/sharedstrings.xml" && declared(zf) > l.SharedStrings {
			return errorf(CodeTooLarge, "共享字符串过大（解压后最多%d MB）", "the shared strings are too large (at most %d MB uncompressed)", l.SharedStrings>>20)
		}
		sheet := strings.HasPrefix(name, "xl/worksheets/")
		limit := l.ParsedTags - parsed
		if sheet {
			limit = l.SheetTags
		}
		n, run, err := countTags(zf, buf, limit)
		if err != nil {
			return ErrDamaged
		}
		if run > l.TextRun {
			return errorf(CodeTooLong, "工作簿中有过长的内容（超过%d KB的单元格或文本）", "the workbook holds an overlong cell or text (over %d KB)", l.TextRun>>10)
		}
		if n > limit {
			if sheet {
				return errorf(CodeTooMuch, "工作表结构过于复杂（超过%d个XML标记）", "a worksheet is too complex (over %d XML tags)", l.SheetTags)
			}
			return errorf(CodeTooMuch, "工作簿结构过于复杂（超过%d个XML标记）", "the workbook is too complex (over %d XML tags)", l.ParsedTags)
		}
		if !sheet {
			parsed += n
		}
	}
	return nil
}

// countTags counts the '<' in an entry, stopping once over limit (every
// XML element, end tag, comment and processing instruction has one), and
// measures the longest run of bytes without one. A part that an XML
// decoder would refuse within its first bytes (an image: a control
// character or invalid UTF-8 there) has no text to decode, and no run.
func countTags(zf *zip.File, buf []byte, limit int) (n, longest int, err error) {
	rc, err := zf.Open()
	if err != nil {
		return 0, 0, err
	}
	defer rc.Close()
	run, first, binary := 0, true, false
	for n <= limit {
		k, err := io.ReadFull(rc, buf)
		b := buf[:k]
		if first && k > 0 {
			first, binary = false, notXML(b[:min(k, 16)])
		}
		for len(b) > 0 {
			i := bytes.IndexByte(b, '<')
			if i < 0 {
				run += len(b)
				break
			}
			longest = max(longest, run+i)
			run = 0
			n++
			b = b[i+1:]
		}
		longest = max(longest, run)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return n, longest, err
		}
	}
	if binary {
		longest = 0
	}
	return n, longest, nil
}

// notXML reports whether an XML decoder would stop at once on a part
// starting with b: a character XML forbids, or bytes that are not UTF-8.
func notXML(b []byte) bool {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 && len(b) >= utf8.UTFMax {
			return true
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
			return true
		}
		b = b[size:]
	}
	return false
}

// Cut is a cell longer than Limits.CellBytes: its 0-based column and its
// length in bytes before it was cut.
type Cut struct {
	Col int
	Len int
}

// Row is one row of a sheet as Read gives it.
type Row struct {
	Num   int      // as Excel shows it (1-based)
	Cells []string // no longer than Limits.Cols; blank rows have none
	Cut   []Cut    // cells that were cut to Limits.CellBytes
}

// Read streams the rows of sheet to visit, in order, blank rows included,
// within l. It stops at the first error visit returns, at a bound (a
// *fault.Error naming it) or when ctx ends (ErrDeadline). Cells and the row
// slice are visit's to keep: a cut cell is copied, so a kept row never
// holds the uncut text.
func Read(ctx context.Context, f *excelize.File, sheet string, l Limits, visit func(Row) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = ErrDamaged
		}
	}()
	it, err := f.Rows(sheet)
	if err != nil {
		if errors.As(err, new(excelize.ErrSheetNotExist)) {
			return errorf(CodeNoSheet, "工作簿中没有工作表“%s”", "the workbook has no worksheet %q", sheet)
		}
		return ErrDamaged
	}
	defer it.Close()
	var total int64
	for num := 1; it.Next(); num++ {
		if ctx.Err() != nil {
			return ErrDeadline
		}
		if num > l.Rows {
			return errorf(CodeRows, "工作表超过%d行", "the worksheet has more than %d rows", l.Rows)
		}
		cells, err := it.Columns()
		if err != nil {
			return ErrDamaged
		}
		if len(cells) > l.Cols {
			col, _ := excelize.ColumnNumberToName(len(cells))
			return errorf(CodeTooWide, "第%d行第%s列有内容，超出了可读取的范围（最多%d列）", "row %d has content in column %s, beyond the %d columns that are read", num, col, l.Cols)
		}
		r := Row{Num: num, Cells: cells}
		for c, v := range cells {
			if len(v) > l.CellBytes {
				r.Cut = append(r.Cut, Cut{Col: c, Len: len(v)})
				cells[c] = strings.Clone(cutUTF8(v, l.CellBytes))
			}
			total += int64(len(cells[c]))
		}
		if total > l.CellTotal {
			return errorf(CodeTooMuch, "表格内容过多（单元格合计超过%d MB）", "the sheet holds too much text (over %d MB in all cells)", l.CellTotal>>20)
		}
		if err := visit(r); err != nil {
			return err
		}
	}
	if it.Error() != nil {
		return ErrDamaged
	}
	return nil
}

// cutUTF8 is s cut to at most n bytes, not inside a character.
func cutUTF8(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
