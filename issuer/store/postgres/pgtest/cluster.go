package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a PostgreSQL primary and one streaming replica of the test's
// own, on free loopback ports, stopped and removed when the test ends. The
// machine's shared server is never touched.
type Cluster struct {
	t                  testing.TB
	dir, bin           string
	PrimaryPort        int
	ReplicaPort        int
	PrimaryURL         string // postgres://...:PrimaryPort/postgres
	ReplicaURL         string
	primaryD, replicaD string
}

// NewCluster makes the cluster with initdb and pg_basebackup -R (about
// 5-10 s). Without the PostgreSQL server binaries it fails when CI=true
// and skips otherwise.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := serverBin()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) not found; CI requires them")
		}
		t.Skip("PostgreSQL server binaries not found")
	}
	// The server refuses to run as root; its directories must belong to
	// the user it runs as, and their parents must let it in.
	dir, err := os.MkdirTemp("", "certd-pgcluster-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // #nosec G302 -- the server runs as another user and must enter
		t.Fatal(err)
	}
	c := &Cluster{t: t, dir: dir, bin: bin, primaryD: filepath.Join(dir, "primary"), replicaD: filepath.Join(dir, "replica")}
	t.Cleanup(func() {
		c.pgctl(c.replicaD, "stop", "-m", "immediate")
		c.pgctl(c.primaryD, "stop", "-m", "immediate")
		_ = os.RemoveAll(dir)
	})
	c.chown(dir)
	c.PrimaryPort, c.ReplicaPort = freePort(t), freePort(t)
	c.must("initdb", "-D", c.primaryD, "--auth=trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C")
	c.appendConf(c.primaryD, c.PrimaryPort)
	c.must("pg_ctl", "-D", c.primaryD, "-l", filepath.Join(dir, "primary.log"), "-w", "-t", "60", "start")
	c.must("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(c.PrimaryPort), "-U", "postgres", "-D", c.replicaD, "-R", "-X", "stream", "--no-sync")
	c.appendConf(c.replicaD, c.ReplicaPort)
	c.StartReplica()
	c.PrimaryURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.PrimaryPort)
	c.ReplicaURL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.ReplicaPort)
	return c
}

// StopReplica stops the replica at once (as a crash would).
func (c *Cluster) StopReplica() { c.must("pg_ctl", "-D", c.replicaD, "-m", "immediate", "-w", "stop") }

// StartReplica starts the replica and waits until it accepts connections.
func (c *Cluster) StartReplica() {
	c.must("pg_ctl", "-D", c.replicaD, "-l", filepath.Join(c.dir, "replica.log"), "-w", "-t", "60", "start")
}

// RestartPrimary restarts the primary (fast shutdown) and waits for it.
func (c *Cluster) RestartPrimary() {
	c.must("pg_ctl", "-D", c.primaryD, "-l", filepath.Join(c.dir, "primary.log"), "-m", "fast", "-w", "-t", "60", "restart")
}

// PauseReplay and ResumeReplay stop and restart the replica's replay of
// the primary's WAL: a lagging replica on demand.
func (c *Cluster) PauseReplay()  { c.replicaExec("SELECT pg_wal_replay_pause()") }
func (c *Cluster) ResumeReplay() { c.replicaExec("SELECT pg_wal_replay_resume()") }

func (c *Cluster) replicaExec(q string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.ReplicaURL)
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, q); err != nil {
		c.t.Fatalf("%s: %v", q, err)
	}
}

func (c *Cluster) appendConf(dataDir string, port int) {
	conf := fmt.Sprintf("\nport = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = off\nmax_connections = 50\nshared_buffers = 32MB\n", port, c.dir)
	f, err := os.OpenFile(filepath.Join(dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0) // #nosec G304 -- the test cluster's own directory
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(conf); err != nil {
		c.t.Fatal(err)
	}
}

func (c *Cluster) must(name string, args ...string) {
	c.t.Helper()
	if out, err := c.cmd(name, args...).CombinedOutput(); err != nil {
		c.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func (c *Cluster) pgctl(dataDir string, args ...string) {
	_ = c.cmd("pg_ctl", append([]string{"-D", dataDir}, args...)...).Run()
}

// cmd runs a server binary as the postgres user when the test runs as
// root.
func (c *Cluster) cmd(name string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, name)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...) // #nosec G204 -- test helper, fixed binaries
	}
	return exec.Command(path, args...) // #nosec G204 -- test helper, fixed binaries
}

func (c *Cluster) chown(path string) {
	if os.Geteuid() != 0 {
		return
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		c.t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		c.t.Fatal(err)
	}
}

// serverBin is the newest installed PostgreSQL's bin directory.
func serverBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestV := "", -1
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err == nil && v > bestV {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				best, bestV = d, v
			}
		}
	}
	return best
}

// freePort finds a free loopback port below the ephemeral range, so that
// an outgoing connection cannot take it between the check and the server
// binding it.
func freePort(t testing.TB) int {
	for range 200 {
		p := 20000 + rand.IntN(12000) // #nosec G404 -- a port number, not a secret
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			_ = ln.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}
