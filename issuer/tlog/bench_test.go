package tlog_test

import (
	"context"
	"testing"
	"time"

	"certd/issuer/tlog"
)

// BenchmarkRoster10k appends a 10,000-entry roster to a log with three
// loopback witnesses and a quorum of two, with the production defaults
// (checkpoint every 1s, batches of 256 or 100ms), and reports how fast the
// entries were sequenced and how long until a cosigned checkpoint covered
// the last one. Run: go test -run '^$' -bench Roster10k -benchtime 1x ./issuer/tlog/
func BenchmarkRoster10k(b *testing.B) {
	const n = 10_000
	for b.Loop() {
		b.StopTimer()
		fx := newFixture(b)
		fx.log.Close(context.Background())
		l, err := tlog.Open(context.Background(), tlog.Config{Dir: fx.dir, Origin: origin, Key: fx.key, Policy: fx.policy})
		if err != nil {
			b.Fatal(err)
		}
		entries := allBytes(genEntries(b, 0, n))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		b.StartTimer()

		start := time.Now()
		idx, err := l.AppendBatch(ctx, entries)
		if err != nil {
			b.Fatal(err)
		}
		sequenced := time.Since(start)
		if _, err := l.AwaitPublished(ctx, idx[n-1]); err != nil {
			b.Fatal(err)
		}
		published := time.Since(start)

		b.StopTimer()
		b.ReportMetric(n/sequenced.Seconds(), "entries/s")
		b.ReportMetric(sequenced.Seconds(), "s-to-sequenced")
		b.ReportMetric(published.Seconds(), "s-to-published")
		cancel()
		l.Close(context.Background())
		b.StartTimer()
	}
}
