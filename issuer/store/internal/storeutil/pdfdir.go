package storeutil

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// PDFDir keeps certificate PDFs as files outside the database, so that the
// database holds records only: at 37.6 KB a certificate with its PDF
// against 5.1 KB without, the PDFs would be 86% of it, in every backup and
// on every replica (docs/operations.md). The database keeps each PDF's
// SHA-256, and a file that no longer matches it is refused on reading.
//
// Files are written once per rendering, atomically (a temporary file in
// the same directory, then renamed over the name), so a crash leaves the
// old PDF or the new one, never half of one, and Put returns only once the
// file is on disk, because the database records its hash next: a recorded
// PDF must never be lost. The flush is shared: writers that finish while
// one flush runs wait for the next, and one syncfs(2) makes all of their
// files durable, so concurrent writers pay for about one flush between
// them instead of one fsync each (3 ms on these machines). Files are spread
// over 256 subdirectories by a hash of the number, and readable by the
// owner only: they carry personal data.
type PDFDir struct {
	root string

	mu       sync.Mutex
	cond     *sync.Cond
	written  uint64 // files renamed into place
	synced   uint64 // of those, how many a finished flush covers
	flushing bool
	// staged are files Stage made durable ahead of their Put, by number,
	// with the hash they hold: the Put of the same bytes has nothing left
	// to write.
	staged map[string]string
}

// OpenPDFDir creates root (0700) if needed.
func OpenPDFDir(root string) (*PDFDir, error) {
	if root == "" {
		return nil, errors.New("empty PDF directory")
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, Unavailable("create the PDF directory "+root, err)
	}
	d := &PDFDir{root: root, staged: map[string]string{}}
	d.cond = sync.NewCond(&d.mu)
	return d, nil
}

// Root is the directory.
func (d *PDFDir) Root() string { return d.root }

// Path is where the PDF of number is kept.
func (d *PDFDir) Path(number string) string {
	h := sha256.Sum256([]byte(number))
	return filepath.Join(d.root, hex.EncodeToString(h[:1]), number+".pdf")
}

func validNumber(number string) error {
	if number == "" || strings.ContainsAny(number, `/\.`) || len(number) > 64 {
		return fmt.Errorf("invalid certificate number %q for a file name", number)
	}
	return nil
}

// Put writes the PDF of number, replacing any earlier one, and returns
// once it is on disk.
func (d *PDFDir) Put(number string, pdf []byte) error {
	d.mu.Lock()
	sha, ok := d.staged[number]
	delete(d.staged, number)
	d.mu.Unlock()
	if ok && Matches(pdf, sha) {
		return nil
	}
	mine, err := d.write(number, pdf)
	if err != nil {
		return err
	}
	return d.flush(mine)
}

// Stage writes many PDFs at once, on several goroutines, and makes them
// durable with one flush, ahead of the Puts that record them one by one:
// a printer stores a batch's PDFs in order, each in its own transaction,
// and would otherwise wait for the disk once per certificate.
func (d *PDFDir) Stage(numbers []string, pdfs [][]byte) error {
	if len(numbers) != len(pdfs) {
		return errors.New("stage: numbers and PDFs differ in count")
	}
	var wg sync.WaitGroup
	errs := make([]error, len(numbers))
	marks := make([]uint64, len(numbers))
	next := make(chan int)
	for range min(8, len(numbers)) {
		wg.Go(func() {
			for i := range next {
				marks[i], errs[i] = d.write(numbers[i], pdfs[i])
			}
		})
	}
	for i := range numbers {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(marks) == 0 {
		return nil
	}
	if err := d.flush(slices.Max(marks)); err != nil {
		return err
	}
	d.mu.Lock()
	for i, n := range numbers {
		s := sha256.Sum256(pdfs[i])
		d.staged[n] = hex.EncodeToString(s[:])
	}
	d.mu.Unlock()
	return nil
}

// write puts the file in place without waiting for the disk and returns
// its write number, for flush.
func (d *PDFDir) write(number string, pdf []byte) (uint64, error) {
	if err := validNumber(number); err != nil {
		return 0, err
	}
	p := d.Path(number)
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, Unavailable("write pdf", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return 0, Unavailable("write pdf", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(pdf); err != nil {
		_ = f.Close()
		return 0, Unavailable("write pdf", err)
	}
	if err := f.Close(); err != nil {
		return 0, Unavailable("write pdf", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return 0, Unavailable("write pdf", err)
	}
	ok = true
	d.mu.Lock()
	defer d.mu.Unlock()
	d.written++
	return d.written, nil
}

// flush returns once a flush that started after write number mine has
// finished: one flush at a time, covering every write before it began.
func (d *PDFDir) flush(mine uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.synced < mine {
		if d.flushing {
			d.cond.Wait()
			continue
		}
		d.flushing = true
		upTo := d.written
		d.mu.Unlock()
		err := syncFS(d.root)
		d.mu.Lock()
		d.flushing = false
		if err == nil && upTo > d.synced {
			d.synced = upTo
		}
		d.cond.Broadcast()
		if err != nil {
			return Unavailable("write pdf", err)
		}
	}
	return nil
}

// Get reads the PDF of number; ok is false when there is no file.
func (d *PDFDir) Get(number string) (pdf []byte, ok bool, err error) {
	if err := validNumber(number); err != nil {
		return nil, false, err
	}
	b, err := os.ReadFile(d.Path(number)) // #nosec G304 -- a name built from a validated number inside the configured directory
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, Unavailable("read pdf", err)
	}
	return b, true, nil
}

// Matches reports whether pdf has the recorded hex SHA-256.
func Matches(pdf []byte, sha string) bool {
	s := sha256.Sum256(pdf)
	return hex.EncodeToString(s[:]) == sha
}
