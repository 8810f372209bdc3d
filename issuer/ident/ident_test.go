package ident

import (
	"testing"
	"time"

	"certd/issuer/fault"
)

var today = time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)

func code(err error) string {
	if e, ok := fault.As(err); ok {
		if e.Kind != fault.Invalid {
			return "kind " + e.Kind.Error()
		}
		return e.Code
	}
	if err != nil {
		return "?"
	}
	return ""
}

func TestResidentID(t *testing.T) {
	tests := []struct{ in, code string }{
		{"11010519491231002X", ""}, // published test vectors (domain.md §9)
		{"440524188001010014", "id_birthdate"},
		{"370101190102039973", ""},
		{"110105194912310021", "id_checksum"},
		{"11010519491231002", "id_length"},
		{"11010519491231002X1", "id_length"},
		{"11010519490231002X", "id_birthdate"}, // 31 February... with a fixed checksum below
		{"1101051949A231002X", "id_chars"},
		{"220102209901010011", "id_birthdate_future"},
	}
	// Fix the checksums of the synthetic cases so that they test the rule named.
	for i, tt := range tests {
		if tt.code == "id_birthdate" || tt.code == "id_birthdate_future" {
			tests[i].in = withCheck(tt.in[:17])
		}
	}
	for _, tt := range tests {
		if got := code(CheckResidentID(tt.in, today)); got != tt.code {
			t.Errorf("CheckResidentID(%s) = %q, want %q", tt.in, got, tt.code)
		}
	}
}

// withCheck appends the MOD 11-2 check character to 17 digits.
func withCheck(s17 string) string {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(s17[i]-'0') * residentWeights[i]
	}
	return s17 + string(residentChecks[sum%11])
}

func TestDocNumbers(t *testing.T) {
	tests := []struct {
		typ  DocType
		in   string
		code string
	}{
		{HKMOPermit, "H12345678", ""},
		{HKMOPermit, "X12345678", "permit_format"},
		{TaiwanPermit, "12345678", ""},
		{Passport, "E12345678", ""},
		{Passport, "E1234-678", "doc_chars"},
		{ResidencePermit, withCheck("81000019900101001"), ""},
		{ResidencePermit, withCheck("22010219900101001"), "permit_prefix"},
		{DocType("x"), "1", "doc_type"},
	}
	for _, tt := range tests {
		if got := code(CheckDocNumber(tt.typ, tt.in, today)); got != tt.code {
			t.Errorf("CheckDocNumber(%s, %s) = %q, want %q", tt.typ, tt.in, got, tt.code)
		}
	}
}

func TestNormalizeDocNumber(t *testing.T) {
	if got := NormalizeDocNumber(" １１０１０５１９４９１２３１００２ｘ "); got != "11010519491231002X" {
		t.Errorf("got %q", got)
	}
}

func TestUSCC(t *testing.T) {
	tests := []struct{ in, code string }{
		{"91350100M000100Y43", ""},
		{"91350100M000100Y44", "uscc_checksum"},
		{"91350100M000100Y4", "uscc_length"},
		{"9135010OM000100Y43", "uscc_chars"},
	}
	for _, tt := range tests {
		if got := code(CheckUSCC(tt.in)); got != tt.code {
			t.Errorf("CheckUSCC(%s) = %q, want %q", tt.in, got, tt.code)
		}
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ in, code string }{
		{"张三", ""},
		{"欧阳娜娜", ""},
		{"阿卜杜热合曼·买买提", ""},
		{"𠮷野家", ""}, // Extension B
		{"龘", ""},
		{"王䶮", ""}, // Extension A
		{"李𰻝", ""}, // Extension G (U+30EDD)
		{"John Smith", ""},
		{"Mary Ann O", ""},
		{"", "name_empty"},
		{"张三1", "name_char"},
		{"张三😀", "name_char"},
		{"张,三", "name_char"},
		{"·张三", "name_dot"},
		{"张三·", "name_trailing"},
		{"阿··买", "name_dot"},
		{"John  Smith", "name_space"},
		{"张\u200b三", "name_char"},
		{"张三\ufffd", "name_encoding"},
		{"〇三", ""}, // U+3007 occurs in registered names
		{"李〇", ""},
		{"𱍐一", ""},          // Extension H (U+31350)
		{"José Müller", ""}, // Latin letters with diacritics
		{"Łukasz Nowak", ""},
		{"Jean-Luc O'Neill", ""},
		{"Ngũgĩ", ""},
		{"J\u0301", ""},          // a diacritic with no precomposed form
		{"\u0301J", "name_char"}, // a diacritic on nothing
		{"张\u0301", "name_char"},
		{"-Jean", "name_char"},
		{"张-三", "name_char"},
		{"Jean-", "name_trailing"},
		{"〆三", "name_char"},
		{"Иван", "name_char"}, // Cyrillic is written in its Latin form on a Chinese certificate
		{"ＡＢ", "name_char"},   // full-width: NormalizeName folds it first
	}
	for _, tt := range tests {
		if got := code(CheckName(tt.in)); got != tt.code {
			t.Errorf("CheckName(%q) = %q, want %q", tt.in, got, tt.code)
		}
	}
	for in, want := range map[string]string{
		"  阿卜杜热合曼•买买提 ": "阿卜杜热合曼·买买提",
		"Jose\u0301":    "José",
		"Ｊｏｈｎ  Ｓｍｉｔｈ":   "John Smith",
		"李〇":            "李〇",
	} {
		if got := NormalizeName(in); got != want {
			t.Errorf("NormalizeName(%q) = %q, want %q", in, got, want)
		}
		if err := CheckName(NormalizeName(in)); err != nil {
			t.Errorf("CheckName(NormalizeName(%q)): %v", in, err)
		}
	}
}

func TestMasking(t *testing.T) {
	tests := []struct{ in, want string }{
		{"张三", "张*"}, {"张三丰", "张*丰"}, {"欧阳娜娜", "欧**娜"}, {"阿卜杜热合曼·买买提", "阿*****·**提"}, {"John Smith", "J*** S****"}, {"龘", "*"},
	}
	for _, tt := range tests {
		if got := MaskName(tt.in); got != tt.want {
			t.Errorf("MaskName(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got := MaskDoc("11010519491231002X"); got != "110105********002X" {
		t.Errorf("MaskDoc = %s", got)
	}
}
