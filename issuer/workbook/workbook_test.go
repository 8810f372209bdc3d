package workbook_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"certd/issuer/fault"
	"certd/issuer/workbook"
	"certd/issuer/workbook/workbooktest"
)

// limits are the public bulk check's (verify/web), small enough to hit in
// a test.
var limits = workbook.Limits{
	Zip:           workbook.ZipLimits{Entries: 128, Total: 8 << 20, Entry: 4 << 20},
	SharedStrings: 512 << 10,
	SheetTags:     256 << 10,
	ParsedTags:    64 << 10,
	TextRun:       256 << 10,
	Rows:          1001,
	Cols:          256,
	CellBytes:     1 << 10,
	CellTotal:     4 << 20,
}

// allocated is the bytes allocated while f runs.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func read(data []byte, l workbook.Limits) ([]workbook.Row, error) {
	f, err := workbook.Open(data, l, false)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []workbook.Row
	err = workbook.Read(context.Background(), f, "Sheet1", l, func(r workbook.Row) error {
		rows = append(rows, r)
		return nil
	})
	return rows, err
}

func code(err error) string {
	if e, ok := fault.As(err); ok {
		return e.Code
	}
	return fmt.Sprintf("not a *fault.Error: %v", err)
}

// TestDeclaredSizeIsAnUpperBound holds Go's archive/zip to what the
// pre-check relies on: an entry that inflates to more than its declared
// size gives no byte beyond it, and an error.
func TestDeclaredSizeIsAnUpperBound(t *testing.T) {
	const declared, real = 100, 1 << 20
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	fw.Write(make([]byte, real))
	fw.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "xl/worksheets/sheet1.xml", Method: zip.Deflate,
		CompressedSize64: uint64(comp.Len()), UncompressedSize64: declared, CRC32: crc32.ChecksumIEEE(make([]byte, declared))})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	zw.Close()

	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if len(got) > declared || !errors.Is(err, zip.ErrFormat) {
		t.Fatalf("read %d bytes of an entry declared as %d (err %v): declared sizes are not upper bounds", len(got), declared, err)
	}
	// excelize reads parts through the same reader: the lie costs it no
	// more than the declared size either.
	if n := allocated(func() { _, _ = read(buf.Bytes(), limits) }); n > 1<<20 {
		t.Errorf("opening the lying archive allocated %d bytes", n)
	}
}

// TestHugeCellRefusedBeforeReading: a workbook of tens of KB holding one
// 60 MB cell, inline in the sheet or in the shared strings, is refused from
// its central directory, before anything is inflated: it allocates under
// 1 MiB and says why.
func TestHugeCellRefusedBeforeReading(t *testing.T) {
	for _, shared := range []bool{false, true} {
		x := workbooktest.XLSX([][]string{{"证书编号", "姓名"}}, &workbooktest.Huge{Row: 2, Col: 2, Len: 60 << 20, Shared: shared})
		if len(x) > 200<<10 {
			t.Fatalf("the crafted file is %d bytes, not tens of KB", len(x))
		}
		var err error
		n := allocated(func() { _, err = read(x, limits) })
		if code(err) != workbook.CodeTooLarge || !strings.Contains(err.Error(), "MB") {
			t.Errorf("shared %v: err %v", shared, err)
		}
		if n > 1<<20 {
			t.Errorf("shared %v: %d bytes allocated for a %d-byte upload", shared, n, len(x))
		}
	}
}

// TestLargeCellIsCut: a cell within the text-run limit but over CellBytes
// is cut, reported with its length, and copied, so that keeping the row
// does not keep the long text; reading it costs a bounded multiple of the
// cell. One byte longer than TextRun and it is refused before reading.
func TestLargeCellIsCut(t *testing.T) {
	const long = 200 << 10
	x := workbooktest.XLSX([][]string{{"证书编号", "姓名"}, {"Y1"}}, &workbooktest.Huge{Row: 2, Col: 2, Len: long})
	var rows []workbook.Row
	var err error
	n := allocated(func() { rows, err = read(x, limits) })
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows %v, err %v", len(rows), err)
	}
	r := rows[1]
	if len(r.Cells) != 2 || len(r.Cells[1]) != limits.CellBytes || len(r.Cut) != 1 || r.Cut[0] != (workbook.Cut{Col: 1, Len: long}) {
		t.Errorf("row %d: %d cells, cut %+v", r.Num, len(r.Cells), r.Cut)
	}
	// The part is held once, and the XML decoder copies the text a few
	// times as it grows its buffer: a cell costs under 10 times its size
	// (documented in docs/security.md), and no cell is over TextRun.
	if n > 10*long+(1<<20) {
		t.Errorf("%d bytes allocated to read a %d-byte cell", n, long)
	}
	t.Logf("%d KB allocated for a %d KB cell", n>>10, long>>10)
	x = workbooktest.XLSX([][]string{{"证书编号"}}, &workbooktest.Huge{Row: 2, Col: 2, Len: limits.TextRun + 64, Shared: true})
	if _, err := read(x, limits); code(err) != workbook.CodeTooLong {
		t.Errorf("a cell over TextRun: %v", err)
	}
}

func TestReadBounds(t *testing.T) {
	many := make([][]string, 1200)
	for i := range many {
		many[i] = []string{"x"}
	}
	wide := [][]string{make([]string, 300)}
	wide[0][299] = "far right"
	manyFiles := func() []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for i := range 200 {
			zw.Create(fmt.Sprintf("f%d.xml", i))
		}
		zw.Close()
		return buf.Bytes()
	}()
	total := limits
	total.CellTotal = 10 << 10
	rows := make([][]string, 20)
	for i := range rows {
		rows[i] = []string{strings.Repeat("汉", 300)} // 900 bytes, under CellBytes
	}
	for _, tc := range []struct {
		name string
		data []byte
		l    workbook.Limits
		code string
	}{
		{"too many rows", workbooktest.XLSX(many, nil), limits, workbook.CodeRows},
		{"a cell beyond the last column read", workbooktest.XLSX(wide, nil), limits, workbook.CodeTooWide},
		{"too many files", manyFiles, limits, workbook.CodeTooMany},
		{"too much text in all", workbooktest.XLSX(rows, nil), total, workbook.CodeTooMuch},
		{"not a ZIP", []byte("PK\x03\x04 not really"), limits, workbook.CodeDamaged},
		{"a ZIP but not a workbook", manyFiles, func() workbook.Limits { l := limits; l.Zip.Entries = 1000; return l }(), workbook.CodeDamaged},
	} {
		_, err := read(tc.data, tc.l)
		if code(err) != tc.code {
			t.Errorf("%s: %v, want code %s", tc.name, err, tc.code)
		}
		if err != nil && !strings.Contains(err.Error(), " / ") {
			t.Errorf("%s: error not bilingual: %v", tc.name, err)
		}
	}
	// An image has long runs without '<', but no XML decoder reads it: it
	// is not refused for them.
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0xff}, 2*limits.TextRun)...)
	if _, err := read(workbooktest.WithPart(workbooktest.XLSX([][]string{{"a"}}, nil), "xl/media/image1.png", png), limits); err != nil {
		t.Errorf("a workbook with an image: %v", err)
	}
	text := append([]byte("<x>"), bytes.Repeat([]byte("a"), 2*limits.TextRun)...)
	if _, err := read(workbooktest.WithPart(workbooktest.XLSX([][]string{{"a"}}, nil), "xl/media/image1.png", text), limits); code(err) != workbook.CodeTooLong {
		t.Errorf("long text in a part named like an image: %v", err)
	}
	// A cut Chinese cell ends on a character boundary.
	x := workbooktest.XLSX([][]string{{strings.Repeat("汉", 400)}}, nil)
	got, err := read(x, limits)
	if err != nil || len(got) != 1 || len(got[0].Cut) != 1 || got[0].Cells[0] != strings.Repeat("汉", limits.CellBytes/3) {
		t.Errorf("cut cell: %v %+v", err, got)
	}
}

func TestReadStopsAtDeadline(t *testing.T) {
	f, err := workbook.Open(workbooktest.XLSX([][]string{{"a"}, {"b"}}, nil), limits, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := workbook.Read(ctx, f, "Sheet1", limits, func(workbook.Row) error { return nil }); err != workbook.ErrDeadline {
		t.Errorf("err = %v", err)
	}
}

// FuzzRead: whatever the bytes, reading panics not, fails only with a
// *fault.Error, and gives rows, columns and cells within the limits.
func FuzzRead(f *testing.F) {
	small := limits
	small.Rows, small.Cols, small.CellBytes, small.CellTotal = 20, 8, 16, 256
	f.Add(workbooktest.XLSX([][]string{{"证书编号", "姓名", "证件号码"}, {"Y000022000001263000001", "张三", ""}}, nil))
	f.Add(workbooktest.XLSX([][]string{{"a"}}, &workbooktest.Huge{Row: 3, Col: 2, Len: 100, Shared: true}))
	nf := excelize.NewFile()
	nf.SetSheetRow("Sheet1", "A1", &[]any{"证书编号", 12.5, true})
	var b bytes.Buffer
	nf.WriteTo(&b)
	f.Add(b.Bytes())
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := read(data, small)
		if err != nil {
			if e, ok := fault.As(err); !ok || e.Zh == "" || e.En == "" || e.Kind != fault.Invalid {
				t.Fatalf("error %v is not a bilingual *fault.Error of kind invalid", err)
			}
			return
		}
		if len(rows) > small.Rows {
			t.Fatalf("%d rows", len(rows))
		}
		var total int
		for _, r := range rows {
			if len(r.Cells) > small.Cols {
				t.Fatalf("row %d: %d cells", r.Num, len(r.Cells))
			}
			for _, c := range r.Cells {
				if len(c) > small.CellBytes {
					t.Fatalf("row %d: a cell of %d bytes", r.Num, len(c))
				}
				total += len(c)
			}
		}
		if total > int(small.CellTotal) {
			t.Fatalf("%d bytes in all cells", total)
		}
	})
}

// TestDenseWorkbookWithinBound: excelize's cost grows with XML elements,
// not bytes (a part of tiny elements costs it about 60 times its size).
// A workbook as dense as the tag limits allow still reads within a stated
// allocation bound, and one tag over either limit is refused before
// excelize parses anything.
func TestDenseWorkbookWithinBound(t *testing.T) {
	// Shared strings of 4 tags each plus the skeleton's tags, and rows of
	// 60 four-tag cells, as close under the limits as they come.
	strs := (limits.ParsedTags - 64) / 4
	rows, cols := 1000, 60
	x := workbooktest.Dense(strs, rows, cols)
	var err error
	n := allocated(func() { _, err = read(x, limits) })
	if err != nil {
		t.Fatalf("a workbook within the limits: %v", err)
	}
	// The bound documented in docs/security.md for the bulk check's
	// limits (320K tags at about 170 bytes each; most of it garbage).
	const bound = 64 << 20
	if n > bound {
		t.Errorf("%d MB allocated, bound %d MB", n>>20, bound>>20)
	}
	t.Logf("%d KB file, %d MB allocated", len(x)>>10, n>>20)

	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"shared strings over the parsed-tag limit", workbooktest.Dense(limits.ParsedTags/4+1, 1, 1)},
		{"a sheet over its tag limit", workbooktest.Dense(0, limits.SheetTags/(4*200)+2, 200)},
	} {
		n := allocated(func() { _, err = read(tc.data, limits) })
		if code(err) != workbook.CodeTooMuch {
			t.Errorf("%s: %v", tc.name, err)
		}
		if n > 2<<20 {
			t.Errorf("%s: %d KB allocated before refusing", tc.name, n>>10)
		}
	}
}
