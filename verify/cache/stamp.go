package cache

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"certd/issuer"
)

// A page says when it was checked: the time of the viewing, not the time its
// rendered form was cached (which may be hours earlier). Rendering every view
// anew would cost the cached page most of its speed, so a rendered page
// carries a placeholder of fixed width, StampPlaceholder, right after
// StampMarker, and each answer writes the current second into it. The gzip
// form is spliced the same way: the part before the placeholder is
// compressed once and ends on a byte boundary (a sync flush), the time goes
// in a stored (uncompressed) deflate block, and the part after is a separate
// deflate stream that cannot refer back into the time; only the CRC-32 of
// the time and what follows it is computed per answer.

// StampMarker precedes the placeholder in a page template.
const StampMarker = `class="checked-now">`

// StampLayout is the stamp's format (China time); StampPlaceholder has its
// width and is what a template prints.
const (
	StampLayout      = "2006-01-02 15:04:05"
	StampPlaceholder = "0000-00-00 00:00:00"
)

// stamped is the precomputed form of a blob with a placeholder.
type stamped struct {
	at int // offset of the placeholder in body

	gzOnce   sync.Once
	gzHead   []byte // gzip header + deflate of body[:at], sync-flushed
	gzTail   []byte // deflate of body[at+len(StampPlaceholder):], final
	crcFront uint32 // CRC-32 of body[:at]
}

func findStamp(body []byte) *stamped {
	i := bytes.Index(body, []byte(StampMarker))
	if i < 0 {
		return nil
	}
	at := i + len(StampMarker)
	if !bytes.HasPrefix(body[at:], []byte(StampPlaceholder)) {
		return nil
	}
	return &stamped{at: at}
}

// Stamped reports whether the blob carries a time to write per answer.
func (b *Blob) Stamped() bool { return b.stamp != nil }

// Now is the stamp for this second, shared by every answer in it: never
// change the bytes.
func Now() (unix int64, stamp []byte) {
	now := time.Now()
	if s := lastStamp.Load(); s != nil && s.unix == now.Unix() {
		return s.unix, s.text
	}
	s := &stampText{unix: now.Unix(), text: []byte(now.In(issuer.ChinaTime).Format(StampLayout))}
	lastStamp.Store(s)
	return s.unix, s.text
}

type stampText struct {
	unix int64
	text []byte
}

var lastStamp atomic.Pointer[stampText]

// WriteStamped writes the body with stamp in place of the placeholder, in
// gzip form when gz is set and the blob has one (it reports whether it
// did). stamp must be len(StampPlaceholder) bytes.
func (b *Blob) WriteStamped(w io.Writer, stamp []byte, gz bool) (gzipped bool, err error) {
	s := b.stamp
	end := s.at + len(StampPlaceholder)
	if len(stamp) != len(StampPlaceholder) {
		stamp = b.body[s.at:end]
	}
	if !gz || len(b.body) < 512 {
		return false, writeAll(w, b.body[:s.at], stamp, b.body[end:])
	}
	s.gzOnce.Do(func() { s.gzHead, s.gzTail, s.crcFront = spliceParts(b.body, s.at, end) })
	// A stored, non-final deflate block of the stamp (RFC 1951 3.2.4): its
	// length is len(StampPlaceholder), 19, checked above.
	const n = uint16(len(StampPlaceholder))
	var stored [5]byte
	binary.LittleEndian.PutUint16(stored[1:], n)
	binary.LittleEndian.PutUint16(stored[3:], ^n)
	crc := crc32.Update(s.crcFront, crc32.IEEETable, stamp)
	crc = crc32.Update(crc, crc32.IEEETable, b.body[end:])
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], crc)
	binary.LittleEndian.PutUint32(trailer[4:], uint32(len(b.body))) // #nosec G115 -- RFC 1952's ISIZE is the length modulo 2^32
	for _, p := range [...][]byte{s.gzHead, stored[:], stamp, s.gzTail, trailer[:]} {
		if _, err := w.Write(p); err != nil {
			return true, err
		}
	}
	return true, nil
}

func writeAll(w io.Writer, a, b, c []byte) error {
	for _, p := range [...][]byte{a, b, c} {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// spliceParts compresses the parts of body around [at, end).
func spliceParts(body []byte, at, end int) (head, tail []byte, crcFront uint32) {
	var h bytes.Buffer
	// A gzip header with no name, time or extra fields (RFC 1952): the
	// same for every answer.
	h.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	fw, _ := flate.NewWriter(&h, flate.DefaultCompression) // the level is valid
	_, _ = fw.Write(body[:at])
	_ = fw.Flush() // byte-aligned, not final: a stored block may follow
	var t bytes.Buffer
	tw, _ := flate.NewWriter(&t, flate.DefaultCompression)
	_, _ = tw.Write(body[end:])
	_ = tw.Close()
	return h.Bytes(), t.Bytes(), crc32.ChecksumIEEE(body[:at])
}
