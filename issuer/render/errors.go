package render

import (
	"errors"
	"fmt"
	"strings"

	"certd/issuer/fault"
)

// Error kinds. Every error this package returns is a *fault.Error whose
// chain holds exactly one of them, so a caller tells a bad font from a bad
// photo with errors.Is, without parsing text.
var (
	ErrFont     = errors.New("render: font")
	ErrTemplate = errors.New("render: template")
	ErrImage    = errors.New("render: image")
	ErrInput    = errors.New("render: input")
	ErrGlyph    = errors.New("render: missing glyph")
	ErrRender   = errors.New("render: rendering failed")
)

// newError builds this package's errors. A font that cannot be used or a
// failure while drawing is the server's problem (fault.Unavailable); a
// template, an image, a field or a character is the input's (fault.Invalid).
// Operators at Jilin colleges read the Chinese half, logs and developers the
// English half and the cause.
func newError(kind error, zh, en string, cause error) *fault.Error {
	e := &fault.Error{Kind: fault.Invalid, Zh: zh, En: en, Err: errors.Join(kind, cause)}
	switch kind {
	case ErrFont:
		e.Kind, e.Code = fault.Unavailable, "font_unusable"
	case ErrRender:
		e.Kind, e.Code = fault.Unavailable, "render_failed"
	case ErrTemplate:
		e.Code = "template_invalid"
	case ErrImage:
		e.Code = "image_invalid"
	case ErrInput:
		e.Code = "render_input"
	case ErrGlyph:
		e.Code = "glyph_missing"
	}
	return e
}

// MissingGlyphsError lists characters that no configured font can draw. It
// is the cause of an ErrGlyph error; roster import names the characters in
// a row problem, so a certificate is never printed with a blank or
// substituted character.
type MissingGlyphsError struct {
	Runes []rune // distinct, in order of first appearance
}

func (e *MissingGlyphsError) Error() string {
	_, en := e.lists()
	return "no glyph for " + en
}

func (e *MissingGlyphsError) Unwrap() error { return ErrGlyph }

// lists names the runes for people: 「𪛖」(U+2A6D6) in Chinese text, "𪛖"
// U+2A6D6 in English.
func (e *MissingGlyphsError) lists() (zh, en string) {
	var z, n []string
	for _, r := range e.Runes {
		z = append(z, fmt.Sprintf("「%s」(%U)", printable(r), r))
		n = append(n, fmt.Sprintf("%q %U", printable(r), r))
	}
	return strings.Join(z, "、"), strings.Join(n, ", ")
}

// missingGlyphs is the error for runes no font can print.
func missingGlyphs(runes []rune) *fault.Error {
	mg := &MissingGlyphsError{Runes: runes}
	zh, en := mg.lists()
	return newError(ErrGlyph, "字体中缺少以下字符，无法打印："+zh, "the configured fonts have no glyph for: "+en, mg)
}

// printable keeps control characters from corrupting the message.
func printable(r rune) string {
	if r < 0x20 || r == 0x7F || (r >= 0x80 && r < 0xA0) {
		return fmt.Sprintf("\\x%02x", r)
	}
	return string(r)
}
