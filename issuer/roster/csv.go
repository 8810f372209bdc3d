package roster

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"

	"certd/issuer/fault"
)

// decodeText works out the encoding of a text upload. Valid UTF-8 wins
// because a GB18030 file of Chinese text is almost never valid UTF-8 by
// accident, while the reverse is common; UTF-16 is only taken with a BOM.
func decodeText(data []byte) (text, format string, err error) {
	switch {
	case bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")):
		data = data[3:]
		if !utf8.Valid(data) {
			return "", "", errEncoding()
		}
		text, format = string(data), "csv-utf8-bom"
	case bytes.HasPrefix(data, []byte("\xFF\xFE")), bytes.HasPrefix(data, []byte("\xFE\xFF")):
		dec := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder()
		b, derr := dec.Bytes(data)
		if derr != nil || bytes.ContainsRune(b, utf8.RuneError) {
			return "", "", errEncoding()
		}
		text, format = string(b), "csv-utf16"
	case utf8.Valid(data):
		text, format = string(data), "csv-utf8"
	default:
		// The decoder substitutes U+FFFD for bytes that are not GB18030, so a
		// replacement character in the output means "neither encoding".
		b, derr := simplifiedchinese.GB18030.NewDecoder().Bytes(data)
		if derr != nil || bytes.ContainsRune(b, utf8.RuneError) {
			return "", "", errEncoding()
		}
		text, format = string(b), "csv-gb18030"
	}
	for _, r := range text {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7F {
			return "", "", fileErr("file_format",
				"无法识别的文件：请上传Excel工作簿（.xlsx）或CSV文件",
				"unrecognised file: upload an Excel workbook (.xlsx) or a CSV file")
		}
	}
	return text, format, nil
}

func errEncoding() *fault.Error {
	return fileErr("encoding",
		"无法识别文件的文字编码（既不是UTF-8也不是GB18030/GBK），请在Excel中另存为“CSV UTF-8”或.xlsx",
		"cannot tell the text encoding (neither UTF-8 nor GB18030/GBK); save the file from Excel as \"CSV UTF-8\" or .xlsx")
}

// sniffDelimiter picks tab over comma when the first lines have more tabs:
// Excel's "文本文件（制表符分隔）" and "Unicode 文本" exports are tab-separated.
func sniffDelimiter(text string) byte {
	head := text
	for i, n := 0, 0; i < len(text); i++ {
		if text[i] == '\n' {
			if n++; n == headerScan+1 {
				head = text[:i]
				break
			}
		}
	}
	if strings.Count(head, "\t") > strings.Count(head, ",") {
		return '\t'
	}
	return ','
}

// splitCSV splits RFC 4180 text into records, one per row as Excel would
// show them. encoding/csv is not used because it drops blank lines, which
// would shift every row number after a blank row away from what Excel shows.
// Quotes are handled leniently, as Excel does: a stray quote inside an
// unquoted field is literal, and text after a closing quote is appended.
func splitCSV(text string, delim byte, emit func(cells []string) error) error {
	var (
		cells []string
		field strings.Builder
		i     int
	)
	endField := func() {
		if len(cells) < maxCols {
			cells = append(cells, field.String())
		}
		field.Reset()
	}
	endRow := func() error {
		endField()
		if len(cells) == 1 && cells[0] == "" {
			cells = nil
		}
		err := emit(cells)
		cells = nil
		return err
	}
	for i < len(text) {
		c := text[i]
		switch {
		case c == '"' && field.Len() == 0:
			// Quoted field: runs to the next lone quote.
			i++
			for i < len(text) {
				if text[i] == '"' {
					if i+1 < len(text) && text[i+1] == '"' {
						field.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				field.WriteByte(text[i])
				i++
			}
		case c == delim:
			endField()
			i++
		case c == '\r' || c == '\n':
			if c == '\r' && i+1 < len(text) && text[i+1] == '\n' {
				i++
			}
			i++
			if err := endRow(); err != nil {
				return err
			}
		default:
			field.WriteByte(c)
			i++
		}
	}
	if field.Len() > 0 || len(cells) > 0 {
		return endRow()
	}
	return nil
}

// loadCSV decodes and splits a CSV upload into a table.
func loadCSV(data []byte) (*table, error) {
	text, format, err := decodeText(data)
	if err != nil {
		return nil, err
	}
	t := &table{format: format}
	if t.rows, err = readCSVRows(t, text); err != nil {
		return nil, err
	}
	if t.hdr, err = findHeader(t.rows); err != nil {
		return nil, err
	}
	if err := checkRowCount(t); err != nil {
		return nil, err
	}
	return t, nil
}

func readCSVRows(t *table, text string) ([][]string, error) {
	var rows [][]string
	nonBlank := 0
	err := splitCSV(text, sniffDelimiter(text), func(cells []string) error {
		if len(rows) >= maxSheetRows {
			return errTooManyRows()
		}
		for c, v := range cells {
			if len(v) > MaxCellBytes {
				cells[c] = t.cutCell(len(rows), c, v)
			}
		}
		if cells != nil && blankRow(cells) {
			cells = nil
		}
		if cells != nil {
			// Stop early rather than holding a huge file in memory; the exact
			// count is checked once the header is known.
			if nonBlank++; nonBlank > MaxRows+headerScan {
				return errTooManyRows()
			}
		}
		rows = append(rows, cells)
		return nil
	})
	return rows, err
}

// checkRowCount enforces MaxRows on data rows below the header.
func checkRowCount(t *table) error {
	n := 0
	for _, r := range t.rows[t.hdr.row+1:] {
		if r != nil {
			n++
		}
	}
	if n > MaxRows {
		return errTooManyRows()
	}
	if n == 0 {
		return fileErr("no_rows", "表头下面没有考生数据", "there are no candidate rows under the header")
	}
	return nil
}
