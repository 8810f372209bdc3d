package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"certd/issuer"
	"certd/issuer/store/postgres"
	"certd/issuer/store/postgres/pgtest"
	"certd/verify/cache"
	"certd/verify/internal/verifytest"
)

// pgProxy is a TCP proxy between one instance and PostgreSQL (toxiproxy,
// in process) that the test can freeze and cut.
type pgProxy struct {
	p *toxiproxy.Proxy
}

func newPGProxy(t *testing.T, upstream string) *pgProxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "postgres", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return &pgProxy{p: p}
}

// freeze stops every byte in both directions without closing anything: to
// the instance, the database has stopped answering.
func (x *pgProxy) freeze(t *testing.T) {
	t.Helper()
	for _, dir := range []string{"upstream", "downstream"} {
		if _, err := x.p.Toxics.AddToxicJson(strings.NewReader(`{"name":"freeze-` + dir + `","type":"timeout","stream":"` + dir + `","attributes":{"timeout":0}}`)); err != nil {
			t.Fatal(err)
		}
	}
}

func (x *pgProxy) thaw(t *testing.T) {
	t.Helper()
	for _, dir := range []string{"upstream", "downstream"} {
		if err := x.p.Toxics.RemoveToxic(context.Background(), "freeze-"+dir); err != nil {
			t.Fatal(err)
		}
	}
}

// kill closes every connection and refuses new ones.
func (x *pgProxy) kill(*testing.T) { x.p.Stop() }

func (x *pgProxy) restore(t *testing.T) {
	t.Helper()
	if err := x.p.Start(); err != nil {
		t.Fatal(err)
	}
}

// viaProxy is the database URL u with its host replaced by the proxy's.
func viaProxy(t *testing.T, u string, x *pgProxy) string {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	pu.Host = x.p.Listen
	return pu.String()
}

// answer is one verdict an instance gave, with when it was asked.
type answer struct {
	asked   time.Time
	path    string
	verdict string // the API's verdict, the page's verdict class, or "503", "error"
}

// promise is the design's bound: a revocation is answered everywhere
// within a second.
const promise = time.Second

var verdictClass = []string{"valid", "revoked", "superseded", "invalid", "not_found", "unknown", "stale"}

// ask asks base for number's verdict, through the API or the page.
func ask(client *http.Client, base, path string) string {
	resp, err := client.Get(base + path)
	if err != nil {
		return "error"
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusServiceUnavailable {
		return "503"
	}
	if strings.HasPrefix(path, "/api/") {
		var v struct {
			Verdict string `json:"verdict"`
		}
		if json.Unmarshal(b, &v) != nil || v.Verdict == "" {
			return "error"
		}
		return v.Verdict
	}
	for _, v := range verdictClass {
		if strings.Contains(string(b), `class="verdict v-`+v+`"`) {
			return v
		}
	}
	return "error"
}

// probe asks base for number every 50 ms for d, through the API and the
// page in turn, each request on its own (open loop: a request held by a
// frozen database does not delay the next), and returns every answer.
func probe(client *http.Client, base, number string, d time.Duration) []answer {
	var (
		mu  sync.Mutex
		out []answer
		wg  sync.WaitGroup
	)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(d)
	for i := 0; time.Now().Before(end); i++ {
		path := "/api/v1/certificates/" + number
		if i%2 == 1 {
			path = "/v/" + number
		}
		wg.Add(1)
		go func(asked time.Time) {
			defer wg.Done()
			v := ask(client, base, path)
			mu.Lock()
			out = append(out, answer{asked: asked, path: path, verdict: v})
			mu.Unlock()
		}(time.Now())
		<-tick.C
	}
	wg.Wait()
	return out
}

// wrongVerdicts counts the answers "valid" asked for more than a second
// after since: a revocation committed before since, or the instance's
// database cut off at since, and so a view nobody can vouch for.
func wrongVerdicts(as []answer, since time.Time) (wrong int, tally map[string]int) {
	tally = map[string]int{}
	for _, a := range as {
		tally[a.verdict]++
		if a.verdict == "valid" && a.asked.Sub(since) > promise {
			wrong++
		}
	}
	return wrong, tally
}

// TestPartitionNeverValid: two instances on one PostgreSQL; A reaches it
// through a proxy. After a revocation made through B's store, A's database
// connection is frozen 25 ms later, or killed: A must never say "valid"
// more than a second after the revocation (it says it cannot confirm the
// current status instead), and says "revoked" once its database is back.
// The rule is asserted, not how fast anything happens: an answer counts as
// wrong only if it was asked for more than a second after Revoke returned.
func TestPartitionNeverValid(t *testing.T) {
	base := pgtest.URL(t)
	ctx := context.Background()
	stB, err := postgres.Open(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stB.Close() })
	w := verifytest.NewWorld(t, stB, 3)
	pu, _ := url.Parse(base)
	px := newPGProxy(t, pu.Host)
	stA, err := postgres.Open(ctx, viaProxy(t, base, px))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stA.Close() })
	client := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	// Production's poll interval, not the fixture's.
	o := cache.Options{Poll: 200 * time.Millisecond}
	a := newApp(t, stA, Deps{Options: o})
	b := newApp(t, stB, Deps{Options: o})
	aURL, bURL := a.listen(t), b.listen(t)

	for i, fault := range []struct {
		name      string
		cut, heal func(*testing.T)
	}{
		{"frozen", px.freeze, px.thaw},
		{"killed", px.kill, px.restore},
	} {
		t.Run(fault.name, func(t *testing.T) {
			n := w.Certs[i].Number
			api := "/api/v1/certificates/" + n
			for _, base := range []string{aURL, bURL} {
				for range 2 {
					if v := ask(client, base, api); v != "valid" {
						t.Fatalf("before the revocation %s says %s", base, v)
					}
					_ = ask(client, base, "/v/"+n)
				}
			}
			if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, n, issuer.ReasonMisconduct, "考核舞弊"); err != nil {
				t.Fatal(err)
			}
			revoked := time.Now()
			time.Sleep(25 * time.Millisecond)
			fault.cut(t)
			answers := probe(client, aURL, n, 6*time.Second-time.Since(revoked))
			verifytest.Eventually(t, 10*time.Second, "B says revoked", func() bool { return ask(client, bURL, api) == "revoked" })
			fault.heal(t)
			verifytest.Eventually(t, 30*time.Second, "A says revoked once its database is back", func() bool {
				return ask(client, aURL, api) == "revoked" && ask(client, aURL, "/v/"+n) == "revoked"
			})
			wrong, tally := wrongVerdicts(answers, revoked)
			t.Logf("database %s: %d answers from A over 6 s: %v; wrong verdicts (valid more than %v after the revocation): %d",
				fault.name, len(answers), tally, promise, wrong)
			if wrong > 0 {
				t.Errorf("A said valid %d times more than %v after the revocation", wrong, promise)
			}
		})
	}

	// A view in Redis, written there by B, must not make A say "valid"
	// while A's database is cut off and A cannot know whether it changed.
	t.Run("redis", func(t *testing.T) {
		rurl := verifytest.RedisURL(t)
		prefix := "certd-test-" + verifytest.RandHex() + ":"
		ra := newApp(t, stA, Deps{RedisURL: rurl, RedisPrefix: prefix, Options: o})
		rb := newApp(t, stB, Deps{RedisURL: rurl, RedisPrefix: prefix, Options: o})
		raURL, rbURL := ra.listen(t), rb.listen(t)
		n := w.Certs[2].Number
		// The second use of a view writes it to Redis.
		for range 2 {
			if v := ask(client, rbURL, "/api/v1/certificates/"+n); v != "valid" {
				t.Fatalf("B says %s", v)
			}
		}
		ropt, err := redis.ParseURL(rurl)
		if err != nil {
			t.Fatal(err)
		}
		rdb := redis.NewClient(ropt)
		defer rdb.Close()
		verifytest.Eventually(t, 10*time.Second, "B's view in Redis", func() bool {
			keys, _ := rdb.Keys(ctx, prefix+"v:*"+n).Result()
			return len(keys) == 1
		})
		px.kill(t)
		cut := time.Now()
		answers := probe(client, raURL, n, 4*time.Second)
		resp, err := client.Get(raURL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		ready, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		px.restore(t)
		wrong, tally := wrongVerdicts(answers, cut)
		t.Logf("database cut, view in Redis: %d answers from A over 4 s: %v; wrong verdicts (valid more than %v after the cut): %d",
			len(answers), tally, promise, wrong)
		if wrong > 0 {
			t.Errorf("A said valid from Redis %d times more than %v after its database was cut", wrong, promise)
		}
		// Stale, not unavailable: the view did come from Redis.
		if tally["stale"] == 0 {
			t.Errorf("A never answered from Redis that it cannot confirm the status: %v", tally)
		}
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(ready), "stale") {
			t.Errorf("readyz 4 s into the cut: %d %s", resp.StatusCode, ready)
		}
		verifytest.Eventually(t, 30*time.Second, "A ready once its database is back", func() bool {
			resp, err := client.Get(raURL + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	})
}
