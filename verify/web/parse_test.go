package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"mime/multipart"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"certd/issuer"
	"certd/issuer/workbook/workbooktest"
	"certd/verify/internal/verifytest"
)

func xlsxOf(t testing.TB, rows [][]string) []byte {
	f := excelize.NewFile()
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		vals := make([]any, len(r))
		for j, v := range r {
			vals[j] = v
		}
		if err := f.SetSheetRow("Sheet1", cell, &vals); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseSheet(t *testing.T) {
	gb, _ := simplifiedchinese.GB18030.NewEncoder().String("证书编号,姓名\nY000022000001263000001,欧阳娜娜\n")
	tests := []struct {
		name  string
		data  []byte
		xlsx  bool
		want  []item
		wantE string
	}{
		{name: "CSV with header", data: []byte("证书编号,姓名,证件号码\nY000022000001263000001,张三,220102\n"), want: []item{{Number: "Y000022000001263000001", Name: "张三", IDNumber: "220102"}}},
		{name: "CSV with BOM, columns reordered", data: []byte("\xef\xbb\xbf姓名,证书编号\n张三,Y000022000001263000001\n\n"), want: []item{{Number: "Y000022000001263000001", Name: "张三", IDNumber: ""}}},
		{name: "CSV without header", data: []byte("Y000022000001263000001,张三\n"), want: []item{{Number: "Y000022000001263000001", Name: "张三", IDNumber: ""}}},
		{name: "GB18030 CSV", data: []byte(gb), want: []item{{Number: "Y000022000001263000001", Name: "欧阳娜娜", IDNumber: ""}}},
		{name: "tab separated", data: []byte("证书编号\t姓名\nY000022000001263000001\t张三\n"), want: []item{{Number: "Y000022000001263000001", Name: "张三", IDNumber: ""}}},
		{name: "XLSX", xlsx: true, data: xlsxOf(t, [][]string{{"证书编号", "姓名"}, {"Y000022000001263000001", "张三"}}), want: []item{{Number: "Y000022000001263000001", Name: "张三", IDNumber: ""}}},
		{name: "header without number", data: []byte("姓名,证件号码\n张三,1\n"), wantE: "证书编号"},
		{name: "empty", data: []byte("证书编号,姓名\n"), wantE: "没有数据行"},
		{name: "too many rows", data: []byte(strings.Repeat("Y000022000001263000001,张三\n", maxItems+1)), wantE: "最多"},
		{name: "binary", data: []byte("\x00\x01\x02\xff\xfe"), wantE: "无法读取"},
		{name: "damaged XLSX", xlsx: true, data: []byte("PK\x03\x04garbage"), wantE: "无法读取"},
		{name: "a CSV line of commas", data: []byte("证书编号,姓名\n" + strings.Repeat(",", maxSheetCols) + "\n"), wantE: "每行最多"},
		{name: "an XLSX cell beyond the last column", xlsx: true, data: workbooktest.XLSX([][]string{{"证书编号", "姓名"}, append(make([]string, maxSheetCols), "x")}, nil), wantE: "超出了可读取的范围"},
		{name: "an XLSX of too many rows", xlsx: true, data: workbooktest.XLSX(make([][]string, maxItems+2), nil), wantE: "最多"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSheet(context.Background(), tt.data, tt.xlsx)
			if tt.wantE != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantE) {
					t.Fatalf("err %v, want %q", err, tt.wantE)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v", got)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("row %d: %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestBulkUpload: the upload page returns a result sheet in the format it
// was given, with formula injection defused.
func TestBulkUpload(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 2)
	a := newApp(t, w.Store, Deps{})
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, w.Certs[1].Number, issuer.ReasonError, ""); err != nil {
		t.Fatal(err)
	}
	rows := [][]string{{"证书编号", "姓名", "证件号码"},
		{w.Certs[0].Number, w.Certs[0].Holder.Name, w.Certs[0].Holder.DocNumber},
		{w.Certs[1].Number, w.Certs[1].Holder.Name, ""},
		{"Y000022000001263999999", "=HYPERLINK(\"http://x\")", ""}}
	var csvData bytes.Buffer
	_ = csv.NewWriter(&csvData).WriteAll(rows)
	for _, tc := range []struct {
		name, file string
		data       []byte
	}{{"csv", "list.csv", csvData.Bytes()}, {"xlsx", "list.xlsx", xlsxOf(t, rows)}} {
		t.Run(tc.name, func(t *testing.T) {
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			fw, _ := mw.CreateFormFile("file", tc.file)
			fw.Write(tc.data)
			mw.Close()
			resp, out := a.do(t, "POST", "/bulk", &body, "Content-Type", mw.FormDataContentType())
			if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "verify-results."+tc.name) {
				t.Fatalf("%d %s %.300s", resp.StatusCode, resp.Header.Get("Content-Disposition"), out)
			}
			var got [][]string
			if tc.name == "csv" {
				got, _ = csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "\xef\xbb\xbf"))).ReadAll()
			} else {
				f, err := excelize.OpenReader(strings.NewReader(out))
				if err != nil {
					t.Fatal(err)
				}
				got, _ = f.GetRows("Sheet1")
			}
			if len(got) != 4 {
				t.Fatalf("%d rows: %v", len(got), got)
			}
			if got[1][2] != "有效" || got[1][4] != "是 yes" || got[1][6] != "是 yes" || got[2][2] != "已撤销" || got[3][2] != "未找到" {
				t.Errorf("results: %v", got)
			}
			if !strings.HasPrefix(got[3][1], "'=") {
				t.Errorf("formula not defused: %q", got[3][1])
			}
		})
	}
	resp, page := a.do(t, "POST", "/bulk", strings.NewReader(""), "Content-Type", "multipart/form-data; boundary=x")
	if resp.StatusCode != 400 || !strings.Contains(page, "请选择") {
		t.Errorf("empty upload: %d", resp.StatusCode)
	}
}

// Fuzz the parsers that read untrusted input: none may panic, and what
// they accept must be well-formed.

func FuzzParseVerifyRequest(f *testing.F) {
	f.Add([]byte(`{"items":[{"number":"Y000022000001263000001","name":"张三"}]}`))
	f.Add([]byte(`{"token":"a.b.c"}`))
	f.Add([]byte(`{"items":[],"token":""}`))
	f.Add([]byte(`[1,2,3]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseVerifyRequest(b)
		if err != nil {
			if !strings.Contains(err.Error(), " / ") {
				t.Fatalf("error not bilingual: %v", err)
			}
			return
		}
		if len(r.Items) > maxItems || (len(r.Items) == 0) == (r.Token == "") {
			t.Fatalf("accepted %q", b)
		}
	})
}

func FuzzParseSheet(f *testing.F) {
	f.Add([]byte("证书编号,姓名\nY000022000001263000001,张三\n"), false)
	f.Add([]byte("\"a,b\",\"c\nd\"\n"), false)
	f.Add(xlsxOf(f, [][]string{{"证书编号", "姓名"}, {"Y000022000001263000001", "张三"}}), true)
	f.Add([]byte("PK\x03\x04\x14\x00"), true)
	f.Add(workbooktest.XLSX([][]string{{"证书编号", "姓名"}, {"Y000022000001263000001", strings.Repeat("张", 500)}}, nil), true)
	f.Add(workbooktest.XLSX([][]string{{"证书编号"}}, &workbooktest.Huge{Row: 2, Col: 2, Len: 4 << 10, Shared: true}), true)
	f.Add(workbooktest.Dense(100, 10, 10), true)
	f.Add([]byte("证书编号,姓名\n"+strings.Repeat(",", 300)+"\n"), false)
	f.Fuzz(func(t *testing.T, b []byte, x bool) {
		items, err := parseSheet(context.Background(), b, x)
		if err != nil {
			if e, ok := issuer.AsError(err); !ok || e.Zh == "" || e.En == "" {
				t.Fatalf("error %v is not a bilingual issuer.Error", err)
			}
			return
		}
		if len(items) == 0 || len(items) > maxItems {
			t.Fatalf("%d items", len(items))
		}
		for _, it := range items {
			if !utf8.ValidString(it.Number + it.Name + it.IDNumber) {
				t.Fatal("invalid UTF-8 passed through")
			}
			if x && (len(it.Number) > sheetLimits.CellBytes || len(it.Name) > sheetLimits.CellBytes || len(it.IDNumber) > sheetLimits.CellBytes) {
				t.Fatal("an XLSX cell over the reader's limit passed through")
			}
		}
	})
}
