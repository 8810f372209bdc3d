package issuer

import (
	"archive/zip"
	"io"
	"io/fs"
	"path"
	"strings"

	"certd/issuer/ident"
)

// Photos finds a holder's photo by document number or 学号.
type Photos map[string][]byte

// For returns the photo of a certificate's holder, or nil.
func (ph Photos) For(c Certificate) []byte {
	if b, ok := ph[c.Holder.DocNumber]; ok {
		return b
	}
	if c.Holder.StudentNo != "" {
		return ph[c.Holder.StudentNo]
	}
	return nil
}

// photoKey names the photo a roster entry would use, for error messages
// that must not echo a full document number.
func photoKey(docNumber, studentNo string, ph Photos) (string, []byte) {
	if b, ok := ph[docNumber]; ok {
		return ident.MaskDoc(docNumber), b
	}
	if b, ok := ph[studentNo]; ok && studentNo != "" {
		return studentNo, b
	}
	return "", nil
}

// Limits on an upload of holders' photos: a 1-inch photo is tens of KB, so
// these leave room for every roster while keeping a ZIP bomb from filling
// memory.
const (
	MaxPhotoFiles = 20_000
	MaxPhotoBytes = 2 << 20   // one photo
	MaxPhotosSize = 256 << 20 // all photos of one upload, decompressed
)

// ReadPhotos reads holders' photos from a folder (os.DirFS) or a ZIP
// archive (*zip.Reader), each named after the holder's document number or
// 学号 (220102200401010013.jpg), at any depth. Files that are not .jpg,
// .jpeg or .png are ignored; the images themselves are checked when the
// roster is (see Service.Issue). It is the one photo loader, for the
// command line's folder or ZIP and the console's upload alike.
func ReadPhotos(fsys fs.FS) (Photos, error) {
	ph := Photos{}
	total := 0
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return Errorf(ErrInvalid, "photos_unreadable", "无法读取照片", "cannot read the photos")
		}
		name := path.Base(p)
		ext := strings.ToLower(path.Ext(name))
		if !d.Type().IsRegular() || (ext != ".jpg" && ext != ".jpeg" && ext != ".png") {
			return nil
		}
		if len(ph) >= MaxPhotoFiles {
			return Errorf(ErrInvalid, "photos_many", "照片超过%d张", "more than %d photos", MaxPhotoFiles)
		}
		b, err := readPhoto(fsys, p)
		if err != nil {
			return Errorf(ErrInvalid, "photos_unreadable", "照片%s无法读取或已损坏", "photo %s cannot be read or is damaged", name)
		}
		if len(b) > MaxPhotoBytes {
			return Errorf(ErrInvalid, "photo_large", "照片%s超过2MB", "photo %s is larger than 2 MB", name)
		}
		if total += len(b); total > MaxPhotosSize {
			return Errorf(ErrInvalid, "photos_total", "照片总大小超过%dMB", "the photos add up to more than %d MB", MaxPhotosSize>>20)
		}
		ph[strings.ToUpper(strings.TrimSuffix(name, path.Ext(name)))] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ph, nil
}

// readPhoto reads one photo, at most one byte past the limit: a ZIP
// header's size is the sender's word, so the limit holds on what actually
// decompresses.
func readPhoto(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxPhotoBytes+1))
}

// PhotosFromZip reads holders' photos from an uploaded ZIP archive (see
// ReadPhotos).
func PhotosFromZip(r io.ReaderAt, size int64) (Photos, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, Errorf(ErrInvalid, "photos_zip", "照片文件应为ZIP压缩包", "the photos must be a ZIP file")
	}
	return ReadPhotos(zr)
}
