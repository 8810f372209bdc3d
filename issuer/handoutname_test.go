package issuer_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"certd/issuer"
)

// TestHandOutNameFitsAFileName: a batch ZIP's entry names stay within the
// 255 bytes a file name may have on Linux, macOS and Windows once
// unpacked, with the claim slip's suffix, for the longest 学号 (40
// characters) and name (64) a roster takes; the number stays whole. Before,
// each part was cut to 80 characters but not the whole: 40 + 64 Chinese
// characters with the number and suffix came to 354 bytes, a file that
// would not unpack.
func TestHandOutNameFitsAFileName(t *testing.T) {
	for _, tc := range []issuer.Holder{
		{StudentNo: strings.Repeat("学", 40), Name: strings.Repeat("长", 64)},
		{StudentNo: strings.Repeat("2", 40), Name: strings.Repeat("长", 64)},
		{Name: strings.Repeat("长", 64)},
		{StudentNo: "2022010101", Name: "王伟娜"},
	} {
		c := issuer.Certificate{Number: "Y000022000001263000001", Holder: tc}
		base := issuer.HandOutName(c)
		for _, name := range []string{base + ".pdf", base + "_领取凭条.pdf"} {
			if len(name) > 255 || !utf8.ValidString(name) {
				t.Errorf("%d bytes (valid UTF-8 %v): %s", len(name), utf8.ValidString(name), name)
			}
		}
		if !strings.HasSuffix(base, "_"+c.Number) {
			t.Errorf("the number is not whole at the end: %s", base)
		}
	}
	if got := issuer.HandOutName(issuer.Certificate{Number: "N1", Holder: issuer.Holder{StudentNo: "2022010101", Name: "王伟娜"}}); got != "2022010101_王伟娜_N1" {
		t.Errorf("a short name changed: %s", got)
	}
}
