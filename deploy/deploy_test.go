// Package deploy holds certd's packaging: the container image, a compose
// cluster, a Kubernetes base and the systemd unit. There is no container
// engine or cluster where the tests run, so these tests check what can be
// checked without one: the compose file through the compose-spec loader, the
// manifests decoded strictly into the Kubernetes API types and rendered by
// kustomize, the unit through systemd-analyze, the Dockerfile and its build
// context, and every CERTD_* variable against certd's own settings.
package deploy

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// repoRoot is the repository's root: tests run in deploy/.
const repoRoot = ".."

// pendingSettings are settings that deploy files mention, in comments only,
// before certd has them. Each maps to the work that adds it.
var pendingSettings = map[string]string{
	"CERTD_DATABASE_REPLICA_URLS": "issue 15, item 1 (read replicas)",
}

// certdSettings reads the CERTD_* variables certd knows, with their
// defaults, from the source of cmd/certd (read only): every string literal
// that names one, and for the settings table (composite literals whose
// first two elements are the flag and the variable) the third, the default.
// A renamed or removed setting therefore fails the tests below.
func certdSettings(t *testing.T) map[string]string {
	t.Helper()
	dir := filepath.Join(repoRoot, "cmd", "certd")
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	envName := regexp.MustCompile(`^CERTD_[A-Z0-9_]+$`)
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				var lits []string
				for _, e := range n.Elts {
					b, ok := e.(*ast.BasicLit)
					if !ok || b.Kind != token.STRING {
						break
					}
					s, _ := strconv.Unquote(b.Value)
					lits = append(lits, s)
				}
				if len(lits) >= 3 && envName.MatchString(lits[1]) {
					out[lits[1]] = lits[2]
				}
			case *ast.BasicLit:
				if n.Kind == token.STRING {
					if s, _ := strconv.Unquote(n.Value); envName.MatchString(s) {
						if _, ok := out[s]; !ok {
							out[s] = ""
						}
					}
				}
			}
			return true
		})
	}
	// If the table moved or changed shape, say so rather than pass on an
	// empty list.
	for _, must := range []string{"CERTD_DATABASE_URL", "CERTD_REDIS_URL", "CERTD_KEK_FILE", "CERTD_KEK", "CERTD_FONT", "CERTD_ADDR"} {
		if _, ok := out[must]; !ok {
			t.Fatalf("cmd/certd does not mention %s any more: update deploy/ and this test", must)
		}
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEveryVariableIsACertdSetting: every CERTD_* name in a deploy file is a
// setting certd reads, so a renamed setting cannot leave a deployment
// silently running on a default.
func TestEveryVariableIsACertdSetting(t *testing.T) {
	settings := certdSettings(t)
	name := regexp.MustCompile(`CERTD_[A-Z0-9_]*[A-Z0-9]`)
	seen := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "secrets" || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, "_test.go") {
			return nil
		}
		for i, line := range strings.Split(readFile(t, path), "\n") {
			for _, v := range name.FindAllString(line, -1) {
				seen++
				if _, ok := settings[v]; ok {
					continue
				}
				if why, ok := pendingSettings[v]; ok {
					trimmed := strings.TrimSpace(line)
					if strings.HasPrefix(trimmed, "#") || strings.HasSuffix(path, ".md") {
						continue
					}
					t.Errorf("%s:%d: %s is not a certd setting yet (%s): keep it commented out", path, i+1, v, why)
					continue
				}
				t.Errorf("%s:%d: %s is not a certd setting (see cmd/certd/config.go)", path, i+1, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("found no CERTD_* name under deploy/: the walk missed the files")
	}
	for v, why := range pendingSettings {
		if _, ok := settings[v]; ok {
			t.Logf("%s is now a certd setting (%s): enable it in compose.yaml and k8s/base/configmap.yaml, and drop it from pendingSettings", v, why)
		}
	}
}

// looksLikeKey reports whether certd would take s as a key-encryption key:
// 32 bytes as hex or base64 (issuer/keys.ParseKEK), whatever variable holds it.
func looksLikeKey(s string) bool {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return true
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return true
		}
	}
	return false
}

// checkDatabaseURL: a PostgreSQL URL with no password in it.
func checkDatabaseURL(t *testing.T, where, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		t.Errorf("%s: CERTD_DATABASE_URL %q is not a postgres:// URL", where, raw)
		return &url.URL{}
	}
	if _, ok := u.User.Password(); ok || u.Query().Has("password") {
		t.Errorf("%s: CERTD_DATABASE_URL carries a password; it belongs in the pgpass secret", where)
	}
	return u
}

// output runs a command and returns its combined output, failing the test
// when it cannot be started.
func output(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v", name, err)
	}
	return buf.String(), err
}

func TestParsePrefixes(t *testing.T) {
	// The helper the compose and Kubernetes tests use to read
	// CERTD_TRUSTED_PROXIES, checked on its own.
	for _, tc := range []struct {
		in   string
		addr string
		want bool
	}{
		{"172.28.10.10", "172.28.10.10", true},
		{"172.28.10.10", "172.28.10.11", false},
		{"10.244.0.0/16, 192.0.2.1", "10.244.3.4", true},
		{"", "10.0.0.1", false},
	} {
		ps, err := parsePrefixes(tc.in)
		if err != nil {
			t.Fatalf("parsePrefixes(%q): %v", tc.in, err)
		}
		if got := containsAddr(ps, netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("parsePrefixes(%q) contains %s = %v, want %v", tc.in, tc.addr, got, tc.want)
		}
	}
	if _, err := parsePrefixes("proxy.internal"); err == nil {
		t.Error("a host name was accepted; certd accepts only addresses and prefixes")
	}
}

// parsePrefixes reads a CERTD_TRUSTED_PROXIES value the way certd does
// (verify.ParseTrustedProxies): addresses or CIDR prefixes, comma-separated.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p)
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, err
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
}

func lookPathOrSkip(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not on PATH; this check runs where it is (Debian: see deploy/README.md)", name)
	}
	return p
}

func TestLooksLikeKey(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"6b1f0c5e3a2d4f8e9b7c1a0d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f\n", true}, // openssl rand -hex 32
		{"axHe3dc+3YhMhUbQQ9KeTHeRGKXKk3O4tWPgb9ZQRsU=", true},                       // openssl rand -base64 32
		{"axHe3dc-3YhMhUbQQ9KeTHeRGKXKk3O4tWPgb9ZQRsU", true},                        // raw URL base64
		{"REPLACE-WITH-THE-OUTPUT-OF-openssl-rand-hex-32", false},
		{"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c", false}, // 24 bytes
		{"postgres://certd@db-primary:5432/certd?sslmode=disable", false},
	} {
		if got := looksLikeKey(tc.in); got != tc.want {
			t.Errorf("looksLikeKey(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
