package fault_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"certd/issuer/fault"
)

func TestKindAndCauseThroughWrapping(t *testing.T) {
	e := &fault.Error{Kind: fault.Conflict, Code: "not_valid", Zh: "证书已撤销", En: "the certificate is revoked", Err: io.ErrUnexpectedEOF}
	wrapped := fmt.Errorf("revoke: %w", e)
	for _, k := range []fault.Kind{fault.NotFound, fault.Invalid, fault.Conflict, fault.Forbidden, fault.Unavailable} {
		if got := errors.Is(wrapped, k); got != (k == fault.Conflict) {
			t.Errorf("errors.Is(err, %v) = %v", k, got)
		}
	}
	if !errors.Is(wrapped, io.ErrUnexpectedEOF) {
		t.Error("the cause is not reachable through errors.Is")
	}
	got, ok := fault.As(wrapped)
	if !ok || got != e {
		t.Fatalf("As = %v, %v", got, ok)
	}
	if _, ok := fault.As(io.EOF); ok {
		t.Error("As found a *Error in a plain error")
	}
}

func TestErrorfFormatsBothHalves(t *testing.T) {
	e := fault.Errorf(fault.Invalid, "id_length", "身份证号码应为18位，实际为%d位", "must have 18 characters, got %d", 17)
	if e.Zh != "身份证号码应为18位，实际为17位" || e.En != "must have 18 characters, got 17" || e.Code != "id_length" || e.Kind != fault.Invalid {
		t.Fatalf("Errorf = %+v", e)
	}
	// Logs get both halves, Chinese first; the cause is not in the text.
	e.Err = errors.New("secret detail")
	if e.Error() != "身份证号码应为18位，实际为17位 / must have 18 characters, got 17" {
		t.Fatalf("Error() = %q", e.Error())
	}
}

// A log line carries the cause, which the message a person reads does not.
func TestLogValueCarriesTheCause(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	e := &fault.Error{Kind: fault.Unavailable, Code: "db", Zh: "数据库不可用", En: "the database is unavailable", Err: errors.New("dial tcp: connection refused")}
	log.Error("issue failed", "error", error(e))
	for _, want := range []string{"error.code=db", "connection refused", "数据库不可用"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log line lacks %q: %s", want, buf.String())
		}
	}
	if strings.Contains(e.Error(), "connection refused") {
		t.Error("the cause leaked into the message")
	}
}
