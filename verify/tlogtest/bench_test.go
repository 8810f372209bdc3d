package tlogtest

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/verify"
	"certd/verify/cache"
	"certd/verify/web"
)

// BenchmarkLogRoster10k issues a 10,000-row roster on SQLite with the log
// on (three loopback witnesses, quorum two, production checkpoint and batch
// settings) and reports the time to commit the roster and the time until
// every entry is in a published, cosigned checkpoint (both from the start
// of the issue). Run with -benchtime 1x.
func BenchmarkLogRoster10k(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		h := newHarnessOf(b, 0, false)
		b.StartTimer()
		start := time.Now()
		if got := h.w.Issue(10_000, 1000); len(got) != 10_000 {
			b.Fatalf("issued %d", len(got))
		}
		issued := time.Since(start)
		h.settled()
		published := time.Since(start)
		b.ReportMetric(issued.Seconds(), "s-to-commit")
		b.ReportMetric(published.Seconds(), "s-to-published")
	}
}

// BenchmarkProofVsPage serves the public routes with the log, and measures,
// in one run, requests per second for a certificate's cached verification
// page and for its tlog-proof (GET /api/v1/certificates/{number}/proof),
// over loopback HTTP with 8 concurrent clients, 3 seconds each.
func BenchmarkProofVsPage(b *testing.B) {
	h := newHarnessOf(b, 200, true)
	h.settled()
	app := fiber.New(fiber.Config{Immutable: true, DisableStartupMessage: true})
	if _, err := web.Mount(app, web.Deps{Store: h.st, PublicURL: "http://verify.test", RateLimit: -1,
		Log: slog.New(slog.DiscardHandler), LogFiles: h.prover.Reader.Public, Proofs: h.prover,
		Options: cache.Options{PublicLog: verify.LogProofs{Prover: h.prover, Policy: h.public}}}); err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	defer func() { _ = app.ShutdownWithTimeout(5 * time.Second) }()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	get := func(u string) int {
		resp, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	numbers := make([]string, len(h.w.Certs))
	for i, c := range h.w.Certs {
		numbers[i] = c.Number
		if s := get(base + "/v/" + c.Number); s != 200 { // warm the page cache
			b.Fatalf("page %d", s)
		}
		if s := get(base + "/api/v1/certificates/" + c.Number + "/proof"); s != 200 {
			b.Fatalf("proof %d", s)
		}
	}
	rate := func(path func(n string) string) float64 {
		var done atomic.Int64
		stop := time.Now().Add(3 * time.Second)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := g; time.Now().Before(stop); i++ {
					if s := get(base + path(numbers[i%len(numbers)])); s != 200 {
						b.Errorf("status %d", s)
						return
					}
					done.Add(1)
				}
			})
		}
		wg.Wait()
		return float64(done.Load()) / 3
	}
	b.ResetTimer()
	page := rate(func(n string) string { return "/v/" + n })
	proof := rate(func(n string) string { return "/api/v1/certificates/" + n + "/proof" })
	b.ReportMetric(page, "page-req/s")
	b.ReportMetric(proof, "proof-req/s")
	b.ReportMetric(proof/page, "proof/page")
}
