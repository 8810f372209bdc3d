package deploy

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"certd/issuer"
	"certd/issuer/ident"
	"certd/issuer/keys"
	"certd/issuer/store/postgres"
	"certd/issuer/store/postgres/pgtest"
)

// TestClusterUnderFaults runs certd as a provincial deployment would, all
// on loopback: a PostgreSQL primary and streaming replica, a Redis, three
// certd processes reading from the replica, and HAProxy in front. An
// open-loop load (a fixed request rate, whatever the answers' latency)
// verifies random certificates through HAProxy while certificates are
// revoked throughout, and each phase injects one fault: kill -9 an instance
// and restart it; restart all three in turn; stop Redis and start it;
// pause the replica's replay for 10 s; restart PostgreSQL. A verdict of
// valid for a certificate more than 1 s after its revocation committed is
// a wrong verdict, and there must be none. The figures are in
// docs/operations.md (set CERTD_CLUSTER_REPORT=FILE to write the table).
func TestClusterUnderFaults(t *testing.T) {
	haproxy := lookPathOrFail(t, "haproxy")
	redisServer := lookPathOrFail(t, "redis-server")
	pg := pgtest.NewCluster(t)
	dir := t.TempDir()
	bin := buildCertd(t, dir)
	kek := hex.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	// The deployment's public address: what its QR codes carry (never a
	// loopback address outside the demo); nothing here fetches it.
	env := append(os.Environ(), "CERTD_KEK="+kek, "CERTD_LOG_LEVEL=error", "CERTD_METRICS_ADDR=", "CERTD_RATE_LIMIT=-1",
		"CERTD_PUBLIC_URL=https://cert.example.edu.cn",
		// One data directory for the deployment (a shared volume): the
		// public log, which whichever instance holds the sequencer's lock
		// writes and every instance serves, and its local witness.
		"CERTD_DATA="+filepath.Join(dir, "shared"))

	// The register: the authority, one college, 400 certificates.
	certd := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--database-url", pg.PrimaryURL)...) // #nosec G204 -- the test's own binary
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("certd %s: %v\n%s\n%s", strings.Join(args, " "), err, out, stderr.String())
		}
		return out
	}
	certd("init")
	certd("institution", "add", "../cmd/certd/testdata/institution.yaml")
	var rep struct{ Numbers []string }
	if err := json.Unmarshal(certd("issue", "--institution", "jlvtc", "--roster", writeRoster(t, dir, 400), "--no-pdf", "--json"), &rep); err != nil || len(rep.Numbers) != 400 {
		t.Fatalf("issue: %v (%d numbers)", err, len(rep.Numbers))
	}
	nums := rep.Numbers

	redisPort := freePort(t)
	redis := &proc{t: t, name: "redis", argv: []string{redisServer, "--port", redisPort, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}}
	redis.start()
	t.Cleanup(redis.kill)
	waitTCP(t, "127.0.0.1:"+redisPort)

	front := freePort(t)
	var instances []*proc
	for i := range 3 {
		port := freePort(t)
		p := &proc{t: t, name: fmt.Sprintf("certd-%d", i+1), env: env, ready: "http://127.0.0.1:" + port + "/readyz",
			argv: []string{bin, "serve", "--addr", "127.0.0.1:" + port,
				"--database-url", pg.PrimaryURL, "--database-replica-url", pg.ReplicaURL, "--redis-url", "redis://127.0.0.1:" + redisPort + "/0",
				"--trusted-proxies", "127.0.0.1"}}
		p.start()
		t.Cleanup(p.kill)
		instances = append(instances, p)
	}
	for _, p := range instances {
		p.waitReady()
	}

	lb := &proc{t: t, name: "haproxy", argv: []string{haproxy, "-db", "-f", writeHAProxy(t, dir, front, instances)}}
	lb.start()
	t.Cleanup(lb.kill)
	base := "http://127.0.0.1:" + front
	waitHTTP(t, base+"/readyz")

	// Revocations throughout, made on the primary as the console would.
	st, err := postgres.Open(context.Background(), pg.PrimaryURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	k, _ := keys.ParseKEK([]byte(kek))
	iss := issuer.New(st, k)
	rv := &revoker{at: map[string]time.Time{}}
	stopRevoking := make(chan struct{})
	var revoking sync.WaitGroup
	revoking.Add(1)
	go func() {
		defer revoking.Done()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		next := 0
		for next < len(nums) {
			select {
			case <-stopRevoking:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := iss.Revoke(ctx, issuer.Actor{Name: "test", Authority: true}, nums[next], issuer.ReasonError, "fault test")
			cancel()
			if err == nil {
				rv.done(nums[next], time.Now())
				next++
			}
		}
	}()

	const rate = 150 // requests per second, open loop
	phases := []struct {
		name  string
		dur   time.Duration
		fault func()
	}{
		{"no fault", 8 * time.Second, func() {}},
		{"kill -9 one instance, restart it", 12 * time.Second, func() {
			time.Sleep(2 * time.Second)
			instances[0].kill()
			time.Sleep(2 * time.Second)
			instances[0].start()
			instances[0].waitReady()
		}},
		{"rolling restart of all three", 20 * time.Second, func() {
			time.Sleep(time.Second)
			for _, p := range instances {
				p.stop()
				p.start()
				p.waitReady()
				time.Sleep(time.Second)
			}
		}},
		{"Redis stopped 5 s, started", 12 * time.Second, func() {
			time.Sleep(2 * time.Second)
			redis.stop()
			time.Sleep(5 * time.Second)
			redis.start()
		}},
		{"replica replay paused 10 s", 14 * time.Second, func() {
			time.Sleep(time.Second)
			pg.PauseReplay()
			time.Sleep(10 * time.Second)
			pg.ResumeReplay()
		}},
		{"PostgreSQL primary restarted", 14 * time.Second, func() {
			time.Sleep(2 * time.Second)
			pg.RestartPrimary()
		}},
	}

	var table strings.Builder
	table.WriteString("| fault | requests | errors | revoked answers | stale answers | p50 | p99 | p99.9 | max | wrong verdicts |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	totalWrong := 0
	for _, ph := range phases {
		res := attack(t, base, nums, rate, ph.dur, ph.fault)
		var m vegeta.Metrics
		errs, stale, revoked, wrong := 0, 0, 0, 0
		for _, r := range res {
			m.Add(r)
			if r.Code != http.StatusOK || r.Error != "" {
				errs++
				continue
			}
			switch {
			case bytes.Contains(r.Body, []byte(`"verdict":"stale"`)):
				stale++
			case bytes.Contains(r.Body, []byte(`"verdict":"revoked"`)):
				revoked++
			case bytes.Contains(r.Body, []byte(`"verdict":"valid"`)):
				n := r.URL[strings.LastIndexByte(r.URL, '/')+1:]
				if at, ok := rv.when(n); ok && r.Timestamp.After(at.Add(time.Second)) {
					wrong++
					t.Errorf("%s: %s answered valid at %s, %s after its revocation", ph.name, n, r.Timestamp.Format("15:04:05.000"), r.Timestamp.Sub(at))
				}
			}
		}
		m.Close()
		totalWrong += wrong
		fmt.Fprintf(&table, "| %s | %d | %d | %d | %d | %s | %s | %s | %s | %d |\n", ph.name, len(res), errs, revoked, stale,
			ms(m.Latencies.P50), ms(m.Latencies.P99), ms(m.Latencies.Quantile(0.999)), ms(m.Latencies.Max), wrong)
		if ph.name == "no fault" && errs > 0 {
			t.Errorf("%d errors without any fault", errs)
		}
	}
	close(stopRevoking)
	revoking.Wait()
	fmt.Fprintf(&table, "\n%d revocations during the run; load %d requests/s open loop through HAProxy to 3 instances.\n", rv.count(), rate)
	t.Logf("\n%s", table.String())
	if f := os.Getenv("CERTD_CLUSTER_REPORT"); f != "" {
		_ = os.WriteFile(f, []byte(table.String()), 0o600)
	}
	if rv.count() < 100 {
		t.Errorf("only %d revocations were made during the run", rv.count())
	}
	if totalWrong != 0 {
		t.Errorf("%d wrong verdicts", totalWrong)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// attack sends GET /api/v1/certificates/N for random N at a fixed rate for
// d while fault runs, and returns every result.
func attack(t *testing.T, base string, nums []string, rate int, d time.Duration, fault func()) []*vegeta.Result {
	t.Helper()
	tr := func(tgt *vegeta.Target) error {
		tgt.Method = http.MethodGet
		tgt.URL = base + "/api/v1/certificates/" + nums[rand.IntN(len(nums))] // #nosec G404 -- test load
		return nil
	}
	a := vegeta.NewAttacker(vegeta.Timeout(10*time.Second), vegeta.KeepAlive(true), vegeta.Connections(64), vegeta.MaxBody(4<<10))
	done := make(chan struct{})
	go func() { fault(); close(done) }()
	var res []*vegeta.Result
	for r := range a.Attack(tr, vegeta.Rate{Freq: rate, Per: time.Second}, d, "") {
		res = append(res, r)
	}
	<-done
	return res
}

// revoker keeps when each revocation committed.
type revoker struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (r *revoker) done(n string, at time.Time) {
	r.mu.Lock()
	r.at[n] = at
	r.mu.Unlock()
}

func (r *revoker) when(n string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.at[n]
	return at, ok
}

func (r *revoker) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.at)
}

// proc is a server process the test starts, stops and kills.
type proc struct {
	t     *testing.T
	name  string
	argv  []string
	env   []string
	ready string // URL answering 200 when ready
	mu    sync.Mutex
	cmd   *exec.Cmd
	out   bytes.Buffer
	exit  chan struct{}
}

func (p *proc) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := exec.Command(p.argv[0], p.argv[1:]...) // #nosec G204 -- the test's own servers
	if p.env != nil {
		cmd.Env = p.env
	}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	exit := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exit) }()
	p.cmd, p.exit = cmd, exit
}

// stop sends SIGTERM and waits for the exit: a graceful stop.
func (p *proc) stop() { p.signal(syscall.SIGTERM) }

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() { p.signal(syscall.SIGKILL) }

func (p *proc) signal(s syscall.Signal) {
	p.mu.Lock()
	cmd, exit := p.cmd, p.exit
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(s)
	select {
	case <-exit:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exit
	}
}

func (p *proc) waitReady() {
	p.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.ready) // #nosec G107 -- the test's own server
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("%s not ready in 30 s:\n%s", p.name, p.out.String())
}

func waitTCP(t *testing.T, addr string) {
	t.Helper()
	for range 200 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never accepted a connection", addr)
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	for range 400 {
		if resp, err := http.Get(url); err == nil { // #nosec G107 -- the test's own server
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%s never answered 200", url)
}

// writeHAProxy is the deployment's proxy logic (deploy/haproxy.cfg) with
// faster health checks and loopback addresses.
func writeHAProxy(t *testing.T, dir, front string, instances []*proc) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
    maxconn 2000
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
    retry-on conn-failure
frontend www
    bind 127.0.0.1:%s
    http-request set-header X-Forwarded-For %%[src]
    default_backend certd
backend certd
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server check inter 200ms fall 2 rise 2
`, front)
	for _, p := range instances {
		addr := strings.TrimSuffix(strings.TrimPrefix(p.ready, "http://"), "/readyz")
		fmt.Fprintf(&b, "    server %s %s\n", p.name, addr)
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func buildCertd(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "certd")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/certd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func writeRoster(t *testing.T, dir string, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("学号,姓名,证件号码,职业编码,等级,考生类别,考核日期,备注\n")
	day := time.Now().AddDate(0, 0, -3).Format("2006/1/2")
	for i := range n {
		id := ident.CompleteResidentID(fmt.Sprintf("2201022004%02d%02d%03d", 1+i%12, 1+i%28, i))
		fmt.Fprintf(&b, "S%04d,学生%s,%s,4-04-05-05,三级/高级工,毕业年度学生,%s,\n", i, strings.Repeat("甲", 1+i%3), id, day)
	}
	p := filepath.Join(dir, "roster.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func lookPathOrFail(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not on PATH; .ci/run installs it", name)
		}
		t.Skipf("%s is not on PATH", name)
	}
	return p
}
