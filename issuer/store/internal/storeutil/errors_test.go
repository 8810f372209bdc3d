package storeutil

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"certd/issuer"
)

// engineError stands for an engine's error type, which a backend's reader
// recognises.
type engineError struct{ cause Cause }

func (e engineError) Error() string { return fmt.Sprintf("engine error %d", e.cause) }

// TestUnavailableNamesTheCause: a failure whose cause an operator must act
// on says what it is and what to do, under a code of its own; any other
// stays the general "try again later". Each is of kind unavailable, keeps
// the engine's error in its chain for the log, and passes an issuer.Error
// through untouched.
func TestUnavailableNamesTheCause(t *testing.T) {
	RegisterCause(func(err error) Cause {
		var e engineError
		if errors.As(err, &e) {
			return e.cause
		}
		return NoCause
	})
	tests := []struct {
		err    error
		code   string
		zh, en string // in the message
	}{
		{engineError{DiskFull}, "disk_full", "磁盘已满", "free space"},
		{fmt.Errorf("wrapped: %w", engineError{ReadOnly}), "database_read_only", "只读", "read-only"},
		{engineError{DiskIO}, "disk_io_error", "I/O", "I/O error"},
		{engineError{CannotOpen}, "database_cannot_open", "无法打开", "cannot open"},
		{engineError{Corrupt}, "database_corrupt", "损坏", "restore from a backup"},
		{engineError{OutOfMemory}, "database_out_of_memory", "内存不足", "out of memory"},
		{engineError{TooManyConnections}, "database_too_many_connections", "连接数已满", "max_connections"},
		{engineError{NotAccepting}, "database_not_accepting", "正在启动", "starting"},
		{engineError{NoCause}, "database", "稍后重试", "try again later"},
		{errors.New("connection reset by peer"), "database", "稍后重试", "try again later"},
		{context.DeadlineExceeded, "canceled", "超时", "timed out"},
	}
	for _, tt := range tests {
		err := Unavailable("op", tt.err)
		e, ok := issuer.AsError(err)
		if !ok || e.Kind != issuer.ErrUnavailable || e.Code != tt.code || !strings.Contains(e.Zh, tt.zh) || !strings.Contains(e.En, tt.en) {
			t.Errorf("%v: %#v", tt.err, err)
			continue
		}
		if !errors.Is(err, tt.err) || !errors.Is(err, issuer.ErrUnavailable) || !strings.HasPrefix(e.Err.Error(), "op: ") {
			t.Errorf("%v: the cause is not kept for the log: %v", tt.err, e.Err)
		}
	}
	for c := range causes {
		if m := causes[c]; c.Code() == "" || m.zh == "" || m.en == "" || c.Code() == "database" {
			t.Errorf("cause %d: %+v", c, m)
		}
	}
	if own := issuer.Errorf(issuer.ErrConflict, "x", "冲突", "conflict"); Unavailable("op", own) != error(own) {
		t.Error("an issuer.Error was reclassified")
	}
	if Unavailable("op", nil) != nil {
		t.Error("nil became an error")
	}
}
