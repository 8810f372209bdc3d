package roster

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// cleanCell trims a cell and folds full-width digits. Besides ordinary
// whitespace it trims the invisible characters that come with text pasted
// from web pages and chat apps (zero-width space, BOM, NBSP, ideographic
// space), which otherwise make an ID number "19 characters long".
func cleanCell(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\ufeff' || r == '\u2060'
	})
	if strings.IndexFunc(s, func(r rune) bool { return r >= '０' && r <= '９' }) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' {
			return r - '０' + '0'
		}
		return r
	}, s)
}

// blankRow reports whether every cell is empty after cleaning.
func blankRow(cells []string) bool {
	for _, c := range cells {
		if cleanCell(c) != "" {
			return false
		}
	}
	return true
}

// colName turns a 0-based column index into Excel's letters (0 → A).
func colName(c int) string {
	n, err := excelize.ColumnNumberToName(c + 1)
	if err != nil {
		return "?"
	}
	return n
}

// shorten keeps echoed values readable and bounded.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
