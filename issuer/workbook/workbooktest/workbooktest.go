// Package workbooktest crafts XLSX files for the tests of the upload paths:
// minimal workbooks that excelize opens, written straight into a ZIP
// archive, so that a test can put a 60 MB cell in a file of tens of KB
// without holding 60 MB itself. Test-only: nothing that ships imports it.
package workbooktest

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"
)

// Huge is one very large cell: Len bytes of 'A' at Row, Col (1-based), in
// the shared strings part when Shared, else inline in the sheet.
type Huge struct {
	Row, Col int
	Len      int
	Shared   bool
}

const ns = `xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"`

// XLSX is a workbook of one sheet, "Sheet1", holding rows as inline
// strings and, if huge is not nil, the huge cell.
func XLSX(rows [][]string, huge *Huge) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	skeleton(zw)
	w := create(zw, "xl/sharedStrings.xml")
	if huge != nil && huge.Shared {
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><sst `+ns+` count="1" uniqueCount="1"><si><t>`)
		repeat(w, 'A', huge.Len)
		_, _ = io.WriteString(w, `</t></si></sst>`)
	} else {
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><sst `+ns+` count="0" uniqueCount="0"></sst>`)
	}
	w = create(zw, "xl/worksheets/sheet1.xml")
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><worksheet `+ns+`><sheetData>`)
	n := len(rows)
	if huge != nil {
		n = max(n, huge.Row)
	}
	for r := 1; r <= n; r++ {
		fmt.Fprintf(w, `<row r="%d">`, r)
		var cells []string
		if r <= len(rows) {
			cells = rows[r-1]
		}
		for c, v := range cells {
			if v == "" || huge != nil && huge.Row == r && huge.Col == c+1 {
				continue
			}
			ref, _ := excelize.CoordinatesToCellName(c+1, r)
			fmt.Fprintf(w, `<c r="%s" t="inlineStr"><is><t>`, ref)
			_ = xml.EscapeText(w, []byte(v))
			_, _ = io.WriteString(w, `</t></is></c>`)
		}
		if huge != nil && huge.Row == r {
			ref, _ := excelize.CoordinatesToCellName(huge.Col, r)
			if huge.Shared {
				fmt.Fprintf(w, `<c r="%s" t="s"><v>0</v></c>`, ref)
			} else {
				fmt.Fprintf(w, `<c r="%s" t="inlineStr"><is><t>`, ref)
				repeat(w, 'A', huge.Len)
				_, _ = io.WriteString(w, `</t></is></c>`)
			}
		}
		_, _ = io.WriteString(w, `</row>`)
	}
	_, _ = io.WriteString(w, `</sheetData></worksheet>`)
	return finish(zw, &buf)
}

// Dense is a workbook whose parts are as dense in XML elements as they can
// be: strings shared strings of one character, and rows rows of cols
// one-digit numbers. excelize's work grows with elements, not bytes.
func Dense(strings, rows, cols int) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	skeleton(zw)
	w := create(zw, "xl/sharedStrings.xml")
	_, _ = io.WriteString(w, `<sst `+ns+`>`)
	for range strings {
		_, _ = io.WriteString(w, `<si><t>a</t></si>`)
	}
	_, _ = io.WriteString(w, `</sst>`)
	w = create(zw, "xl/worksheets/sheet1.xml")
	_, _ = io.WriteString(w, `<worksheet `+ns+`><sheetData>`)
	for r := range rows {
		fmt.Fprintf(w, `<row r="%d">`, r+1)
		if r == 0 && strings > 0 {
			// One reference makes excelize parse the shared strings.
			_, _ = io.WriteString(w, `<c t="s"><v>0</v></c>`)
		}
		for range cols {
			_, _ = io.WriteString(w, `<c><v>1</v></c>`)
		}
		_, _ = io.WriteString(w, `</row>`)
	}
	_, _ = io.WriteString(w, `</sheetData></worksheet>`)
	return finish(zw, &buf)
}

func create(zw *zip.Writer, name string) io.Writer {
	w, err := zw.Create(name)
	if err != nil {
		panic(err)
	}
	return w
}

func finish(zw *zip.Writer, buf *bytes.Buffer) []byte {
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// skeleton writes the parts every workbook needs besides its sheet and
// shared strings.
func skeleton(zw *zip.Writer) {
	rels := `xmlns="http://schemas.openxmlformats.org/package/2006/relationships"`
	for _, p := range [][2]string{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
			`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>` +
			`<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships ` + rels + `><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`},
		{"xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8"?><workbook ` + ns + ` xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", `<?xml version="1.0" encoding="UTF-8"?><Relationships ` + rels + `>` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>` +
			`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`},
	} {
		_, _ = io.WriteString(create(zw, p[0]), p[1])
	}
}

// repeat writes n bytes of c in chunks of 64 KB.
func repeat(w io.Writer, c byte, n int) {
	chunk := bytes.Repeat([]byte{c}, 64<<10)
	for n > 0 {
		k := min(n, len(chunk))
		_, _ = w.Write(chunk[:k])
		n -= k
	}
}

// WithPart is the archive x with one more entry, name holding body.
func WithPart(x []byte, name string, body []byte) []byte {
	zr, err := zip.NewReader(bytes.NewReader(x), int64(len(x)))
	if err != nil {
		panic(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		if err := zw.Copy(f); err != nil {
			panic(err)
		}
	}
	_, _ = create(zw, name).Write(body)
	return finish(zw, &buf)
}
