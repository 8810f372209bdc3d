package deploy

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads compose.yaml as "docker compose" would, with an empty
// environment so that the defaults in the file are what is checked.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	o, err := cli.NewProjectOptions([]string{"compose.yaml"},
		cli.WithWorkingDirectory("."),
		cli.WithEnv(nil),
		cli.WithResolvedPaths(true),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := o.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml does not load: %v", err)
	}
	return p
}

var certdServices = []string{"certd-1", "certd-2"}

func TestComposeTopology(t *testing.T) {
	p := loadCompose(t)

	want := []string{"certd-1", "certd-2", "db-primary", "db-replica", "proxy", "redis"}
	if got := p.ServiceNames(); !slices.Equal(sortedCopy(got), want) {
		t.Fatalf("services = %v, want %v", sortedCopy(got), want)
	}
	for name, s := range p.Services {
		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] == "NONE" {
			t.Errorf("%s: no health check; depends_on conditions and operators rely on it", name)
		}
		// Files mounted from deploy/ must exist: a missing one becomes an
		// empty directory at start.
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s mounts %s, which does not exist", name, v.Source)
				}
			}
		}
	}
	dependsHealthy := func(svc string, on ...string) {
		t.Helper()
		for _, o := range on {
			d, ok := p.Services[svc].DependsOn[o]
			if !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s must wait for %s to be healthy (depends_on condition service_healthy), has %+v", svc, o, d)
			}
		}
	}
	dependsHealthy("db-replica", "db-primary")
	dependsHealthy("proxy", certdServices...)

	proxyAddr := netip.Addr{}
	if n := p.Services["proxy"].Networks["edge"]; n == nil || n.Ipv4Address == "" {
		t.Error("proxy needs a fixed address on the edge network: certd trusts X-Forwarded-For from it alone")
	} else {
		proxyAddr = netip.MustParseAddr(n.Ipv4Address)
	}
	if len(p.Services["proxy"].Ports) == 0 {
		t.Error("the proxy publishes no port")
	}
	for _, name := range []string{"db-primary", "db-replica", "redis"} {
		if len(p.Services[name].Ports) > 0 {
			t.Errorf("%s publishes a port; only certd may reach it", name)
		}
		if _, ok := p.Services[name].Networks["edge"]; ok {
			t.Errorf("%s is on the edge network", name)
		}
	}
	if !p.Networks["data"].Internal {
		t.Error("the data network (PostgreSQL, Redis) must be internal")
	}

	for _, name := range certdServices {
		s := p.Services[name]
		dependsHealthy(name, "db-primary", "redis")
		if s.Build == nil || filepath.Clean(s.Build.Context) != mustAbs(t, repoRoot) || s.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("%s: build = %+v, want context the repository root and deploy/Dockerfile", name, s.Build)
		}
		env := func(k string) string {
			if v := s.Environment[k]; v != nil {
				return *v
			}
			return ""
		}
		u := checkDatabaseURL(t, name, env("CERTD_DATABASE_URL"))
		if u.Hostname() != "db-primary" {
			t.Errorf("%s: CERTD_DATABASE_URL goes to %q, want the primary (writes and read-your-writes)", name, u.Hostname())
		}
		if r := env("CERTD_REDIS_URL"); !strings.HasPrefix(r, "redis://redis:") {
			t.Errorf("%s: CERTD_REDIS_URL = %q, want the redis service", name, r)
		}
		if pu := env("CERTD_PUBLIC_URL"); !regexp.MustCompile(`^https?://[^/?]+$`).MatchString(pu) {
			t.Errorf("%s: CERTD_PUBLIC_URL = %q", name, pu)
		}
		trusted, err := parsePrefixes(env("CERTD_TRUSTED_PROXIES"))
		if err != nil || !proxyAddr.IsValid() || !containsAddr(trusted, proxyAddr) {
			t.Errorf("%s: CERTD_TRUSTED_PROXIES = %q does not name the proxy %v (%v); every visitor would share one rate limit", name, env("CERTD_TRUSTED_PROXIES"), proxyAddr, err)
		}
		if _, ok := s.Environment["CERTD_KEK"]; ok {
			t.Errorf("%s: the KEK itself is in the environment; use the kek secret and CERTD_KEK_FILE", name)
		}
		secretFile := func(env, secret string) {
			t.Helper()
			i := slices.IndexFunc(s.Secrets, func(c types.ServiceSecretConfig) bool { return c.Source == secret })
			if i < 0 {
				t.Errorf("%s does not mount the %s secret", name, secret)
				return
			}
			target := s.Secrets[i].Target
			if !filepath.IsAbs(target) {
				target = "/run/secrets/" + target
			}
			if got := envValue(s, env); got != target {
				t.Errorf("%s: %s = %q, want the %s secret's file %s", name, env, got, secret, target)
			}
		}
		secretFile("CERTD_KEK_FILE", "kek")
		secretFile("PGPASSFILE", "certd_pgpass")
		hc := strings.Join(s.HealthCheck.Test, " ")
		if !strings.Contains(hc, "certd-healthcheck") || !strings.Contains(hc, "/readyz") {
			t.Errorf("%s: health check %q should ask certd-healthcheck about /readyz", name, hc)
		}
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: want read_only, cap_drop ALL and no-new-privileges", name)
		}
	}

	// No service carries key material or a password in its environment.
	for name, s := range p.Services {
		for k, v := range s.Environment {
			if v == nil {
				continue
			}
			upper := strings.ToUpper(k)
			if (strings.Contains(upper, "PASSWORD") || strings.Contains(upper, "KEK") || strings.Contains(upper, "SECRET")) &&
				!strings.HasSuffix(upper, "_FILE") {
				t.Errorf("%s: %s is set in the environment; give it as a secret file", name, k)
			}
			if looksLikeKey(*v) {
				t.Errorf("%s: %s looks like key material", name, k)
			}
		}
	}
	for name, sec := range p.Secrets {
		if sec.File == "" || filepath.Dir(sec.File) != mustAbs(t, "secrets") {
			t.Errorf("secret %s comes from %q, want a file in deploy/secrets", name, sec.File)
		}
	}
	// deploy/secrets holds real key material on an operator's machine: git
	// must ignore everything in it.
	if gi := readFile(t, "secrets/.gitignore"); !regexp.MustCompile(`(?m)^\*$`).MatchString(gi) {
		t.Errorf("secrets/.gitignore does not ignore everything:\n%s", gi)
	}
}

func TestComposeReplica(t *testing.T) {
	p := loadCompose(t)

	// The replica is built by pg_basebackup -R in its entrypoint script.
	r := p.Services["db-replica"]
	script := ""
	for _, v := range r.Volumes {
		if v.Type == types.VolumeTypeBind && slices.Contains(r.Entrypoint, v.Target) {
			script = readFile(t, v.Source)
		}
	}
	if script == "" {
		t.Fatalf("db-replica's entrypoint %v is not a script mounted from deploy/", r.Entrypoint)
	}
	if !regexp.MustCompile(`pg_basebackup\b[^\n]*(\\\n[^\n]*)*\s-R\b`).MatchString(script) {
		t.Error("the replica script does not run pg_basebackup -R")
	}
	if !strings.Contains(script, "-h db-primary") || !strings.Contains(script, "/run/secrets/replication_password") {
		t.Error("the replica script should copy from db-primary with the replication_password secret")
	}

	// The primary lets the replicator stream WAL.
	init := ""
	for _, v := range p.Services["db-primary"].Volumes {
		if strings.HasPrefix(v.Target, "/docker-entrypoint-initdb.d/") {
			init = readFile(t, v.Source)
		}
	}
	for _, want := range []string{"REPLICATION LOGIN", "host replication replicator", "CREATE DATABASE certd OWNER certd"} {
		if !strings.Contains(init, want) {
			t.Errorf("the primary's init script lacks %q", want)
		}
	}
	if regexp.MustCompile(`(?mi)^[^#]*\bSUPERUSER\b`).MatchString(init) {
		t.Error("the primary's init script grants SUPERUSER")
	}

	// Both instances read from the replica.
	// One data volume for both instances: the public log and its local
	// witness must be one, or no checkpoint meets either instance's quorum
	// and every certificate verifies as invalid (TestClusterUnderFaults).
	sources := map[string]bool{}
	for _, name := range certdServices {
		for _, v := range p.Services[name].Volumes {
			if v.Target == "/var/lib/certd" {
				sources[v.Source] = true
			}
		}
	}
	if len(sources) != 1 {
		t.Errorf("the certd instances mount %d different data volumes, want one shared: %v", len(sources), sources)
	}
	for _, name := range []string{"certd-1", "certd-2"} {
		svc, ok := p.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		v := envValue(svc, "CERTD_DATABASE_REPLICA_URLS")
		if v == "" {
			t.Fatalf("%s has no CERTD_DATABASE_REPLICA_URLS", name)
		}
		if u := checkDatabaseURL(t, "replica URL", v); u.Hostname() != "db-replica" {
			t.Errorf("%s: the replica URL goes to %q, want db-replica", name, u.Hostname())
		}
	}
}

func envValue(s types.ServiceConfig, k string) string {
	if v := s.Environment[k]; v != nil {
		return *v
	}
	return ""
}
