package issuer_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"certd/issuer"
	"certd/issuer/ident"
)

func holder(doc, studentNo string) issuer.Certificate {
	return issuer.Certificate{Holder: issuer.Holder{DocType: ident.ResidentID, DocNumber: doc, StudentNo: studentNo}}
}

func zipOf(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	for name, b := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return zbuf.Bytes()
}

// photosOf is photos from an in-memory ZIP of files.
func photosOf(t testing.TB, files map[string][]byte) *issuer.Photos {
	t.Helper()
	data := zipOf(t, files)
	ph, err := issuer.PhotosFromZip(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return ph
}

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
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	zipPath := filepath.Join(t.TempDir(), "photos.zip")
	if err := os.WriteFile(zipPath, zipOf(t, files), 0o600); err != nil {
		t.Fatal(err)
	}
	fromDir, err := issuer.OpenPhotos(dir)
	if err != nil {
		t.Fatal(err)
	}
	fromZip, err := issuer.OpenPhotos(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer fromZip.Close()
	for name, ph := range map[string]*issuer.Photos{"folder": fromDir, "zip": fromZip} {
		if ph.Len() != 2 || string(ph.For(holder("220102200401010013", ""))) != "jpeg one" || string(ph.For(holder("x", "S00042"))) != "png two" ||
			ph.For(holder("x", "S00043")) != nil {
			t.Errorf("%s: %d photos, wrong ones found", name, ph.Len())
		}
	}
	var none *issuer.Photos
	if none.Len() != 0 || none.For(holder("220102200401010013", "")) != nil || none.Close() != nil {
		t.Error("no photos is not empty")
	}
}

// pngHeader is a PNG that claims width×height pixels: a signature, an
// IHDR chunk and IEND, a few dozen bytes. Decoding it would allocate the
// pixels; its header alone tells it is too large.
func pngHeader(width, height uint32) []byte {
	chunk := func(typ string, data []byte) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
		return b.Bytes()
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], width)
	binary.BigEndian.PutUint32(ihdr[4:], height)
	ihdr[8], ihdr[9] = 8, 6 // 8-bit RGBA: 4 bytes a pixel once decoded
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, chunk("IHDR", ihdr)...)
	return append(out, chunk("IEND", nil)...)
}

func emptyEntries(n int) map[string][]byte {
	m := make(map[string][]byte, n)
	for i := range n {
		m[strconv.Itoa(i)] = nil
	}
	return m
}

func TestReadPhotosLimits(t *testing.T) {
	big := bytes.Repeat([]byte{0xFF}, issuer.MaxPhotoBytes+1)
	many := map[string][]byte{}
	for i := range 200 {
		many[string(rune('a'+i%26))+string(rune('a'+i/26))+".jpg"] = make([]byte, 2<<20) // 2 MiB of zeros each: 400 MiB in all
	}
	tests := []struct {
		name  string
		files map[string][]byte
		code  string
	}{
		{"one photo over 2 MB", map[string][]byte{"a.jpg": big}, "photo_large"},
		{"a 50,000×50,000 PNG of a few bytes", map[string][]byte{"220102200401010013.png": pngHeader(50000, 50000)}, "photo_pixels"},
		{"photos adding up to more than 256 MB", many, "photos_total"},
		{"an archive of 60,000 empty entries", emptyEntries(60_000), "photos_many"},
		{"not a zip", nil, "photos_zip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte("not a zip at all")
			if tt.files != nil {
				data = zipOf(t, tt.files)
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := issuer.PhotosFromZip(bytes.NewReader(data), int64(len(data)))
			runtime.ReadMemStats(&after)
			if e, ok := issuer.AsError(err); !ok || e.Code != tt.code || e.Kind != issuer.ErrInvalid || e.Zh == "" || e.En == "" {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
			// Reading through the photos to check them costs buffers, not
			// the photos: well under one photo's limit of allocations per
			// photo, whatever the archive expands to.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
				t.Errorf("checking a %d-byte archive allocated %d MiB", len(data), alloc>>20)
			}
		})
	}
	if _, err := issuer.OpenPhotos(filepath.Join(t.TempDir(), "missing.zip")); err == nil {
		t.Error("a missing file gave photos")
	}
}

// Photos are read when needed, not held: indexing a ZIP that expands to
// 200 MiB keeps a few KiB of memory.
func TestPhotosAreNotHeld(t *testing.T) {
	files := map[string][]byte{}
	for i := range 100 {
		files[ident.CompleteResidentID("22010220040101"+string(rune('0'+i/10))+string(rune('0'+i%10))+"1")+".jpg"] = make([]byte, 2<<20)
	}
	p := filepath.Join(t.TempDir(), "photos.zip")
	if err := os.WriteFile(p, zipOf(t, files), 0o600); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	ph, err := issuer.OpenPhotos(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if ph.Len() != 100 {
		t.Fatalf("%d photos indexed", ph.Len())
	}
	if held := int64(after.HeapAlloc) - int64(before.HeapAlloc); held > 4<<20 {
		t.Fatalf("the index of 100 photos (200 MiB decompressed) holds %d MiB", held>>20)
	}
}

// Whatever the bytes, the photo loader answers with photos or a bilingual
// error, never a panic, and never more photos than its limits allow.
func FuzzPhotosFromZip(f *testing.F) {
	f.Add(zipOf(f, map[string][]byte{"220102200401010013.jpg": []byte("x"), "a/b.png": pngHeader(10, 10)}))
	f.Add(zipOf(f, map[string][]byte{"a.png": pngHeader(50000, 10)}))
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	f.Add([]byte("not a zip"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ph, err := issuer.PhotosFromZip(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if e, ok := issuer.AsError(err); !ok || e.Zh == "" || e.En == "" {
				t.Fatalf("error %v is not bilingual", err)
			}
			return
		}
		if ph.Len() > issuer.MaxPhotoFiles {
			t.Fatalf("%d photos", ph.Len())
		}
	})
}
