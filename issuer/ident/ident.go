// Package ident validates the identifiers that appear on a certificate: the
// 18-digit 居民身份证 number (GB 11643, ISO 7064 MOD 11-2 check), the
// 统一社会信用代码 (GB 32100, with the embedded GB 11714 organisation code),
// the other accepted identity documents, and holders' names.
//
// A check that fails returns a *fault.Error of kind Invalid whose Code names
// the broken rule (id_checksum, uscc_chars, name_char...), so a roster row
// and a registration form report it in the same words.
//
// Everything here is pure and allocation-light: it runs once per roster row,
// and a 10,000-row roster must validate in well under a second.
package ident

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"certd/issuer/fault"

	"golang.org/x/text/unicode/norm"
)

// DocType is the kind of identity document (证件类型) a holder presents.
type DocType string

// The accepted identity documents. The string values are stable identifiers
// stored in the database and used in the signed record.
const (
	ResidentID       DocType = "resident_id"       // 居民身份证
	HKMOPermit       DocType = "hkmo_permit"       // 港澳居民来往内地通行证
	TaiwanPermit     DocType = "taiwan_permit"     // 台湾居民来往大陆通行证
	ResidencePermit  DocType = "residence_permit"  // 港澳台居民居住证
	Passport         DocType = "passport"          // 护照
	ForeignPermanent DocType = "foreign_permanent" // 外国人永久居留身份证
)

var docNames = map[DocType][2]string{
	ResidentID:       {"居民身份证", "Resident Identity Card"},
	HKMOPermit:       {"港澳居民来往内地通行证", "Mainland Travel Permit for Hong Kong and Macao Residents"},
	TaiwanPermit:     {"台湾居民来往大陆通行证", "Mainland Travel Permit for Taiwan Residents"},
	ResidencePermit:  {"港澳台居民居住证", "Residence Permit for Hong Kong, Macao and Taiwan Residents"},
	Passport:         {"护照", "Passport"},
	ForeignPermanent: {"外国人永久居留身份证", "Foreign Permanent Resident ID Card"},
}

// DocTypes lists the accepted documents in a stable order.
var DocTypes = []DocType{ResidentID, HKMOPermit, TaiwanPermit, ResidencePermit, Passport, ForeignPermanent}

// Chinese returns the printed Chinese name of the document type.
func (d DocType) Chinese() string { return docNames[d][0] }

// English returns the English name of the document type.
func (d DocType) English() string { return docNames[d][1] }

// Valid reports whether d is one of the accepted document types.
func (d DocType) Valid() bool { _, ok := docNames[d]; return ok }

// ParseDocType accepts the Chinese name, common short forms, or the stable
// identifier. An empty string means 居民身份证, the overwhelmingly common case in
// a college roster.
func ParseDocType(s string) (DocType, bool) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "身份证", "居民身份证", "二代身份证", "resident_id", "id card", "idcard", "resident identity card":
		return ResidentID, true
	case "港澳通行证", "港澳居民来往内地通行证", "回乡证", "hkmo_permit":
		return HKMOPermit, true
	case "台胞证", "台湾居民来往大陆通行证", "taiwan_permit":
		return TaiwanPermit, true
	case "居住证", "港澳台居民居住证", "residence_permit":
		return ResidencePermit, true
	case "护照", "passport":
		return Passport, true
	case "外国人永久居留身份证", "永久居留证", "foreign_permanent":
		return ForeignPermanent, true
	}
	return "", false
}

// fail reports an identifier that breaks its rule: a *fault.Error of kind
// Invalid, whose Code (id_checksum, name_char...) says which rule.
func fail(code, zh, en string, args ...any) *fault.Error {
	return fault.Errorf(fault.Invalid, code, zh, en, args...)
}

var residentWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const residentChecks = "10X98765432"

// NormalizeDocNumber upper-cases and trims a document number, and turns
// full-width digits and letters (common when typed with a Chinese IME) into
// ASCII.
func NormalizeDocNumber(s string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		if r >= '０' && r <= '９' || r >= 'Ａ' && r <= 'Ｚ' || r >= 'ａ' && r <= 'ｚ' {
			r -= 0xFEE0
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// CheckResidentID validates an 18-digit resident ID number: digits, the
// MOD 11-2 check character, and a real birth date not after today.
// The number must already be normalised (see NormalizeDocNumber).
func CheckResidentID(n string, today time.Time) error {
	if len(n) != 18 {
		return fail("id_length", "身份证号码应为18位，实际为%d位", "resident ID number must have 18 characters, got %d", utf8.RuneCountInString(n))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := n[i]
		if c < '0' || c > '9' {
			return fail("id_chars", "身份证号码前17位只能是数字", "the first 17 characters of a resident ID number must be digits")
		}
		sum += int(c-'0') * residentWeights[i]
	}
	if want := residentChecks[sum%11]; n[17] != want {
		return fail("id_checksum", "身份证号码校验不通过，多为某一位录入有误：请与身份证原件逐位核对（不要只改最后一位）", "the resident ID number fails its check, usually because a digit was mistyped: compare it digit by digit with the original document (do not just change the last character)")
	}
	birth, err := time.Parse("20060102", n[6:14])
	if err != nil || birth.Year() < 1900 {
		return fail("id_birthdate", "身份证号码中的出生日期%s不存在", "resident ID birth date %s is not a real date", n[6:14])
	}
	if birth.After(today) {
		return fail("id_birthdate_future", "身份证号码中的出生日期%s晚于今天", "resident ID birth date %s is in the future", n[6:14])
	}
	return nil
}

// CheckDocNumber validates a document number of the given type. Documents
// other than the resident ID have no public checksum, so they get format
// checks only.
func CheckDocNumber(t DocType, n string, today time.Time) error {
	switch t {
	case ResidentID:
		return CheckResidentID(n, today)
	case ResidencePermit:
		// Residence permits use the resident ID layout with an 81/82/83 area code.
		if err := CheckResidentID(n, today); err != nil {
			return err
		}
		if p := n[:2]; p != "81" && p != "82" && p != "83" {
			return fail("permit_prefix", "港澳台居民居住证号码应以81、82或83开头", "a residence permit number starts with 81, 82 or 83")
		}
		return nil
	case HKMOPermit:
		if !matches(n, "HM", 8, 10) {
			return fail("permit_format", "港澳通行证号码应为H或M加8至10位数字", "a Hong Kong/Macao permit number is H or M followed by 8 to 10 digits")
		}
	case TaiwanPermit:
		if !matches(n, "", 8, 10) {
			return fail("permit_format", "台湾居民来往大陆通行证号码应为8至10位数字", "a Taiwan permit number has 8 to 10 digits")
		}
	case Passport, ForeignPermanent:
		if len(n) < 5 || len(n) > 20 {
			return fail("doc_length", "证件号码长度应为5至20个字符", "document number must be 5 to 20 characters")
		}
		for _, r := range n {
			if !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z') {
				return fail("doc_chars", "证件号码只能包含字母和数字", "document number may contain only letters and digits")
			}
		}
	default:
		return fail("doc_type", "未知的证件类型", "unknown document type")
	}
	return nil
}

// matches reports whether n is an optional one-letter prefix from letters
// (required when letters is not empty) followed by minDigits..maxDigits digits.
func matches(n, letters string, minDigits, maxDigits int) bool {
	if letters != "" {
		if n == "" || !strings.ContainsRune(letters, rune(n[0])) {
			return false
		}
		n = n[1:]
	}
	if len(n) < minDigits || len(n) > maxDigits {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}

const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
var orgWeights = [8]int{3, 7, 9, 10, 5, 8, 4, 2}

// CheckUSCC validates an 18-character 统一社会信用代码: the 31-symbol alphabet,
// the GB 32100 check character, and the check character of the embedded
// 9-character 组织机构代码 (GB 11714).
func CheckUSCC(s string) error {
	if len(s) != 18 {
		return fail("uscc_length", "统一社会信用代码应为18位", "unified social credit code must have 18 characters")
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := strings.IndexByte(usccAlphabet, s[i])
		if v < 0 {
			return fail("uscc_chars", "统一社会信用代码第%d位字符%q无效（不使用I、O、Z、S、V）", "unified social credit code character %d (%q) is not allowed (I, O, Z, S, V are never used)", i+1, s[i])
		}
		sum += v * usccWeights[i]
	}
	c := 31 - sum%31
	if c == 31 {
		c = 0
	}
	if s[17] != usccAlphabet[c] {
		return fail("uscc_checksum", "统一社会信用代码校验不通过，多为某一位录入有误：请与营业执照或登记证书原件逐位核对（不要只改最后一位）", "the unified social credit code fails its check, usually because a character was mistyped: compare it with the original licence or registration certificate (do not just change the last character)")
	}
	org := s[8:17]
	osum := 0
	for i := 0; i < 8; i++ {
		ch := org[i]
		var v int
		switch {
		case ch >= '0' && ch <= '9':
			v = int(ch - '0')
		case ch >= 'A' && ch <= 'Z':
			v = int(ch-'A') + 10
		}
		osum += v * orgWeights[i]
	}
	oc := 11 - osum%11
	want := byte('0' + oc)
	switch oc {
	case 10:
		want = 'X'
	case 11:
		want = '0'
	}
	if org[8] != want {
		return fail("uscc_org_checksum", "统一社会信用代码中组织机构代码的校验位错误", "the organisation code inside the unified social credit code has a wrong check character")
	}
	return nil
}

// MaxNameRunes bounds a holder's name. Long transliterated minority names
// (阿卜杜热合曼·买买提) and foreign names fit comfortably.
const MaxNameRunes = 64

// NormalizeName trims a name, collapses runs of spaces, composes it (NFC,
// so that "e" + U+0301 is the one character é the identity system stores),
// folds full-width Latin letters (Ｊｏｈｎ) to their ordinary forms, and maps
// the look-alike dots people type for the minority-name separator
// (﹒ ・ • ‧ ．) to U+00B7 MIDDLE DOT, the form the public security system uses.
func NormalizeName(s string) string {
	s = norm.NFC.String(strings.Join(strings.Fields(s), " "))
	return strings.Map(func(r rune) rune {
		switch r {
		case '・', '•', '‧', '﹒', '．', '∙', '⋅', '●':
			return '·'
		}
		if r >= 'Ａ' && r <= 'Ｚ' || r >= 'ａ' && r <= 'ｚ' {
			return r - 'Ａ' + 'A'
		}
		return r
	}, s)
}

// CheckName accepts every character the national identity system holds in a
// name: CJK ideographs of every extension and the compatibility ideographs,
// 〇 (U+3007, which occurs in registered names), the middle dot between parts
// of a minority name, and for foreign names Latin letters, with their
// diacritics (é, ü, ñ, ł), and spaces, hyphens and apostrophes between them.
// Nothing else: no digits, no other punctuation, no emoji, no control or
// invisible characters. Callers check each character against the certificate
// font as well. A name is expected in NFC ([NormalizeName]).
func CheckName(name string) error {
	if name == "" {
		return fail("name_empty", "姓名不能为空", "name is empty")
	}
	if n := utf8.RuneCountInString(name); n > MaxNameRunes {
		return fail("name_length", "姓名过长（%d个字符，最多%d个）", "name is too long (%d characters, at most %d)", n, MaxNameRunes)
	}
	prev := ' '
	for i, r := range name {
		switch {
		case r == '〇' || unicode.Is(unicode.Han, r) && !isHanSymbol(r):
		case unicode.Is(unicode.Latin, r) && unicode.IsLetter(r) && r < 0xFF00: // full-width forms are folded by NormalizeName
		case unicode.Is(unicode.Mn, r) && unicode.Is(unicode.Latin, prev):
			// A diacritic with no precomposed form, on a Latin letter.
		case r == ' ':
			if i == 0 || prev == ' ' || prev == '·' {
				return fail("name_space", "姓名中的空格位置不正确", "name has a misplaced space")
			}
		case r == '·':
			if i == 0 || prev == '·' || prev == ' ' {
				return fail("name_dot", "姓名中的间隔号“·”位置不正确", "name has a misplaced middle dot")
			}
		case r == '-' || r == '\'':
			if !unicode.Is(unicode.Latin, prev) {
				return fail("name_char", "姓名含有不允许的字符“%c”（U+%04X）", "name contains a character that is not allowed: %q (U+%04X)", r, r)
			}
		case r == utf8.RuneError:
			return fail("name_encoding", "姓名含有无法识别的字符（文件编码可能有误）", "name contains an unreadable character (the file encoding may be wrong)")
		default:
			return fail("name_char", "姓名含有不允许的字符“%c”（U+%04X）", "name contains a character that is not allowed: %q (U+%04X)", r, r)
		}
		prev = r
	}
	if prev == '·' || prev == ' ' || prev == '-' || prev == '\'' {
		return fail("name_trailing", "姓名不能以间隔号、空格或连字符结尾", "name must not end with a middle dot, a space or a hyphen")
	}
	return nil
}

// isHanSymbol excludes the few code points in the Han script property that
// are iteration or ideographic marks rather than ideographs.
func isHanSymbol(r rune) bool {
	switch r {
	case '々', '〻', '〆':
		return true
	}
	return r >= 0x2E80 && r <= 0x2FDF // radicals supplement and Kangxi radicals
}

// MaskDoc masks a document number for public display: the first 6 and last 4
// characters of an 18-character number stay, the rest become '*'. Shorter
// numbers keep only their last 2 characters.
func MaskDoc(n string) string {
	if len(n) >= 15 {
		return n[:6] + strings.Repeat("*", len(n)-10) + n[len(n)-4:]
	}
	if len(n) <= 2 {
		return strings.Repeat("*", len(n))
	}
	return strings.Repeat("*", len(n)-2) + n[len(n)-2:]
}

// MaskName masks a name for a viewer who knows only the certificate number:
// 张三 → 张*, 张三丰 → 张*丰, 欧阳娜娜 → 欧**娜. Foreign names keep the first letter
// of each word.
func MaskName(name string) string {
	rs := []rune(name)
	if len(rs) == 0 {
		return ""
	}
	if rs[0] < 0x80 {
		words := strings.Fields(name)
		for i, w := range words {
			wr := []rune(w)
			words[i] = string(wr[0]) + strings.Repeat("*", len(wr)-1)
		}
		return strings.Join(words, " ")
	}
	switch len(rs) {
	case 1:
		return "*"
	case 2:
		return string(rs[0]) + "*"
	}
	out := make([]rune, len(rs))
	for i, r := range rs {
		if i == 0 || i == len(rs)-1 || r == '·' {
			out[i] = r
		} else {
			out[i] = '*'
		}
	}
	return string(out)
}

// CompleteResidentID appends the check character to the first 17 digits of
// a resident ID number. It exists for fixtures and demo data.
func CompleteResidentID(first17 string) string {
	sum := 0
	for i := 0; i < 17 && i < len(first17); i++ {
		sum += int(first17[i]-'0') * residentWeights[i]
	}
	return first17 + string(residentChecks[sum%11])
}
