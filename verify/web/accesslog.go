package web

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// lineBuffer collects whole log lines and writes them out in batches: one
// write per request is a system call per request, which at tens of
// thousands of requests a second costs more than the request itself. A
// line waits at most flushEvery. Batches stay under 4 KiB and end on a line
// boundary, so lines written to a pipe never interleave with other writers.
type lineBuffer struct {
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
	stop chan struct{}
	done chan struct{}
}

const (
	flushEvery = 100 * time.Millisecond
	batchSize  = 4096
)

func newLineBuffer(w io.Writer) *lineBuffer {
	b := &lineBuffer{w: w, buf: make([]byte, 0, batchSize), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				b.flush()
				return
			case <-t.C:
				b.flush()
			}
		}
	}()
	return b
}

// Write takes one complete line (slog handlers write each record at once).
func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > batchSize {
		b.flushLocked()
	}
	if len(p) >= batchSize {
		_, err := b.w.Write(p)
		return len(p), err
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lineBuffer) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *lineBuffer) flushLocked() {
	if len(b.buf) > 0 {
		_, _ = b.w.Write(b.buf)
		b.buf = b.buf[:0]
	}
}

// Close writes what is left.
func (b *lineBuffer) Close() error {
	select {
	case <-b.stop:
	default:
		close(b.stop)
		<-b.done
	}
	return nil
}

// accessHandler is a slog.Handler for the request log that formats the
// few attribute kinds the request line uses straight into a byte slice:
// slog's TextHandler spends more time on a request line than the request
// takes. Output looks like TextHandler's.
type accessHandler struct {
	w    io.Writer
	pool sync.Pool
}

func newAccessHandler(w io.Writer) *accessHandler {
	return &accessHandler{w: w, pool: sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}}
}

func (h *accessHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *accessHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *accessHandler) WithGroup(string) slog.Handler            { return h }

func (h *accessHandler) Handle(_ context.Context, r slog.Record) error {
	bp := h.pool.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, "time="...)
	b = r.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, " level="...)
	b = append(b, r.Level.String()...)
	b = append(b, " msg="...)
	b = appendValue(b, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b = append(b, ' ')
		b = append(b, a.Key...)
		b = append(b, '=')
		switch a.Value.Kind() {
		case slog.KindInt64:
			b = strconv.AppendInt(b, a.Value.Int64(), 10)
		case slog.KindString:
			b = appendValue(b, a.Value.String())
		default:
			b = appendValue(b, a.Value.String())
		}
		return true
	})
	b = append(b, '\n')
	_, err := h.w.Write(b)
	*bp = b
	h.pool.Put(bp)
	return err
}

// appendValue quotes a value the way TextHandler does when it needs it.
func appendValue(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '"' || c == '=' || c >= 0x7f {
			return strconv.AppendQuote(b, s)
		}
	}
	if s == "" {
		return append(b, `""`...)
	}
	return append(b, s...)
}
