package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
)

// privateDir holds this package's private state inside the log directory:
// the appender's lock and the checkpoint archive. Like tessera's .state, it
// is never served (only "checkpoint" and "tile/..." are).
const privateDir = ".certd"

// archiveFile keeps every published checkpoint whose size grew, as records
// "<length>\n<note>". A proof is built on the first checkpoint that covered
// its entry, so that its cosignature times date the entry as tightly as the
// log can: a proof built on today's checkpoint would only say "by today".
const archiveFile = "checkpoints"

// Reader reads a log directory: the published checkpoint, proofs, and the
// public files for serving. It needs no lock and works in any process that
// sees the directory, including while another process appends.
type Reader struct {
	dir       string
	published atomic.Uint64 // largest published size seen; what may be served

	mu      sync.Mutex
	records []archived // sorted by size
	scanned int64      // bytes of the archive parsed so far
}

type archived struct {
	size uint64
	off  int64
	n    int
}

// NewReader reads the log in dir.
func NewReader(dir string) *Reader { return &Reader{dir: dir} }

// Checkpoint returns the latest published checkpoint, as served.
func (r *Reader) Checkpoint() ([]byte, error) {
	cp, err := os.ReadFile(filepath.Join(r.dir, layout.CheckpointPath))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotPublished
	}
	if err != nil {
		return nil, err
	}
	if size, ok := checkpointSize(cp); ok {
		r.notePublished(size)
	}
	return cp, nil
}

// FirstCheckpoint returns the first archived checkpoint that covers index
// (its size exceeds index), or ErrNotPublished.
func (r *Reader) FirstCheckpoint(index uint64) ([]byte, error) {
	if err := r.scanArchive(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	i := sort.Search(len(r.records), func(i int) bool { return r.records[i].size > index })
	var rec archived
	found := i < len(r.records)
	if found {
		rec = r.records[i]
	}
	r.mu.Unlock()
	if !found {
		return nil, ErrNotPublished
	}
	f, err := os.Open(filepath.Join(r.dir, privateDir, archiveFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cp := make([]byte, rec.n)
	if _, err := f.ReadAt(cp, rec.off); err != nil {
		return nil, err
	}
	return cp, nil
}

// Prove builds a C2SP tlog-proof that the entry at index is in the log,
// carrying extra (for a certificate: its number salt). It is built on the
// first published checkpoint that covered the entry, or on the latest one if
// the archive does not have it. ErrNotPublished means no published checkpoint
// covers the entry yet (in the first seconds after it was appended).
//
// If a verifier's policy no longer accepts that checkpoint's witnesses (the
// trust bundle changed), ProveAt with the latest Checkpoint gives a proof
// with today's cosignatures instead.
func (r *Reader) Prove(ctx context.Context, index uint64, extra []byte) ([]byte, error) {
	cp, err := r.FirstCheckpoint(index)
	if errors.Is(err, ErrNotPublished) {
		cp, err = r.Checkpoint()
	}
	if err != nil {
		return nil, err
	}
	return r.ProveAt(ctx, index, cp, extra)
}

// ProveAt builds a tlog-proof for index on the given published checkpoint.
func (r *Reader) ProveAt(ctx context.Context, index uint64, checkpoint, extra []byte) ([]byte, error) {
	if len(extra) > maxExtraSize {
		return nil, fmt.Errorf("附加数据过长 / extra data longer than %d bytes", maxExtraSize)
	}
	text, _, _ := bytes.Cut(checkpoint, []byte("\n\n"))
	var c Checkpoint
	if err := parseCheckpointText(string(text)+"\n", &c); err != nil {
		return nil, err
	}
	if index >= c.Size {
		return nil, ErrNotPublished
	}
	pb, err := client.NewProofBuilder(ctx, c.Size, r.readTile)
	if err != nil {
		return nil, err
	}
	hashes, err := pb.InclusionProof(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFilesMismatch, err)
	}
	// Check before handing out: a proof that does not lead to the root means
	// the tiles on disk were damaged, which must surface here, not at a
	// verifier's.
	leaf, err := client.FetchLeafHashes(ctx, r.readTile, index, 1, c.Size)
	if err != nil || len(leaf) != 1 || proof.VerifyInclusion(rfc6962.DefaultHasher, index, c.Size, leaf[0], hashes, c.Root[:]) != nil {
		return nil, fmt.Errorf("%w: 条目 %d 的包含证明与检查点不符 / inclusion proof for %d does not match the checkpoint", ErrFilesMismatch, index, index)
	}
	return (&Proof{Extra: extra, Index: index, Hashes: hashes, Checkpoint: checkpoint}).Marshal(), nil
}

// readTile reads a tile, falling back to the full tile when the partial one
// was already garbage-collected (tessera removes partial tiles once full).
func (r *Reader) readTile(_ context.Context, level, index uint64, p uint8) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(r.dir, layout.TilePath(level, index, p)))
	if errors.Is(err, os.ErrNotExist) && p > 0 {
		b, err = os.ReadFile(filepath.Join(r.dir, layout.TilePath(level, index, 0)))
	}
	return b, err
}

func (r *Reader) notePublished(size uint64) {
	for {
		old := r.published.Load()
		if size <= old || r.published.CompareAndSwap(old, size) {
			return
		}
	}
}

// scanArchive reads archive records written since the last scan. A record
// still being written (or torn by a crash) ends the scan; the writer
// truncates a torn tail when it opens the archive.
func (r *Reader) scanArchive() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.Open(filepath.Join(r.dir, privateDir, archiveFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	rest, err := io.ReadAll(io.NewSectionReader(f, r.scanned, 1<<40))
	if err != nil {
		return err
	}
	for len(rest) > 0 {
		head, body, ok := bytes.Cut(rest, []byte("\n"))
		n, err := strconv.Atoi(string(head))
		if !ok || err != nil || n <= 0 || n > MaxCheckpointSize || len(body) < n {
			break
		}
		off := r.scanned + int64(len(head)) + 1
		if size, ok := checkpointSize(body[:n]); ok && (len(r.records) == 0 || size > r.records[len(r.records)-1].size) {
			r.records = append(r.records, archived{size: size, off: off, n: n})
		}
		r.scanned = off + int64(n)
		rest = body[n:]
	}
	return nil
}

// openArchive opens the archive for appending, dropping a torn last record.
func (l *Log) openArchive() (*os.File, error) {
	if err := l.scanArchive(); err != nil {
		return nil, err
	}
	name := filepath.Join(l.cfg.Dir, privateDir, archiveFile)
	if fi, err := os.Stat(name); err == nil && fi.Size() > l.scanned {
		if err := os.Truncate(name, l.scanned); err != nil {
			return nil, err
		}
	}
	return os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600) // #nosec G304 -- inside the operator's configured log directory
}

// appendArchive records a newly published checkpoint (if it is larger than
// the last archived one) and syncs it.
// Only the watcher calls it, so writes never interleave.
func (l *Log) appendArchive(size uint64, cp []byte) error {
	l.Reader.mu.Lock()
	last := uint64(0)
	have := len(l.records) > 0
	if have {
		last = l.records[len(l.records)-1].size
	}
	l.Reader.mu.Unlock()
	if have && size <= last {
		return nil
	}
	rec := append([]byte(strconv.Itoa(len(cp))+"\n"), cp...)
	if _, err := l.archive.Write(rec); err != nil {
		return err
	}
	if err := l.archive.Sync(); err != nil {
		return err
	}
	return l.scanArchive()
}
