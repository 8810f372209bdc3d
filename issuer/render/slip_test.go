package render

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A claim slip, read with independent tools: its text has the holder's
// name (a character outside the BMP drawn as an outline, the rest as text),
// the number and the holder code; its QR code decodes to the claim
// address, which is also a link. The certificate's PDF links its
// verification address over the QR code.
func TestSlipWithTools(t *testing.T) {
	r := renderer(t, Config{})
	s := Slip{Number: "Y000022000001263000001", InstitutionName: "吉林工业职业技术学院", Name: "欧阳娜娜", OccupationName: "电工",
		LevelZh: "三级/高级工", HolderCode: "ABCD-EFGH-JKLM", ClaimURL: "https://cert.jlgy.edu.cn/me?n=Y000022000001263000001"}
	b, err := r.Slip(s)
	if err != nil {
		t.Fatal(err)
	}
	p := writeTemp(t, "slip.pdf", b)
	txt := run(t, "pdftotext", "-raw", p, "-")
	for _, want := range []string{"领取凭条", "欧阳娜娜", s.Number, s.HolderCode, "/me?n="} {
		if !strings.Contains(strings.ReplaceAll(txt, "\n", ""), want) {
			t.Errorf("slip text lacks %q:\n%s", want, txt)
		}
	}
	png := strings.TrimSuffix(p, ".pdf")
	run(t, "pdftoppm", "-r", "150", "-png", "-singlefile", p, png)
	if qr := strings.TrimSpace(run(t, "zbarimg", "-q", "--raw", png+".png")); qr != s.ClaimURL {
		t.Errorf("slip QR = %q, want %q", qr, s.ClaimURL)
	}
	if out := os.Getenv("CERTD_RENDER_OUT"); out != "" {
		_ = os.WriteFile(filepath.Join(out, "slip.pdf"), b, 0o644)
	}
	if !bytes.Contains(b, []byte("/URI (https://cert.jlgy.edu.cn/me?n=")) {
		t.Error("the slip's address is not a link")
	}
	var buf bytes.Buffer
	if err := r.Slips([]Slip{s, {Number: "Y000022000001263000002", InstitutionName: "x", Name: "𠮷野家", HolderCode: "X", ClaimURL: "https://x/me"}}, &buf); err != nil {
		t.Fatal(err)
	}
	if err := r.Slips(nil, &buf); err == nil {
		t.Error("an empty slip list printed")
	}
	if err := r.Slips([]Slip{{Number: "Y1", Name: "\xff", ClaimURL: "https://x"}}, &buf); err == nil {
		t.Error("invalid UTF-8 printed")
	}
	c := sample("欧阳娜娜")
	cert, err := r.Render(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(cert, []byte("/URI ("+c.VerifyURL+")")) {
		t.Error("the certificate's verification address is not a link")
	}
}
