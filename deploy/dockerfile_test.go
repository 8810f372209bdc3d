package deploy

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case: FROM, RUN, COPY...
	args string
}

// stage is one FROM and what follows it.
type stage struct {
	from, name string
	ins        []instruction
}

// parseDockerfile reads just enough of the Dockerfile syntax for the checks
// below: comments, continuation lines, global ARG defaults substituted into
// FROM, and stages.
func parseDockerfile(t *testing.T, text string) (stages []*stage, args map[string]string) {
	t.Helper()
	args = map[string]string{}
	var ins []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, rest, _ := strings.Cut(cur.String(), " ")
		ins = append(ins, instruction{start, strings.ToUpper(cmd), strings.TrimSpace(rest)})
		cur.Reset()
	}
	expand := func(s string) string {
		return regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`).ReplaceAllStringFunc(s, func(m string) string {
			k := strings.Trim(m, "${}")
			if v, ok := args[k]; ok {
				return v
			}
			return m
		})
	}
	for _, in := range ins {
		switch {
		case in.cmd == "ARG":
			k, v, _ := strings.Cut(in.args, "=")
			if _, ok := args[k]; !ok || v != "" {
				args[k] = v
			}
		case in.cmd == "FROM":
			f := strings.Fields(expand(in.args))
			s := &stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
		case len(stages) == 0:
			t.Fatalf("Dockerfile:%d: %s before the first FROM", in.line, in.cmd)
		default:
			in.args = expand(in.args)
			stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
		}
	}
	return stages, args
}

func TestDockerfile(t *testing.T) {
	stages, args := parseDockerfile(t, readFile(t, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, have %d stages", len(stages))
	}
	final := stages[len(stages)-1]
	byName := map[string]*stage{}
	for _, s := range stages {
		byName[s.name] = s
		for _, in := range s.ins {
			if in.cmd == "ADD" && regexp.MustCompile(`(?i)\b(https?|git)://|git@`).MatchString(in.args) {
				t.Errorf("Dockerfile:%d: ADD of a remote source; fetch in a RUN with a checksum instead", in.line)
			}
		}
	}

	// The builder: the golang image with the pinned toolchain, no cgo.
	build := byName["build"]
	if build == nil || !strings.HasPrefix(build.from, "golang:") {
		t.Fatal("no stage named build on the golang image")
	}
	env := stageEnv(build)
	if env["CGO_ENABLED"] != "0" {
		t.Errorf("build stage CGO_ENABLED = %q, want 0: the binary must be static", env["CGO_ENABLED"])
	}
	if env["GOTOOLCHAIN"] != "go1.27.3" || !strings.HasPrefix(build.from, "golang:1.27.3") {
		t.Errorf("build stage: image %s, GOTOOLCHAIN %q; want go1.27.3 (args %v)", build.from, env["GOTOOLCHAIN"], args)
	}
	if !slices.ContainsFunc(build.ins, func(in instruction) bool {
		return in.cmd == "RUN" && strings.Contains(in.args, "./cmd/certd") && strings.Contains(in.args, "./deploy/healthcheck")
	}) {
		t.Error("the build stage should build ./cmd/certd and ./deploy/healthcheck")
	}

	// The final stage: a base without a shell or package manager (or a slim
	// Debian), running as a numeric non-root user, with the font where
	// certd's --font default looks.
	if !regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?(:|@|$)|^debian:[a-z]+-slim`).MatchString(final.from) {
		t.Errorf("final stage is built on %s, want distroless/static or debian-slim", final.from)
	}
	user := ""
	for _, in := range final.ins {
		switch in.cmd {
		case "USER":
			user = in.args
		case "RUN":
			if strings.Contains(final.from, "distroless") {
				t.Errorf("Dockerfile:%d: RUN in the distroless stage, which has no shell", in.line)
			}
		}
	}
	uid, _, _ := strings.Cut(user, ":")
	if !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(uid) {
		t.Errorf("final USER %q: want a numeric non-root uid (Kubernetes' runAsNonRoot can check only a number)", user)
	}
	font := certdSettings(t)["CERTD_FONT"]
	if font == "" {
		t.Fatal("cmd/certd has no default for CERTD_FONT")
	}
	copies := map[string]instruction{} // destination -> COPY
	for _, in := range final.ins {
		if in.cmd == "COPY" {
			f := strings.Fields(in.args)
			copies[f[len(f)-1]] = in
		}
	}
	if in, ok := copies[font]; !ok || !strings.Contains(in.args, "--from=font") || !strings.Contains(in.args, " "+font+" ") {
		t.Errorf("the final stage does not copy the font from the font stage to %s (certd's --font default)", font)
	}
	if fs := byName["font"]; fs == nil || !slices.ContainsFunc(fs.ins, func(in instruction) bool {
		return in.cmd == "RUN" && strings.Contains(in.args, "fonts-lxgw-wenkai")
	}) {
		t.Error("no font stage installing Debian's fonts-lxgw-wenkai")
	}
	if _, ok := copies["/usr/local/bin/"]; !ok {
		t.Error("the final stage does not copy the binaries to /usr/local/bin/")
	}
	last := func(cmd string) string {
		v := ""
		for _, in := range final.ins {
			if in.cmd == cmd {
				v = in.args
			}
		}
		return v
	}
	if v := last("EXPOSE"); v != "8080" {
		t.Errorf("EXPOSE %q, want 8080", v)
	}
	if v := last("VOLUME"); !strings.Contains(v, `"/var/lib/certd"`) {
		t.Errorf("VOLUME %q, want /var/lib/certd", v)
	}
	var cmd []string
	if err := json.Unmarshal([]byte(last("CMD")), &cmd); err != nil || len(cmd) < 2 || cmd[0] != "certd" || cmd[1] != "serve" {
		t.Errorf("CMD %q: want the exec form of certd serve", last("CMD"))
	}
	if !slices.Contains(cmd, "0.0.0.0:8080") {
		t.Errorf("CMD %q: certd listens on 127.0.0.1 by default, unreachable from outside the container", last("CMD"))
	}
	if last("ENTRYPOINT") != "" {
		t.Error("an ENTRYPOINT breaks \"docker compose run certd-1 certd init\" as documented")
	}
	if e := stageEnv(final); e["CERTD_DATA"] != "/var/lib/certd" {
		t.Errorf("final stage CERTD_DATA = %q, want the volume /var/lib/certd", e["CERTD_DATA"])
	}
}

// stageEnv collects a stage's ENV key=value pairs.
func stageEnv(s *stage) map[string]string {
	env := map[string]string{}
	for _, in := range s.ins {
		if in.cmd != "ENV" {
			continue
		}
		for _, f := range strings.Fields(in.args) {
			if k, v, ok := strings.Cut(f, "="); ok {
				env[k] = strings.Trim(v, `"`)
			}
		}
	}
	return env
}

// TestDockerBuildContext applies deploy/Dockerfile.dockerignore to the
// repository the way BuildKit does, then checks that secrets and data stay
// out and that what gets in is enough: "go list" loads certd and the health
// check, with their embedded files, from a copy of only those files, with
// cgo off.
func TestDockerBuildContext(t *testing.T) {
	f, err := os.Open("Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	root := mustAbs(t, repoRoot)
	ctxDir := t.TempDir()
	var included []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		skip, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if d.IsDir() {
			// Do not walk .git or a data directory unless an exception
			// ("!deploy/healthcheck") may bring back something inside.
			reincluded := slices.ContainsFunc(pm.Patterns(), func(p *patternmatcher.Pattern) bool {
				return p.Exclusion() && strings.HasPrefix(p.String(), rel+"/")
			})
			if skip && !reincluded {
				return filepath.SkipDir
			}
			return nil
		}
		if skip {
			return nil
		}
		included = append(included, rel)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(ctxDir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"go.mod", "go.sum", "cmd/certd/main.go", "deploy/healthcheck/main.go"} {
		if !slices.Contains(included, must) {
			t.Errorf("the build context lacks %s", must)
		}
	}
	for _, rel := range included {
		top, _, _ := strings.Cut(rel, "/")
		switch {
		case strings.HasPrefix(rel, "deploy/secrets/"), strings.HasPrefix(rel, ".git"), top == "data", path.Base(rel) == "kek":
			t.Errorf("%s would be sent to the image builder", rel)
		case strings.HasSuffix(rel, "_test.go"):
			t.Errorf("%s is in the build context; tests are not built into the image", rel)
		}
	}
	t.Logf("build context: %d files", len(included))

	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH; cannot check that the context builds")
	}
	cmd := exec.Command(goBin, "list", "-e", "-deps",
		"-f", `{{if .Error}}{{.ImportPath}}: {{.Error}}{{"\n"}}{{end}}{{if .CgoFiles}}{{.ImportPath}}: uses cgo{{"\n"}}{{end}}`,
		"./cmd/certd", "./deploy/healthcheck")
	cmd.Dir = ctxDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("go list in the build context (CGO_ENABLED=0): %v\n%s", err, out)
	}
}
