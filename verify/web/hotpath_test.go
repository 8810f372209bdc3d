package web

import (
	"io"
	"testing"

	"github.com/valyala/fasthttp"

	"certd/verify/internal/verifytest"
)

// TestCachedHitAllocations: a cached /v/NUMBER and
// /api/v1/certificates/NUMBER answer allocates no more than it did.
func TestCachedHitAllocations(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	a := newApp(t, w.Store, Deps{RateLimit: 1 << 30, AccessLog: io.Discard})
	h := a.app.Handler()
	c := w.Certs[0]
	// The bounds are what each answer cost when this test was written
	// (with the rate limiter on, as in production). Security work on the
	// public side must not make the scan of a QR code dearer: raise one
	// only with a reason.
	for _, tc := range []struct {
		target    string
		maxAllocs float64
	}{
		{"/v/" + c.Number, 9},
		{"/v/" + c.Number + "?c=" + c.VerifyCode, 12},
		{"/api/v1/certificates/" + c.Number, 10},
	} {
		target := tc.target
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(target)
		ctx.Request.Header.SetMethod("GET")
		run := func() {
			ctx.Response.Reset()
			h(&ctx)
		}
		run() // fill the cache
		run()
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("%s: status %d", target, ctx.Response.StatusCode())
		}
		n := testing.AllocsPerRun(200, run)
		t.Logf("%s: %.1f allocations", target, n)
		if !raceEnabled && n > tc.maxAllocs {
			t.Errorf("%s: %.1f allocations per cached hit, want at most %.0f", target, n, tc.maxAllocs)
		}
	}
}
