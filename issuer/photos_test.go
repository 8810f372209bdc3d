package issuer_test

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"certd/issuer"
)

// A folder and a ZIP of the same photos read the same: one loader, whatever
// the photos came in.
func TestReadPhotosFolderAndZip(t *testing.T) {
	files := map[string][]byte{
		"220102200401010013.jpg": []byte("jpeg one"),
		"photos/s00042.PNG":      []byte("png two"), // nested, lower-case 学号
		"notes.txt":              []byte("ignored"),
		"photos/readme.md":       []byte("ignored"),
	}
	dir := t.TempDir()
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		w, _ := zw.Create(name)
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	fromDir, err := issuer.ReadPhotos(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	fromZip, err := issuer.PhotosFromZip(bytes.NewReader(zbuf.Bytes()), int64(zbuf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	for name, ph := range map[string]issuer.Photos{"folder": fromDir, "zip": fromZip} {
		if len(ph) != 2 || string(ph["220102200401010013"]) != "jpeg one" || string(ph["S00042"]) != "png two" {
			t.Errorf("%s: photos %v", name, photoNames(ph))
		}
	}
}

func TestReadPhotosLimits(t *testing.T) {
	big := bytes.Repeat([]byte{0xFF}, issuer.MaxPhotoBytes+1)
	tests := []struct {
		name  string
		files map[string][]byte
		code  string
	}{
		{"one photo over 2 MB", map[string][]byte{"a.jpg": big}, "photo_large"},
		{"not a zip", nil, "photos_zip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var zbuf bytes.Buffer
			if tt.files != nil {
				zw := zip.NewWriter(&zbuf)
				for name, b := range tt.files {
					w, _ := zw.Create(name)
					w.Write(b)
				}
				zw.Close()
			} else {
				zbuf.WriteString("not a zip at all")
			}
			_, err := issuer.PhotosFromZip(bytes.NewReader(zbuf.Bytes()), int64(zbuf.Len()))
			if e, ok := issuer.AsError(err); !ok || e.Code != tt.code || e.Kind != issuer.ErrInvalid {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
		})
	}
}

func photoNames(ph issuer.Photos) []string {
	var out []string
	for k := range ph {
		out = append(out, k)
	}
	return out
}
