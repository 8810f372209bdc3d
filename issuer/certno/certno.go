// Package certno implements the certificate numbering rule of
// 《职业技能等级证书编码规则（试行）》 (人社鉴发〔2019〕2号): 22 characters, one
// upper-case letter and 21 digits, in seven parts:
//
//	Y 0000 22 000001 26 3 000001
//	│ │    │  │      │  │ └ serial, counted by the institution (6)
//	│ │    │  │      │  └── level digit 1-5 (1)
//	│ │    │  │      └───── last two digits of the issue year (2)
//	│ │    │  └──────────── site serial assigned by the province (6)
//	│ │    └─────────────── province code, 22 = 吉林 (2)
//	│ └──────────────────── institution code, 0000 for provincial filing (4)
//	└────────────────────── institution category letter (1)
//
// The first 13 characters are the institution's prefix, part of its
// registration. There is no check digit; a number is validated by structure
// and by the rules tying it to the record (prefix, year, level).
package certno

import (
	"fmt"
	"strconv"

	"certd/issuer/fault"
)

// Length is the length of a certificate number.
const Length = 22

// PrefixLength is the length of the institution prefix.
const PrefixLength = 13

// Number is a parsed certificate number.
type Number struct {
	Prefix string // positions 1-13
	Year   int    // 2000 + positions 14-15
	Level  int    // position 16
	Serial int    // positions 17-22
}

// String formats the number.
func (n Number) String() string {
	return fmt.Sprintf("%s%02d%d%06d", n.Prefix, n.Year%100, n.Level, n.Serial)
}

// ValidPrefix reports whether p is a letter followed by 12 digits.
func ValidPrefix(p string) bool {
	if len(p) != PrefixLength || p[0] < 'A' || p[0] > 'Z' {
		return false
	}
	return digits(p[1:])
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Parse checks the structure of a certificate number. The level digit must
// be 1-5 and the serial must not be zero; a number that breaks the rule is
// a *fault.Error of kind Invalid.
func Parse(s string) (Number, error) {
	if len(s) != Length {
		return Number{}, invalid("number_length", "证书编号应为22位，实际为%d位", "a certificate number has 22 characters, got %d", len(s))
	}
	if !ValidPrefix(s[:PrefixLength]) || !digits(s[PrefixLength:]) {
		return Number{}, invalid("number_chars", "证书编号应为1个大写字母加21位数字", "a certificate number is one capital letter followed by 21 digits")
	}
	yy, _ := strconv.Atoi(s[13:15])
	level := int(s[15] - '0')
	serial, _ := strconv.Atoi(s[16:])
	if level < 1 || level > 5 {
		return Number{}, invalid("number_level", "证书编号第16位（等级）应为1至5", "position 16 of a certificate number (the level) must be 1 to 5")
	}
	if serial == 0 {
		return Number{}, invalid("number_serial", "证书编号的流水号不能为000000", "the serial of a certificate number cannot be 000000")
	}
	return Number{Prefix: s[:PrefixLength], Year: 2000 + yy, Level: level, Serial: serial}, nil
}

func invalid(code, zh, en string, args ...any) *fault.Error {
	return fault.Errorf(fault.Invalid, code, zh, en, args...)
}
