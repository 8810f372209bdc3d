package tlog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

// Config says where a log lives, who signs its checkpoints and who must
// cosign them.
type Config struct {
	// Dir holds the log: the public files (checkpoint, tile/...) and private
	// state (.state for tessera, .certd for this package).
	Dir string
	// Origin is the checkpoint's first line and the log key's name, e.g.
	// "certd.example.edu.cn/log". It never changes for a log.
	Origin string
	// Key signs checkpoints. The authority holds it, sealed under the KEK
	// with purpose KeyPurpose.
	Key ed25519.PrivateKey
	// AlsoSignWith are further keys that sign every checkpoint too: during a
	// key rotation, the old and the new key both sign until every verifier's
	// policy lists the new one.
	AlsoSignWith []ed25519.PrivateKey
	// Policy names the witnesses (with their URLs) and the quorum a
	// checkpoint needs before it is published. Nil or quorum "none" publishes
	// checkpoints signed by the log alone. If the policy lists logs, Key must
	// be one of them.
	Policy *Policy
	// CheckpointInterval is the least time between two published
	// checkpoints (default 1s, at least 100ms). Each one costs a round trip
	// to the witnesses.
	CheckpointInterval time.Duration
	// BatchMaxAge is how long an appended entry may wait for others to share
	// its write (default 100ms).
	BatchMaxAge time.Duration
	// WitnessTimeout bounds one round of cosigning (default 5s).
	WitnessTimeout time.Duration
	// HTTPClient talks to the witnesses (default: a client with a 10s timeout).
	HTTPClient *http.Client
	// Logger gets the archive's and publication watcher's problems (default slog.Default()).
	Logger *slog.Logger
}

// Log is an append-only log being written by this process. Exactly one
// process may append to a directory at a time (Open takes a lock); any
// number may read it through a Reader.
type Log struct {
	*Reader
	cfg      Config
	appender *tessera.Appender
	lr       tessera.LogReader
	shutdown func(context.Context) error
	cancel   context.CancelFunc
	lock     *os.File
	archive  *os.File
	closed   atomic.Bool
	watching sync.WaitGroup

	mu        sync.Mutex
	pubSize   uint64
	pubNote   []byte
	published chan struct{} // closed and replaced whenever pubSize grows
}

// Leaf is one entry of the log with its index.
type Leaf struct {
	Index uint64
	Data  []byte
}

// Open opens the log in cfg.Dir, creating it if the directory holds none. A
// new log publishes a checkpoint of size zero at once, so its witnesses must
// be reachable.
//
// Tessera guarantees that an index, once returned by Append, is durable:
// entries are written in batches, a batch becomes part of the tree only when
// its tiles and the tree state are on disk, and a crash before that loses the
// whole batch (its files are overwritten by the next batch). It does not
// remember across restarts which entries it has seen; see Entries for how a
// sequencer recovers.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, privateDir), 0o750); err != nil {
		return nil, err
	}
	if cp, err := os.ReadFile(filepath.Join(cfg.Dir, layout.CheckpointPath)); err == nil {
		if origin, _, _ := bytes.Cut(cp, []byte("\n")); string(origin) != cfg.Origin {
			return nil, fmt.Errorf("目录 %s 中的日志来源是 %q 而非 %q / the log in %s has origin %q, not %q", cfg.Dir, origin, cfg.Origin, cfg.Dir, origin, cfg.Origin)
		}
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	l := &Log{Reader: NewReader(cfg.Dir), cfg: cfg, lock: lock, published: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			l.release()
		}
	}()
	if l.archive, err = l.openArchive(); err != nil {
		return nil, err
	}
	opts, err := cfg.appendOptions()
	if err != nil {
		return nil, err
	}
	driver, err := posix.New(ctx, posix.Config{Path: cfg.Dir, HTTPClient: cfg.HTTPClient})
	if err != nil {
		return nil, err
	}
	// Tessera's background work (batching, integration, publication,
	// witnessing) lives as long as the log, not as long as Open's caller.
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.cancel = cancel
	l.appender, l.shutdown, l.lr, err = tessera.NewAppender(bg, driver, opts)
	if err != nil {
		return nil, fmt.Errorf("打开日志失败 / opening the log: %w", err)
	}
	l.watch() // pick up the current checkpoint before returning
	l.watching.Add(1)
	go func() {
		defer l.watching.Done()
		t := time.NewTicker(watchInterval)
		defer t.Stop()
		for {
			select {
			case <-bg.Done():
				return
			case <-t.C:
				l.watch()
			}
		}
	}()
	ok = true
	return l, nil
}

// watchInterval is how often the log looks for a newly published checkpoint
// (to archive it and wake AwaitPublished).
const watchInterval = 100 * time.Millisecond

// shutdownTimeout bounds how long Close waits for the last checkpoint.
const shutdownTimeout = 30 * time.Second

// antispamEntries sizes tessera's in-memory duplicate filter: within one
// process, appending the same bytes again (a retry after a timeout, say)
// returns the first index instead of logging them twice.
const antispamEntries = 1 << 16

func (cfg *Config) defaults() error {
	if cfg.Dir == "" || cfg.Origin == "" || !validNoteName(cfg.Origin) {
		return fmt.Errorf("日志需要目录和有效的来源名称 / a log needs a directory and a valid origin, got %q", cfg.Origin)
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return fmt.Errorf("日志签名密钥无效 / invalid log signing key")
	}
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = time.Second
	}
	if cfg.BatchMaxAge == 0 {
		cfg.BatchMaxAge = 100 * time.Millisecond
	}
	if cfg.WitnessTimeout == 0 {
		cfg.WitnessTimeout = 5 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if p := cfg.Policy; p != nil {
		if err := p.Validate(); err != nil {
			return err
		}
		if len(p.Logs) > 0 {
			vkey := p.LogKey(cfg.Key.Public().(ed25519.PublicKey))
			if vkey == "" || vkeyName(vkey) != cfg.Origin {
				return fmt.Errorf("%w: 策略不信任本日志的密钥 / the policy does not list this log's key for origin %q", ErrMalformedPolicy, cfg.Origin)
			}
		}
	}
	return nil
}

func (cfg *Config) appendOptions() (*tessera.AppendOptions, error) {
	signer, err := NewSigner(cfg.Origin, cfg.Key)
	if err != nil {
		return nil, err
	}
	var also []note.Signer
	for _, k := range cfg.AlsoSignWith {
		s, err := NewSigner(cfg.Origin, k)
		if err != nil {
			return nil, err
		}
		also = append(also, s)
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer, also...).
		WithCheckpointInterval(cfg.CheckpointInterval).
		WithBatching(tessera.DefaultBatchMaxSize, cfg.BatchMaxAge).
		WithAntispam(antispamEntries, nil).
		WithShutdownTimeout(shutdownTimeout)
	if p := cfg.Policy; p != nil && p.Quorum != QuorumNone {
		text, err := p.tesseraText()
		if err != nil {
			return nil, err
		}
		group, err := tessera.NewWitnessGroupFromPolicy(text)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformedPolicy, err)
		}
		// FailOpen stays false: a checkpoint without its quorum is never
		// published, however long the witnesses are away.
		opts.WithWitnesses(group, &tessera.WitnessOptions{Timeout: cfg.WitnessTimeout})
	}
	return opts, nil
}

// Append adds one canonical entry (see Entry.Encode) and returns its index
// once tessera has durably sequenced and integrated it. It is not yet in a
// published checkpoint: see AwaitPublished.
func (l *Log) Append(ctx context.Context, entry []byte) (uint64, error) {
	idx, err := l.AppendBatch(ctx, [][]byte{entry})
	if err != nil {
		return 0, err
	}
	return idx[0], nil
}

// AppendBatch adds entries in order and returns their indexes. All entries
// are checked before any is added. Adding many at once is what makes a
// roster fast: tessera writes up to 256 entries per batch.
//
// An error other than a malformed entry leaves it unknown which entries were
// sequenced (some may be, even when ctx was cancelled): the caller must not
// simply append them again but reconcile through Entries first.
func (l *Log) AppendBatch(ctx context.Context, entries [][]byte) ([]uint64, error) {
	for _, e := range entries {
		if _, err := DecodeEntry(e); err != nil {
			return nil, err
		}
	}
	if l.closed.Load() {
		return nil, ErrClosed
	}
	futures := make([]tessera.IndexFuture, len(entries))
	for i, e := range entries {
		futures[i] = l.appender.Add(ctx, tessera.NewEntry(e))
	}
	// A future blocks without a context; wait for them aside so that a
	// cancelled caller gets its answer.
	type result struct {
		idx []uint64
		err error
	}
	done := make(chan result, 1)
	go func() {
		idx := make([]uint64, len(futures))
		for i, f := range futures {
			x, err := f()
			if err != nil {
				done <- result{err: fmt.Errorf("追加日志条目失败 / appending to the log: %w", err)}
				return
			}
			idx[i] = x.Index
		}
		done <- result{idx: idx}
	}()
	select {
	case r := <-done:
		return r.idx, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// AwaitPublished waits until a published (and so cosigned) checkpoint covers
// index, and returns that checkpoint.
func (l *Log) AwaitPublished(ctx context.Context, index uint64) ([]byte, error) {
	for {
		l.mu.Lock()
		size, note, ch := l.pubSize, l.pubNote, l.published
		l.mu.Unlock()
		if size > index {
			return note, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// IntegratedSize is the number of entries durably in the tree, published or
// not. Only the sequencer should use it (to recover); everyone else reads the
// published checkpoint.
func (l *Log) IntegratedSize(ctx context.Context) (uint64, error) {
	return l.lr.IntegratedSize(ctx)
}

// Entries yields the integrated entries from index from on, in order.
//
// It is how the sequencer learns, after a crash, which outbox rows reached
// the log: every outbox row without a recorded index whose bytes appear here
// was appended (record the index shown), every other one was not (append it).
// Start from the highest index already recorded plus one. Entries are unique
// (each commits to a distinct record or event), so matching by bytes (or by
// their SHA-256) is exact, and it does not depend on the order in which
// concurrent transactions committed their outbox rows.
func (l *Log) Entries(ctx context.Context, from uint64) iter.Seq2[Leaf, error] {
	return func(yield func(Leaf, error) bool) {
		size, err := l.lr.IntegratedSize(ctx)
		if err != nil {
			yield(Leaf{}, err)
			return
		}
		for ri := range layout.Range(from, size-min(from, size), size) {
			raw, err := l.lr.ReadEntryBundle(ctx, ri.Index, ri.Partial)
			var b api.EntryBundle
			if err == nil {
				err = b.UnmarshalText(raw)
			}
			if err == nil && uint(len(b.Entries)) < ri.First+ri.N {
				err = fmt.Errorf("%w: entry bundle %d is short", ErrFilesMismatch, ri.Index)
			}
			if err != nil {
				yield(Leaf{}, err)
				return
			}
			for i := ri.First; i < ri.First+ri.N; i++ {
				if !yield(Leaf{Index: ri.Index*layout.EntryBundleWidth + uint64(i), Data: b.Entries[i]}, nil) {
					return
				}
			}
		}
	}
}

// Close waits (at most 30s, or until ctx ends) for a published checkpoint to
// cover every entry appended through this Log, then stops the log and
// releases the directory. Entries not yet published when Close gives up are
// still in the log and get published by the next Open.
func (l *Log) Close(ctx context.Context) error {
	if l.closed.Swap(true) {
		return nil
	}
	err := l.shutdown(ctx)
	l.cancel()
	l.watching.Wait()
	l.release()
	if err != nil {
		return fmt.Errorf("关闭日志时仍有条目未发布 / closing the log before everything was published: %w", err)
	}
	return nil
}

func (l *Log) release() {
	if l.cancel != nil {
		l.cancel()
	}
	if l.archive != nil {
		_ = l.archive.Close() // written with Sync after each record
	}
	if l.lock != nil {
		_ = l.lock.Close() // closing the descriptor drops the flock
	}
}

// watch reads the published checkpoint; when it grew, it archives it and
// wakes AwaitPublished.
func (l *Log) watch() {
	cp, err := os.ReadFile(filepath.Join(l.cfg.Dir, layout.CheckpointPath))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			l.cfg.Logger.Warn("tlog: reading the checkpoint", "error", err)
		}
		return
	}
	size, ok := checkpointSize(cp)
	if !ok {
		l.cfg.Logger.Warn("tlog: the published checkpoint does not parse")
		return
	}
	l.Reader.notePublished(size)
	l.mu.Lock()
	grew := size > l.pubSize || l.pubNote == nil
	if grew {
		l.pubSize, l.pubNote = size, cp
	}
	l.mu.Unlock()
	if !grew {
		return
	}
	if err := l.appendArchive(size, cp); err != nil {
		l.cfg.Logger.Error("tlog: archiving a checkpoint", "size", size, "error", err)
	}
	l.mu.Lock()
	close(l.published)
	l.published = make(chan struct{})
	l.mu.Unlock()
}

// lockDir takes an exclusive, non-blocking flock on <dir>/.certd/lock. The
// kernel drops it when the process dies, so a crash never leaves it stale.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, privateDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600) // #nosec G304 -- the operator's configured log directory
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLogInUse
		}
		return nil, err
	}
	return f, nil
}
