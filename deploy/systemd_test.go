package deploy

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const unitFile = "certd.service"

// maxExposure is the highest "systemd-analyze security" exposure the unit
// may have (0 is fully sandboxed, 10 not at all).
const maxExposure = 2.0

// TestSystemdUnitExposure scores the unit's sandbox offline.
func TestSystemdUnitExposure(t *testing.T) {
	sa := lookPathOrSkip(t, "systemd-analyze")
	out, err := output(t, sa, "security", "--offline=true", unitFile)
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: ([0-9]+(?:\.[0-9]+)?)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in systemd-analyze's output:\n%s", out)
	}
	score, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("systemd-analyze security --offline=true %s: exposure %.1f", unitFile, score)
	if score > maxExposure {
		t.Errorf("exposure %.1f, want %.1f or lower:\n%s", score, maxExposure, out)
	}
}

// TestSystemdUnitVerify: systemd-analyze verify exits 0 even on a misspelled
// key, so its output is read instead. The only line allowed is the one
// about the binary, which is not installed where the tests run.
func TestSystemdUnitVerify(t *testing.T) {
	sa := lookPathOrSkip(t, "systemd-analyze")
	out, _ := output(t, sa, "verify", unitFile)
	allowed := regexp.MustCompile(`^certd\.service: Command /usr/local/bin/certd is not executable: No such file or directory$`)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case line == "" || allowed.MatchString(line):
		case regexp.MustCompile(`Unknown (key|section|lvalue)|Failed to parse|Invalid`).MatchString(line):
			t.Errorf("systemd-analyze verify: %s", line)
		default:
			t.Errorf("systemd-analyze verify says something new: %s", line)
		}
	}
}

// TestSystemdUnitKeepsWhatCertdNeeds: the sandbox must not take away what
// certd uses. systemd-analyze scores a unit that cannot work at all as
// safest, so this is checked separately, from the unit's own text.
func TestSystemdUnitKeepsWhatCertdNeeds(t *testing.T) {
	unit := parseUnit(t, readFile(t, unitFile))
	one := func(key string) string {
		t.Helper()
		v := unit[key]
		if len(v) == 0 {
			return ""
		}
		return v[len(v)-1]
	}
	for _, tc := range []struct {
		key, want, why string
	}{
		{"Service.ExecStart", "/usr/local/bin/certd serve", "the binary the comments install"},
		{"Service.User", "certd", "a dedicated user, never root"},
		{"Service.StateDirectory", "certd", "the SQLite database lives in /var/lib/certd, writable under ProtectSystem=strict"},
		{"Service.EnvironmentFile", "/etc/certd/certd.env", "settings, beside the KEK in /etc/certd"},
		{"Service.ProtectSystem", "strict", "everything else read-only"},
		{"Service.MemoryDenyWriteExecute", "yes", "the Go runtime needs no W+X memory"},
		{"Service.NoNewPrivileges", "yes", ""},
	} {
		if got := one(tc.key); got != tc.want {
			t.Errorf("%s = %q, want %q (%s)", tc.key, got, tc.want, tc.why)
		}
	}
	fams := strings.Fields(one("Service.RestrictAddressFamilies"))
	for _, f := range []string{"AF_INET", "AF_INET6", "AF_UNIX"} {
		if !slices.Contains(fams, f) {
			t.Errorf("RestrictAddressFamilies lacks %s: certd reaches PostgreSQL and Redis over TCP or a Unix socket", f)
		}
	}
	if v := one("Service.PrivateNetwork"); v == "yes" || v == "true" {
		t.Error("PrivateNetwork cuts certd off from its clients and its database")
	}
	for _, k := range []string{"Service.IPAddressDeny", "Service.InaccessiblePaths", "Service.ReadOnlyPaths"} {
		if v := one(k); v != "" {
			t.Errorf("%s=%s: check that certd still reaches its database, /etc/certd and the font, then update this test", k, v)
		}
	}
	if v, ok := unit["Service.CapabilityBoundingSet"]; !ok || one("Service.CapabilityBoundingSet") != "" {
		t.Errorf("CapabilityBoundingSet=%v: want it empty; certd needs no capability (its port is above 1023)", v)
	}
	// A filtered call must fail, not kill: the Go runtime tolerates EPERM
	// from the calls it only tries (setrlimit among them).
	if strings.Contains(strings.Join(unit["Service.SystemCallFilter"], " "), "@") && one("Service.SystemCallErrorNumber") == "" {
		t.Error("SystemCallFilter without SystemCallErrorNumber kills certd on the first denied call")
	}
	if n, err := strconv.Atoi(one("Service.LimitNOFILE")); err != nil || n < 8192 {
		t.Errorf("LimitNOFILE=%q: each client connection is a file; the default soft limit is 1024", one("Service.LimitNOFILE"))
	}
}

// parseUnit reads a unit file into "Section.Key" -> values, in order.
func parseUnit(t *testing.T, text string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	section := ""
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: cannot read %q", unitFile, i+1, line)
			}
			out[section+"."+strings.TrimSpace(k)] = append(out[section+"."+strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return out
}
