package render

import (
	"archive/zip"
	"fmt"
	"io"
	"strings"
	"time"
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
