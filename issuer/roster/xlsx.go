package roster

import (
	"context"
	"fmt"

	"github.com/xuri/excelize/v2"

	"certd/issuer/fault"
	"certd/issuer/workbook"
)

// xlsxLimits bound reading an uploaded roster workbook (issuer/workbook
// says what each bounds and why). An honest roster of MaxRows rows and a
// dozen columns is about 15 MB of sheet XML, 1.5 million tags, and shared
// strings of a few MB.
var xlsxLimits = workbook.Limits{
	Zip:           workbook.ZipLimits{Entries: 1000, Total: 128 << 20, Entry: 64 << 20},
	SharedStrings: 16 << 20,
	SheetTags:     2 << 20,
	ParsedTags:    1 << 20,
	TextRun:       256 << 10,
	Rows:          maxSheetRows,
	Cols:          maxCols,
	CellBytes:     MaxCellBytes,
	CellTotal:     32 << 20,
}

// openXLSX opens a workbook through the bounded reader, turning its errors
// into the roster's file errors.
func openXLSX(data []byte, raw bool) (*excelize.File, error) {
	f, err := workbook.Open(data, xlsxLimits, raw)
	if err != nil {
		return nil, fileError(err)
	}
	return f, nil
}

// fileError is the roster's file error for an error of the workbook
// reader, whose codes are the roster's own (xls_legacy, file_too_large,
// xlsx_damaged...); too many rows is said as the CSV reader says it.
func fileError(err error) *fault.Error {
	e, ok := fault.As(err)
	switch {
	case !ok:
		return errDamaged()
	case e.Code == workbook.CodeRows:
		return errTooManyRows()
	}
	return e
}

func errDamaged() *fault.Error {
	return fileErr("xlsx_damaged", "文件不是有效的.xlsx工作簿（可能已损坏）", "the file is not a valid .xlsx workbook (it may be damaged)")
}

// loadXLSX picks the first worksheet whose first rows contain a header and
// reads it in raw mode: raw values are what make dates and long numbers
// recoverable, because formatted text depends on the cell's number format
// (a date cell formats as "06-30-26", an ID as "2.20102E+17").
func loadXLSX(data []byte) (t *table, closeFn func(), err error) {
	f, err := openXLSX(data, true)
	if err != nil {
		return nil, nil, err
	}
	closeWB := func() { _ = f.Close() }
	defer func() {
		if p := recover(); p != nil {
			t, closeFn, err = nil, nil, errDamaged()
		}
		if err != nil {
			closeWB()
		}
	}()
	date1904 := false
	if props, perr := f.GetWorkbookProps(); perr == nil && props.Date1904 != nil {
		date1904 = *props.Date1904
	}
	var firstErr error
	for _, sheet := range f.GetSheetList() {
		t := &table{format: "xlsx", sheet: sheet, date1904: date1904}
		herr := readSheet(f, t)
		if herr != nil {
			if fe, ok := fault.As(herr); ok && fe.Code != "xlsx_damaged" {
				// A sheet over a bound ends the import: reading the next
				// one could cost as much again.
				return nil, nil, herr
			}
			if firstErr == nil {
				firstErr = herr
			}
			continue
		}
		hdr, herr := findHeader(t.rows)
		if herr != nil {
			if fe, ok := fault.As(herr); ok && fe.Code != "no_header" {
				// A header was recognised but is incomplete: that is the
				// sheet the office meant, so say what is missing in it.
				return nil, nil, &fault.Error{Kind: fault.Invalid, Code: fe.Code,
					Zh: fmt.Sprintf("工作表“%s”：%s", sheet, fe.Zh),
					En: fmt.Sprintf("worksheet %q: %s", sheet, fe.En)}
			}
			if firstErr == nil {
				firstErr = herr
			}
			continue
		}
		t.hdr = hdr
		t.isNumber = func(row, col int) bool {
			cell, cerr := excelize.CoordinatesToCellName(col+1, row)
			if cerr != nil {
				return false
			}
			ct, cerr := f.GetCellType(sheet, cell)
			return cerr == nil && (ct == excelize.CellTypeNumber || ct == excelize.CellTypeUnset)
		}
		if err := checkRowCount(t); err != nil {
			return nil, nil, err
		}
		return t, closeWB, nil
	}
	if firstErr == nil {
		firstErr = fileErr("no_header", "工作簿中没有工作表", "the workbook has no worksheets")
	}
	return nil, nil, asFileError(firstErr, errDamaged())
}

// readSheet reads a worksheet into t.rows (cell text, nil for blank
// rows) with the bounded streaming reader; cells over MaxCellBytes come
// cut, and are recorded in t.cut.
func readSheet(f *excelize.File, t *table) error {
	nonBlank := 0
	err := workbook.Read(context.Background(), f, t.sheet, xlsxLimits, func(r workbook.Row) error {
		cells := r.Cells
		for _, c := range r.Cut {
			if t.cut == nil {
				t.cut = map[[2]int]int{}
			}
			t.cut[[2]int{len(t.rows), c.Col}] = c.Len
		}
		if blankRow(cells) {
			cells = nil
		} else if nonBlank++; nonBlank > MaxRows+headerScan {
			return errTooManyRows()
		}
		t.rows = append(t.rows, cells)
		return nil
	})
	if err != nil {
		return fileError(err)
	}
	// Trailing blank rows (formatted but empty) are not part of the roster.
	for len(t.rows) > 0 && t.rows[len(t.rows)-1] == nil {
		t.rows = t.rows[:len(t.rows)-1]
	}
	return nil
}
