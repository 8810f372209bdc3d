package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"certd/issuer"
	"certd/issuer/store/internal/storeutil"
)

// TestCauseOf: the SQLSTATEs an operator must act on are named; anything
// else (a lost connection, a constraint) is left to the general message.
func TestCauseOf(t *testing.T) {
	tests := []struct {
		code string
		want storeutil.Cause
	}{
		{"53100", storeutil.DiskFull},
		{"25006", storeutil.ReadOnly},
		{"58030", storeutil.DiskIO},
		{"58P01", storeutil.CannotOpen},
		{"XX001", storeutil.Corrupt},
		{"XX002", storeutil.Corrupt},
		{"53200", storeutil.OutOfMemory},
		{"53300", storeutil.TooManyConnections},
		{"57P03", storeutil.NotAccepting},
		{"57P01", storeutil.NotAccepting},
		{"08006", storeutil.NoCause},
		{"23505", storeutil.NoCause},
	}
	for _, tt := range tests {
		pe := &pgconn.PgError{Code: tt.code, Message: "test"}
		if got := causeOf(errors.Join(errors.New("context"), pe)); got != tt.want {
			t.Errorf("SQLSTATE %s: cause %d, want %d", tt.code, got, tt.want)
		}
		if e, ok := issuer.AsError(classify("op", pe)); tt.want != storeutil.NoCause && (!ok || e.Code != tt.want.Code()) {
			t.Errorf("SQLSTATE %s classified as %v", tt.code, e)
		}
	}
	if causeOf(errors.New("connection refused")) != storeutil.NoCause {
		t.Error("a plain error was given a cause")
	}
}
