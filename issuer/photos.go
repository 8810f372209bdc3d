package issuer

import (
	"archive/zip"
	"bufio"
	"bytes"
	"image"
	_ "image/jpeg" // DecodeConfig of uploaded photos
	_ "image/png"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"certd/issuer/ident"
	"certd/issuer/render"
)

// Photos are holders' photos in a folder or a ZIP archive, found by
// document number or 学号. Only an index is held in memory: a photo is read
// from the folder or archive when a certificate needs it, one at a time, so
// a roster's photos never sit in memory together. The zero value and nil
// hold no photos. Close releases an archive opened by OpenPhotos.
type Photos struct {
	fsys  fs.FS
	paths map[string]string // upper-cased file name without extension -> path in fsys
	close func() error
}

// Limits on an upload of holders' photos. A 1-inch photo is tens of KB and
// a few hundred pixels a side; these leave room for every roster while
// keeping a ZIP bomb from costing more than bounded work. Sizes are what
// actually decompresses, not what an archive's headers claim.
const (
	MaxPhotoFiles    = 20_000               // photos in one upload
	MaxPhotoBytes    = render.MaxImageBytes // one photo, 2 MiB
	MaxPhotosSize    = 256 << 20            // all photos of one upload, decompressed
	MaxPhotosArchive = 64 << 20             // the ZIP archive itself
)

// Len is the number of photos.
func (ph *Photos) Len() int {
	if ph == nil {
		return 0
	}
	return len(ph.paths)
}

// Close releases the archive behind the photos, if any.
func (ph *Photos) Close() error {
	if ph == nil || ph.close == nil {
		return nil
	}
	return ph.close()
}

// get reads the photo with key (upper-case), or nil. A photo that cannot be
// read now (it was read when indexed) is as good as none; it cannot be
// larger than it was then, the limit holds on every read.
func (ph *Photos) get(key string) []byte {
	if ph == nil || key == "" {
		return nil
	}
	p, ok := ph.paths[strings.ToUpper(key)]
	if !ok {
		return nil
	}
	b, err := readPhoto(ph.fsys, p)
	if err != nil || len(b) > MaxPhotoBytes {
		return nil
	}
	return b
}

// For returns the photo of a certificate's holder, or nil.
func (ph *Photos) For(c Certificate) []byte {
	if b := ph.get(c.Holder.DocNumber); b != nil {
		return b
	}
	return ph.get(c.Holder.StudentNo)
}

// photoKey names the photo a roster entry would use, for error messages
// that must not echo a full document number, and reads it.
func photoKey(docNumber, studentNo string, ph *Photos) (string, []byte) {
	if b := ph.get(docNumber); b != nil {
		return ident.MaskDoc(docNumber), b
	}
	if b := ph.get(studentNo); b != nil {
		return studentNo, b
	}
	return "", nil
}

// ReadPhotos indexes holders' photos in a folder (os.DirFS) or a ZIP
// archive (*zip.Reader), each named after the holder's document number or
// 学号 (220102200401010013.jpg), at any depth. Files that are not .jpg,
// .jpeg or .png are ignored. Every photo is read through once, so that the
// limits hold on what the files really hold: at most MaxPhotoFiles photos,
// each at most MaxPhotoBytes, together at most MaxPhotosSize, and none
// larger than render.MaxImagePixel a side by its header (checked with
// image.DecodeConfig, before anything decodes the pixels). Whether each
// image is usable is checked with the roster (see Service.Issue). It is
// the one photo loader, for the command line's folder or ZIP and the
// console's upload alike.
func ReadPhotos(fsys fs.FS) (*Photos, error) {
	ph := &Photos{fsys: fsys, paths: map[string]string{}}
	var total int64
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return Errorf(ErrInvalid, "photos_unreadable", "无法读取照片", "cannot read the photos")
		}
		name := path.Base(p)
		ext := strings.ToLower(path.Ext(name))
		if !d.Type().IsRegular() || (ext != ".jpg" && ext != ".jpeg" && ext != ".png") {
			return nil
		}
		if len(ph.paths) >= MaxPhotoFiles {
			return Errorf(ErrInvalid, "photos_many", "照片超过%d张", "more than %d photos", MaxPhotoFiles)
		}
		if fi, err := d.Info(); err == nil {
			if zh, ok := fi.Sys().(*zip.FileHeader); ok && zh.CompressedSize64 > MaxPhotoBytes {
				return errPhotoLarge(name)
			}
		}
		n, cfg, err := scanPhoto(fsys, p)
		switch {
		case err != nil:
			return Errorf(ErrInvalid, "photos_unreadable", "照片%s无法读取或已损坏", "photo %s cannot be read or is damaged", name)
		case n > MaxPhotoBytes:
			return errPhotoLarge(name)
		case cfg.Width > render.MaxImagePixel || cfg.Height > render.MaxImagePixel:
			return Errorf(ErrInvalid, "photo_pixels", "照片%s尺寸过大（%d×%d像素，上限%d）", "photo %s is too large (%d×%d px, limit %d)",
				name, cfg.Width, cfg.Height, render.MaxImagePixel)
		}
		if total += n; total > MaxPhotosSize {
			return Errorf(ErrInvalid, "photos_total", "照片总大小超过%dMB", "the photos add up to more than %d MB", MaxPhotosSize>>20)
		}
		ph.paths[strings.ToUpper(strings.TrimSuffix(name, path.Ext(name)))] = p
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ph, nil
}

func errPhotoLarge(name string) error {
	return Errorf(ErrInvalid, "photo_large", "照片%s超过%dMB", "photo %s is larger than %d MB", name, MaxPhotoBytes>>20)
}

// scanPhoto reads one photo through without keeping it: how many bytes it
// holds (at most one past the limit: a ZIP header's size is the sender's
// word) and, when it is an image at all, its header's dimensions.
func scanPhoto(fsys fs.FS, name string) (int64, image.Config, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return 0, image.Config{}, err
	}
	defer f.Close()
	cr := &countingReader{r: io.LimitReader(f, MaxPhotoBytes+1)}
	// A file that is not an image is left for the roster check to name
	// against its row; only the dimensions are judged here.
	cfg, _, _ := image.DecodeConfig(bufio.NewReader(cr))
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return cr.n, cfg, err
	}
	return cr.n, cfg, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readPhoto reads one photo, at most one byte past the limit.
func readPhoto(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxPhotoBytes+1))
}

// maxZipEntries bounds the entries of a photo archive, folders and other
// files included: archive/zip holds a few hundred bytes of memory for each
// entry of the central directory, which costs the sender 46 bytes, so a
// 50 MiB archive of empty entries would cost 200 MiB to open.
const maxZipEntries = 2*MaxPhotoFiles + 10_000

// PhotosFromZip indexes holders' photos in a ZIP archive read through r
// (see ReadPhotos); r must stay readable while the photos are used.
func PhotosFromZip(r io.ReaderAt, size int64) (*Photos, error) {
	if size > MaxPhotosArchive {
		return nil, errPhotosArchive()
	}
	if n, err := countSignatures(r, size, zipDirectorySignature); err != nil || n > maxZipEntries {
		return nil, Errorf(ErrInvalid, "photos_many", "照片压缩包中的文件超过%d个", "the photo archive holds more than %d files", maxZipEntries)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, Errorf(ErrInvalid, "photos_zip", "照片文件应为ZIP压缩包", "the photos must be a ZIP file")
	}
	return ReadPhotos(zr)
}

// zipDirectorySignature starts every central directory record of a ZIP.
var zipDirectorySignature = []byte("PK\x01\x02")

// countSignatures counts the places sig occurs in the first size bytes of
// r, reading it once in small blocks. archive/zip reads a record wherever a
// directory record starts, so this bounds the records it will read,
// however the archive's end record describes them.
func countSignatures(r io.ReaderAt, size int64, sig []byte) (int, error) {
	buf := make([]byte, 64<<10+len(sig)-1)
	n, carry := 0, 0
	for off := int64(0); off < size; {
		want := min(int64(len(buf)-carry), size-off)
		m, err := r.ReadAt(buf[carry:carry+int(want)], off)
		if m == 0 {
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		off += int64(m)
		block := buf[:carry+m]
		n += bytes.Count(block, sig)
		// Keep the tail that could start a signature split across blocks;
		// it holds no whole signature (those were counted).
		carry = min(len(sig)-1, len(block))
		copy(buf, block[len(block)-carry:])
	}
	return n, nil
}

func errPhotosArchive() error {
	return Errorf(ErrInvalid, "photos_archive_large", "照片压缩包超过%dMB", "the photo archive is larger than %d MB", MaxPhotosArchive>>20)
}

// OpenPhotos indexes the holders' photos in a folder or a ZIP file on disk
// (see ReadPhotos). The photos are read from there when needed; Close
// releases the file.
func OpenPhotos(p string) (*Photos, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, Errorf(ErrInvalid, "photos_unreadable", "无法读取照片%s", "cannot read the photos %s", p)
	}
	if fi.IsDir() {
		return ReadPhotos(os.DirFS(p))
	}
	if fi.Size() > MaxPhotosArchive {
		return nil, errPhotosArchive()
	}
	f, err := os.Open(p) // #nosec G304 -- a folder or file the operator named, or the console's own upload file
	if err != nil {
		return nil, Errorf(ErrInvalid, "photos_unreadable", "无法读取照片%s", "cannot read the photos %s", p)
	}
	ph, err := PhotosFromZip(f, fi.Size())
	if err != nil {
		_ = f.Close() // read-only: nothing to lose; err says what went wrong
		return nil, err
	}
	ph.close = f.Close
	return ph, nil
}
