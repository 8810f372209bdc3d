package render

import (
	"errors"
	"fmt"
	"strings"
)

// Error kinds. Every error this package returns wraps exactly one of them,
// so callers can map them to HTTP statuses or roster row errors with
// errors.Is without parsing text.
var (
	ErrFont     = errors.New("render: font")
	ErrTemplate = errors.New("render: template")
	ErrImage    = errors.New("render: image")
	ErrInput    = errors.New("render: input")
	ErrGlyph    = errors.New("render: missing glyph")
	ErrRender   = errors.New("render: rendering failed")
)

// Error is a bilingual error. Operators at Jilin colleges read the Chinese
// half; logs and developers read the English half. Chinese comes first.
type Error struct {
	Kind  error
	Zh    string
	En    string
	Cause error
}

func newError(kind error, zh, en string, cause error) *Error {
	return &Error{Kind: kind, Zh: zh, En: en, Cause: cause}
}

func (e *Error) Error() string {
	s := e.Zh + " / " + e.En
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap exposes both the kind and the cause to errors.Is/As.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

// MissingGlyphsError lists characters that no configured font can draw.
// Roster import turns it into a row error naming the characters, so a
// certificate is never printed with a blank or substituted character.
type MissingGlyphsError struct {
	Runes []rune // distinct, in order of first appearance
}

func (e *MissingGlyphsError) Error() string {
	var zh, en []string
	for _, r := range e.Runes {
		zh = append(zh, fmt.Sprintf("「%s」(%U)", printable(r), r))
		en = append(en, fmt.Sprintf("%q %U", printable(r), r))
	}
	return "字体中缺少以下字符，无法打印：" + strings.Join(zh, "、") +
		" / the configured fonts have no glyph for: " + strings.Join(en, ", ")
}

func (e *MissingGlyphsError) Unwrap() error { return ErrGlyph }

// printable keeps control characters from corrupting the message.
func printable(r rune) string {
	if r < 0x20 || r == 0x7F || (r >= 0x80 && r < 0xA0) {
		return fmt.Sprintf("\\x%02x", r)
	}
	return string(r)
}
