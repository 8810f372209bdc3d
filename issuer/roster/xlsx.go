package roster

import (
	"bytes"
	"errors"
	"fmt"

	"certd/issuer/fault"

	"github.com/xuri/excelize/v2"
)

func xlsxOptions(raw bool) excelize.Options {
	return excelize.Options{
		RawCellValue:      raw,
		UnzipSizeLimit:    unzipSizeLimit,
		UnzipXMLSizeLimit: unzipXMLSizeLimit,
	}
}

// openXLSX opens a workbook with the zip-bomb limits and turns every failure,
// including a panic inside excelize on a malformed part, into a file error.
func openXLSX(data []byte, raw bool) (f *excelize.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, errDamaged()
		}
	}()
	f, err = excelize.OpenReader(bytes.NewReader(data), xlsxOptions(raw))
	if err != nil {
		if f != nil {
			_ = f.Close()
		}
		if errors.Is(err, excelize.ErrWorkbookFileFormat) || errors.Is(err, excelize.ErrWorkbookPassword) {
			return nil, fileErr("xls_legacy",
				"工作簿加了密码或格式不受支持，请另存为不加密码的.xlsx文件后再上传",
				"the workbook is password-protected or in an unsupported format; save it as an .xlsx without a password and upload again")
		}
		if errors.Is(err, excelize.ErrOptionsUnzipSizeLimit) || isSizeLimit(err) {
			return nil, fileErr("file_too_large", "工作簿解压后过大，无法处理", "the workbook is too large once uncompressed")
		}
		return nil, errDamaged()
	}
	return f, nil
}

func isSizeLimit(err error) bool {
	// excelize reports the unzip limit with an unexported error value.
	return err != nil && bytes.Contains([]byte(err.Error()), []byte("unzip size"))
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
		rows, herr := readSheet(f, sheet)
		if herr != nil {
			if fe, ok := fault.As(herr); ok && fe.Code == "too_many_rows" {
				return nil, nil, herr
			}
			if firstErr == nil {
				firstErr = herr
			}
			continue
		}
		hdr, herr := findHeader(rows)
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
		t = &table{format: "xlsx", sheet: sheet, rows: rows, hdr: hdr, date1904: date1904}
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

// readSheet reads a worksheet into cell text. It streams with the Rows
// iterator (rather than GetRows) so an oversized sheet is abandoned early.
func readSheet(f *excelize.File, sheet string) ([][]string, error) {
	it, err := f.Rows(sheet)
	if err != nil {
		return nil, errDamaged()
	}
	defer it.Close()
	var rows [][]string
	nonBlank := 0
	for it.Next() {
		if len(rows) >= maxSheetRows {
			return nil, errTooManyRows()
		}
		cells, err := it.Columns()
		if err != nil {
			return nil, errDamaged()
		}
		if len(cells) > maxCols {
			cells = cells[:maxCols]
		}
		if blankRow(cells) {
			cells = nil
		} else if nonBlank++; nonBlank > MaxRows+headerScan {
			return nil, errTooManyRows()
		}
		rows = append(rows, cells)
	}
	if it.Error() != nil {
		return nil, errDamaged()
	}
	// Trailing blank rows (formatted but empty) are not part of the roster.
	for len(rows) > 0 && rows[len(rows)-1] == nil {
		rows = rows[:len(rows)-1]
	}
	return rows, nil
}
