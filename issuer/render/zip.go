package render

import (
	"archive/zip"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ZipEntry is one file of a ZIP built by WriteZip.
type ZipEntry struct {
	Name string // e.g. "Y000022000001263000001.pdf"; no directories
	Data []byte
}

// WriteZip writes entries as a ZIP with a fixed timestamp, so that the same
// PDFs give the same archive. PDFs are already deflated, so entries are
// stored, not compressed again.
func WriteZip(w io.Writer, modified time.Time, entries []ZipEntry) error {
	zw := zip.NewWriter(w)
	seen := map[string]bool{}
	for _, e := range entries {
		if e.Name == "" || strings.ContainsAny(e.Name, `/\`) || e.Name == "." || e.Name == ".." || seen[e.Name] {
			return newError(ErrInput, fmt.Sprintf("压缩包文件名无效或重复：%q", e.Name), fmt.Sprintf("invalid or duplicate ZIP entry name %q", e.Name), nil)
		}
		seen[e.Name] = true
		f, err := zw.CreateHeader(&zip.FileHeader{Name: e.Name, Method: zip.Store, Modified: modified.UTC()})
		if err != nil {
			return err
		}
		if _, err := f.Write(e.Data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// maxFileNameRunes bounds a file name made from a record's fields: file
// systems take 255 bytes, and three bytes a Chinese character.
const maxFileNameRunes = 80

// SafeFileName makes s usable as a file name on Windows, macOS and Linux
// once unpacked: path separators, the characters Windows reserves
// (<>:"|?*), control and invisible format characters become "-"; leading
// and trailing dots and spaces go (Windows drops trailing ones, and a
// leading dot hides a file); a name Windows reserves for a device (CON,
// NUL, COM1…) gets a "_" in front; the result is at most 80 characters.
// "" stays "".
func SafeFileName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '/' || r == '\\' || strings.ContainsRune(`<>:"|?*`, r):
			return '-'
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError:
			return '-'
		}
		return r
	}, s)
	s = strings.Trim(s, ". ")
	if utf8.RuneCountInString(s) > maxFileNameRunes {
		s = strings.TrimRight(string([]rune(s)[:maxFileNameRunes]), ". ")
	}
	base, _, _ := strings.Cut(s, ".")
	switch u := strings.ToUpper(strings.TrimSpace(base)); {
	case u == "CON" || u == "PRN" || u == "AUX" || u == "NUL",
		len(u) == 4 && (strings.HasPrefix(u, "COM") || strings.HasPrefix(u, "LPT")) && u[3] >= '0' && u[3] <= '9':
		s = "_" + s
	}
	return s
}
