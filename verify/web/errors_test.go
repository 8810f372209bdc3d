package web

import (
	"testing"

	"certd/issuer"
	"certd/verify"
	"certd/verify/cache"
)

// TestStatusOf: every error the public routes answer with gets its status
// from its kind, or from its code where the kind alone does not say it.
func TestStatusOf(t *testing.T) {
	tests := []struct {
		err  *issuer.Error
		want int
	}{
		{errBadCode, 400},
		{verify.ErrInputTooLong, 400},
		{verify.ErrNoRecord, 400},
		{errSheetFormat, 400},
		{errNoInstitution, 404},
		{issuer.Errorf(issuer.ErrConflict, "clash", "冲突", "conflict"), 409},
		{issuer.Errorf(issuer.ErrForbidden, "not_yours", "无权", "forbidden"), 403},
		{errTokenTooLarge, 413},
		{errRequestTooLarge, 413},
		{errSheetTooLarge, 413},
		{verify.ErrPDFTooLarge, 413},
		{errMediaType, 415},
		{errRateLimited, 429},
		{errClientLimited, 429}, {errGuessing, 429},
		{cache.ErrUnavailable, 503},
		{errInternal, 500},
	}
	for _, tt := range tests {
		if got := statusOf(tt.err); got != tt.want {
			t.Errorf("%s (%s): %d, want %d", tt.err.Code, tt.err.En, got, tt.want)
		}
	}
}
