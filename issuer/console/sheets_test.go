package console

import (
	"bytes"
	"context"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"certd/issuer"
)

// postFile sends one file in a multipart form with the CSRF token.
func postFile(t *testing.T, w *world, ck *http.Cookie, csrf, target, field, name string, data []byte) resp {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("_csrf", csrf)
	fw, _ := mw.CreateFormFile(field, name)
	fw.Write(data)
	mw.Close()
	req := httptest.NewRequest("POST", target, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.AddCookie(ck)
	res, err := w.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header.Get("Location"), string(b)}
}

func getXLSX(t *testing.T, w *world, ck *http.Cookie, target string) *excelize.File {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	req.AddCookie(ck)
	res, err := w.app.Test(req, -1)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("%s: %v %d", target, err, res.StatusCode)
	}
	x, err := excelize.OpenReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestFeesFormAndSheet: a college publishes fees in a table that names each
// occupation and level of its scope, or with the template it downloads,
// fills in and uploads; a bad row is named by its row number. Before, fees
// were a CSV text box of codes and level digits, with no template.
func TestFeesFormAndSheet(t *testing.T) {
	w := newWorld(t, backends[0].open)
	ctx := context.Background()
	ck, csrf := w.session("aadm")
	r := w.do("GET", "/console/settings", ck, nil, nil)
	if !strings.Contains(r.body, "人工智能训练师") || !strings.Contains(r.body, `name="amount:4-04-05-05|3"`) || !strings.Contains(r.body, "三级/高级工") || !strings.Contains(r.body, "fees-template.xlsx") {
		t.Fatalf("fee form: %.3000s", r.body)
	}
	r = w.do("POST", "/console/settings/fees", ck, url.Values{"_csrf": {csrf}, "form": {"fees"}, "amount:4-04-05-05|3": {"380"}, "basis:4-04-05-05|3": {"吉发改收费〔2026〕1号"}, "amount:4-04-05-05|4": {""}}, nil)
	in, _ := w.svc.Institution(ctx, issuer.Actor{Name: "t", Authority: true}, "alpha")
	if r.status != 303 || len(in.Fees) != 1 || in.Fees[0].AmountFen != 38000 || in.Fees[0].Level != 3 {
		t.Fatalf("form: %d %+v", r.status, in.Fees)
	}
	// The template lists the scope with the amount in force.
	x := getXLSX(t, w, ck, "/console/settings/fees-template.xlsx")
	rows, _ := x.GetRows("收费标准")
	if len(rows) != 4 || rows[0][3] != "金额（元）Amount (yuan)" {
		t.Fatalf("template rows: %v", rows)
	}
	for i, row := range rows[1:] {
		if row[1] != "人工智能训练师" {
			t.Fatalf("template row %d: %v", i+2, row)
		}
		if row[2] == "三级/高级工" && row[3] != "380.00" && row[3] != "380" {
			t.Fatalf("level 3 amount in the template: %v", row)
		}
		// Fill in every level.
		c, _ := excelize.CoordinatesToCellName(4, i+2)
		x.SetCellValue("收费标准", c, "150.5")
	}
	var buf bytes.Buffer
	x.Write(&buf)
	if r := postFile(t, w, ck, csrf, "/console/settings/fees", "sheet", "fees.xlsx", buf.Bytes()); r.status != 303 {
		t.Fatalf("sheet upload: %d %.500s", r.status, r.body)
	}
	in, _ = w.svc.Institution(ctx, issuer.Actor{Name: "t", Authority: true}, "alpha")
	if len(in.Fees) != 3 || in.Fees[0].AmountFen != 15050 {
		t.Fatalf("after the sheet: %+v", in.Fees)
	}
	// Bad rows are each named, and nothing is published.
	csv := "职业编码,职业名称,等级,金额（元）,收费依据\n4-04-05-05,人工智能训练师,三级,12元,\n4-04-05-05,人工智能训练师,七级,80,\n4-04-05-05,人工智能训练师,四级,abc,\n"
	r = postFile(t, w, ck, csrf, "/console/settings/fees", "sheet", "fees.csv", []byte(csv))
	if r.status != 400 || !strings.Contains(r.body, "第3行") || !strings.Contains(r.body, "第4行") || strings.Contains(r.body, "第2行") {
		t.Fatalf("bad sheet: %d %.1500s", r.status, r.body)
	}
}

// TestCatalogueFormAndSheet: the authority adds an occupation with a form
// (levels named, 工种 one per line) and imports the catalogue as a sheet
// from the template. Before, the only import was a JSON file.
func TestCatalogueFormAndSheet(t *testing.T) {
	w := newWorld(t, backends[0].open)
	ctx := context.Background()
	ck, csrf := w.session("auth")
	r := w.do("POST", "/console/catalogue/entry", ck, url.Values{"_csrf": {csrf}, "code": {"6-18-02-99"}, "name": {"试验焊工"}, "level": {"5", "4", "3"},
		"specialties": {"手工焊\n机器人焊:3,2"}}, nil)
	if r.status != 303 {
		t.Fatalf("entry: %d %.800s", r.status, r.body)
	}
	occ, _ := w.svc.Occupations(ctx)
	var found bool
	for _, o := range occ {
		if o.Code == "6-18-02-99" {
			found = o.Name == "试验焊工" && len(o.Levels) == 3 && len(o.Specialties) == 2 && len(o.Specialties[1].Levels) == 2
		}
	}
	if !found {
		t.Fatal("the form's occupation is not in the catalogue as entered")
	}
	x := getXLSX(t, w, ck, "/console/catalogue/template.xlsx")
	rows, _ := x.GetRows("职业目录")
	if len(rows) < 50 || !strings.HasPrefix(rows[0][2], "等级") {
		t.Fatalf("template: %d rows, header %v", len(rows), rows[0])
	}
	// Rename one occupation in the template and upload the whole sheet.
	for i, row := range rows {
		if len(row) > 1 && row[0] == "6-18-02-99" && (len(row) < 4 || row[3] == "") {
			c, _ := excelize.CoordinatesToCellName(2, i+1)
			x.SetCellValue("职业目录", c, "试验焊工（更正）")
		}
	}
	var buf bytes.Buffer
	x.Write(&buf)
	if r := postFile(t, w, ck, csrf, "/console/catalogue", "catalogue", "catalogue.xlsx", buf.Bytes()); r.status != 303 {
		t.Fatalf("sheet import: %d %.800s", r.status, r.body)
	}
	occ, _ = w.svc.Occupations(ctx)
	for _, o := range occ {
		if o.Code == "6-18-02-99" && (o.Name != "试验焊工（更正）" || len(o.Specialties) != 2) {
			t.Fatalf("after the sheet: %+v", o)
		}
	}
	bad := "职业编码,职业名称,等级,工种,领域\n6-18-02-98,新职业,5;x,,\n6-18-02-97,,4,某工种,\n"
	r = postFile(t, w, ck, csrf, "/console/catalogue", "catalogue", "c.csv", []byte(bad))
	if r.status != 400 || !strings.Contains(r.body, "第2行") || !strings.Contains(r.body, "6-18-02-97只有工种行") {
		t.Fatalf("bad catalogue sheet: %d %.1200s", r.status, r.body)
	}
}
