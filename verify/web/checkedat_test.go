package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"regexp"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"certd/issuer"
	"certd/verify/cache"
	"certd/verify/internal/verifytest"
)

var checkedAt = regexp.MustCompile(`class="checked-now">([0-9: -]{19})<`)

// The page says when it was viewed, not when its cached form was rendered,
// in both its plain and its gzip form, and its ETag changes with the second
// so that a revalidating browser is not told an old time is current.
func TestCheckedAtIsTheTimeOfViewing(t *testing.T) {
	w := verifytest.NewWorld(t, openSQLite(t), 1)
	a := newApp(t, w.Store, Deps{RateLimit: 1 << 30, AccessLog: io.Discard})
	h := a.app.Handler()
	c := w.Certs[0]
	get := func(gz bool) (body []byte, etag string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/v/" + c.Number)
		ctx.Request.Header.SetMethod("GET")
		if gz {
			ctx.Request.Header.Set("Accept-Encoding", "gzip")
		}
		h(&ctx)
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("status %d", ctx.Response.StatusCode())
		}
		body = append([]byte(nil), ctx.Response.Body()...)
		if gz {
			if string(ctx.Response.Header.Peek("Content-Encoding")) != "gzip" {
				t.Fatal("no gzip form")
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil { // checks the CRC and the length
				t.Fatalf("the spliced gzip form does not decode: %v", err)
			}
		}
		return body, string(ctx.Response.Header.Peek("ETag"))
	}
	stampOf := func(body []byte) time.Time {
		m := checkedAt.FindSubmatch(body)
		if m == nil {
			t.Fatalf("no checked-at time on the page")
		}
		at, err := time.ParseInLocation(cache.StampLayout, string(m[1]), issuer.ChinaTime)
		if err != nil {
			t.Fatalf("checked-at %q: %v", m[1], err)
		}
		return at
	}

	first, etag1 := get(false)
	t1 := stampOf(first)
	if d := time.Since(t1); d < 0 || d > 2*time.Second {
		t.Fatalf("checked at %v, %v from now", t1, d)
	}
	time.Sleep(1100 * time.Millisecond) // the cached form stays; the time must not
	plain, etag2 := get(false)
	zipped, etag3 := get(true)
	t2, t3 := stampOf(plain), stampOf(zipped)
	if !t2.After(t1) || t3.Before(t2) {
		t.Fatalf("times %v, %v, %v: the later views show an earlier or the cached time", t1, t2, t3)
	}
	if etag1 == etag2 || etag2 == etag3 {
		t.Fatalf("ETags %s %s %s: must differ by second and by encoding", etag1, etag2, etag3)
	}
	// Apart from the time, the two forms are the one cached page.
	mask := func(b []byte) string { return checkedAt.ReplaceAllString(string(b), "T") }
	if mask(plain) != mask(zipped) || mask(plain) != mask(first) {
		t.Fatal("the page changed apart from its time")
	}
}
