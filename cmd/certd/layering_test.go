package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The layering rules keep one door per side. They live here because
// cmd/certd is the one package allowed to see everything: it wires the store
// backends into the issuing service and the public verifier.
//
// They judge the imports of the code that ships (go list's Imports), not of
// _test.go files: tests cross the seams on purpose, to build fixtures on the
// real SQLite and PostgreSQL backends and to verify what the issuing side
// signs with the public verifier, and no test file is linked into the binary.
// The last rule keeps it that way: the test-only helpers must not be
// imported by code that ships.
var layering = []struct {
	importer  func(pkg string) bool
	forbidden func(imp string) bool
	why       string
}{
	{
		func(p string) bool {
			return !under(p, "certd/issuer") && !under(p, "certd/verify") && !under(p, "certd/cmd")
		},
		func(i string) bool { return under(i, "certd/issuer/store") },
		"only certd/issuer/... and the mains that wire them (certd/cmd/...) may import the store backends",
	},
	{
		func(p string) bool { return under(p, "certd/issuer") },
		func(i string) bool { return under(i, "certd/verify") },
		"the issuing side must not depend on the public side; what both need belongs in a package both may import",
	},
	{
		func(p string) bool { return under(p, "certd/verify") },
		func(i string) bool { return under(i, "certd/issuer/store") },
		"verify reads through its own narrow read interface, which cmd/certd fills with a store",
	},
	{
		func(string) bool { return true },
		func(i string) bool {
			return i == "certd/issuer/store/storetest" || i == "certd/issuer/store/postgres/pgtest" || i == "certd/issuer/workbook/workbooktest"
		},
		"test-only helpers (they import testing) may only be imported by _test.go files",
	},
}

// under reports whether pkg is dir or inside it, as the pattern dir/... means.
func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

type goPackage struct {
	ImportPath string
	Imports    []string
}

// violations lists, in a stable order, every import that breaks a rule.
func violations(pkgs []goPackage) []string {
	var out []string
	for _, p := range pkgs {
		for _, imp := range p.Imports {
			for _, r := range layering {
				if r.importer(p.ImportPath) && r.forbidden(imp) {
					out = append(out, fmt.Sprintf("%s imports %s: %s", p.ImportPath, imp, r.why))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// listPackages runs go list over the module. go test puts the go command
// that runs the test first on PATH.
func listPackages(t *testing.T) []goPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "certd/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []goPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestLayering(t *testing.T) {
	pkgs := listPackages(t)
	// A go list that saw nothing would break no rule.
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[p.ImportPath] = true
	}
	for _, want := range []string{"certd/cmd/certd", "certd/issuer", "certd/issuer/store/sqlite", "certd/issuer/store/postgres", "certd/verify"} {
		if !seen[want] {
			t.Fatalf("go list did not report %s; it saw %d packages", want, len(pkgs))
		}
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// TestLayeringRules shows that each rule catches what it should and lets
// the allowed imports through.
func TestLayeringRules(t *testing.T) {
	pkgs := []goPackage{
		{"certd/cmd/certd", []string{"certd/issuer/store/sqlite", "certd/issuer/store/postgres", "certd/verify", "certd/issuer"}},
		{"certd/issuer", []string{"certd/issuer/render"}},
		{"certd/issuer/console", []string{"certd/issuer", "certd/verify", "certd/issuer/store/sqlite"}},
		{"certd/issuer/store/postgres/pgtest", []string{"certd/issuer/store/postgres"}},
		{"certd/verify", []string{"certd/issuer", "certd/verify/cache"}},
		{"certd/verify/web", []string{"certd/verify", "certd/issuer/store"}},
		{"certd/verify/internal/benchtool", []string{"certd/issuer/store/postgres/pgtest"}},
		{"certd/cmd/benchtool", []string{"certd/issuer/store/postgres", "certd/verify/web"}},
		{"certd/tools/seed", []string{"certd/issuer/store/sqlite", "certd/issuerx"}},
		{"certd/issuerx", []string{"certd/verifyx"}},
	}
	want := []string{
		"certd/issuer/console imports certd/verify: " + layering[1].why,
		"certd/tools/seed imports certd/issuer/store/sqlite: " + layering[0].why,
		"certd/verify/internal/benchtool imports certd/issuer/store/postgres/pgtest: " + layering[2].why,
		"certd/verify/internal/benchtool imports certd/issuer/store/postgres/pgtest: " + layering[3].why,
		"certd/verify/web imports certd/issuer/store: " + layering[2].why,
	}
	slices.Sort(want)
	got := violations(pkgs)
	if !slices.Equal(got, want) {
		t.Fatalf("violations:\n got  %q\n want %q", got, want)
	}
}
