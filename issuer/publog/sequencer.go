package publog

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"certd/issuer"
	"certd/issuer/tlog"
)

// Sequencer drains the outbox into the log: exactly one runs per
// deployment (Run takes the store's sequencer lock, and tlog.Open the log
// directory's), and every committed row reaches the log exactly once, even
// when the process dies between appending and recording the index.
//
// How: rows are appended in ID order, a batch at a time, and the indexes of
// a batch are recorded in one transaction. Before appending anything, and
// after any failure, Recover reads the entries the log holds beyond the
// highest recorded index and records them on the pending rows with the same
// bytes (entries are unique, so the match is exact); only rows not found
// there are appended again.
type Sequencer struct {
	Store issuer.LogStore
	// Open opens the log once the lock is held (tlog.Open with the key and
	// the witnesses).
	Open func(ctx context.Context) (*tlog.Log, error)
	Log  *slog.Logger
	// Poll is how often the outbox is read when nobody calls Notify
	// (default 250ms); Batch how many rows are appended at once (default 1024).
	Poll  time.Duration
	Batch int

	wakeOnce sync.Once
	wake     chan struct{}

	mu  sync.Mutex
	cur *tlog.Log
}

func (s *Sequencer) init() {
	s.wakeOnce.Do(func() { s.wake = make(chan struct{}, 1) })
	if s.Poll == 0 {
		s.Poll = 250 * time.Millisecond
	}
	if s.Batch == 0 {
		s.Batch = 1024
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
}

// Notify says that rows were committed: the sequencer looks at once.
func (s *Sequencer) Notify() {
	s.init()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Current is the log this sequencer has open, or nil (not the holder of the
// lock, or between attempts).
func (s *Sequencer) Current() *tlog.Log {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Run sequences until ctx ends. While another instance holds the lock it
// waits (a standby); when the lock is lost it closes the log and waits again.
func (s *Sequencer) Run(ctx context.Context) error {
	s.init()
	for ctx.Err() == nil {
		lost, release, err := s.Store.LockSequencer(ctx)
		if err != nil {
			if !issuer.Is(err, issuer.ErrConflict) {
				s.Log.Warn("public log: sequencer lock", "error", err)
			}
			sleep(ctx, 5*time.Second)
			continue
		}
		err = s.hold(ctx, lost)
		release()
		if err != nil && ctx.Err() == nil {
			s.Log.Error("public log: sequencer stopped; retrying", "error", err)
			sleep(ctx, 2*time.Second)
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// hold runs the log while the lock is held.
func (s *Sequencer) hold(ctx context.Context, lost <-chan struct{}) error {
	l, err := s.Open(ctx)
	if err != nil {
		return fmt.Errorf("打开公开日志失败 / opening the public log: %w", err)
	}
	s.mu.Lock()
	s.cur = l
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := l.Close(cctx); err != nil {
			s.Log.Warn("public log: closing", "error", err)
		}
	}()
	recovered := false
	t := time.NewTicker(s.Poll)
	defer t.Stop()
	for {
		if !recovered {
			if err := Recover(ctx, s.Store, l, s.Log); err != nil {
				return err
			}
			recovered = true
		}
		if _, err := Drain(ctx, s.Store, l, s.Batch, s.Log); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.Log.Warn("public log: appending failed; reconciling before the next attempt", "error", err)
			recovered = false
			sleep(ctx, time.Second)
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-lost:
			return errors.New("失去了写入锁 / lost the sequencer lock")
		case <-s.wake:
		case <-t.C:
		}
	}
}

// Recover records, on pending outbox rows, the indexes of the entries the
// log already holds beyond the highest recorded index: the batches a
// sequencer appended before it died without recording them. Entries of the
// log with no pending row are reported (the auditor names them).
func Recover(ctx context.Context, st issuer.LogStore, l *tlog.Log, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	max, err := st.MaxLogIndex(ctx)
	if err != nil {
		return err
	}
	size, err := l.IntegratedSize(ctx)
	if err != nil {
		return err
	}
	from := uint64(max + 1) // #nosec G115 -- max >= -1
	if size <= from {
		return nil
	}
	pending := map[[32]byte]int64{}
	after := int64(0)
	for {
		rs, err := st.LogRecords(ctx, issuer.LogFilter{Pending: true, AfterID: after, Limit: 10000})
		if err != nil {
			return err
		}
		for _, r := range rs {
			pending[sha256.Sum256(r.Entry)] = r.ID
			after = r.ID
		}
		if len(rs) < 10000 {
			break
		}
	}
	idx := map[int64]uint64{}
	unknown := 0
	for leaf, err := range l.Entries(ctx, from) {
		if err != nil {
			return err
		}
		id, ok := pending[sha256.Sum256(leaf.Data)]
		if !ok {
			unknown++
			continue
		}
		idx[id] = leaf.Index
		if len(idx) == 1000 {
			if err := st.SetLogIndexes(ctx, idx); err != nil {
				return err
			}
			idx = map[int64]uint64{}
		}
	}
	if unknown > 0 {
		log.Error("public log: entries in the log that no pending outbox row made; run certd log audit", "count", unknown, "from", from)
	}
	if len(idx) > 0 {
		return st.SetLogIndexes(ctx, idx)
	}
	return nil
}

// Test hooks around an append (the crash test kills the process there).
var testHookBeforeAppend, testHookAfterAppend func()

// Drain appends every pending row, a batch at a time, and records the
// indexes; it returns how many were appended. A row whose entry is not a
// canonical entry (nothing certd writes) is left pending and reported.
func Drain(ctx context.Context, st issuer.LogStore, l *tlog.Log, batch int, log *slog.Logger) (int, error) {
	if log == nil {
		log = slog.Default()
	}
	n := 0
	after := int64(0)
	for {
		rs, err := st.LogRecords(ctx, issuer.LogFilter{Pending: true, AfterID: after, Limit: batch})
		if err != nil || len(rs) == 0 {
			return n, err
		}
		after = rs[len(rs)-1].ID
		entries := make([][]byte, 0, len(rs))
		ids := make([]int64, 0, len(rs))
		for _, r := range rs {
			if _, err := tlog.DecodeEntry(r.Entry); err != nil {
				log.Error("public log: outbox row is not a log entry; left pending", "id", r.ID, "error", err)
				continue
			}
			entries = append(entries, r.Entry)
			ids = append(ids, r.ID)
		}
		if len(entries) == 0 {
			continue
		}
		if testHookBeforeAppend != nil {
			testHookBeforeAppend()
		}
		got, err := l.AppendBatch(ctx, entries)
		if err != nil {
			return n, err
		}
		if testHookAfterAppend != nil {
			testHookAfterAppend()
		}
		idx := make(map[int64]uint64, len(got))
		for i, x := range got {
			idx[ids[i]] = x
		}
		if err := st.SetLogIndexes(ctx, idx); err != nil {
			return n, err
		}
		n += len(got)
	}
}
