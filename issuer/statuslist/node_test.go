package statuslist

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestNodeCrossCheck: an independent implementation, the npm package
// @digitalbazaar/vc-bitstring-status-list under Node, reads the lists certd
// encodes and writes lists certd decodes, and both agree bit for bit. It
// runs when CERTD_STATUSLIST_DIR names a directory where the package is
// installed (.ci/run does this); it skips when the variable is unset, and
// fails under CI=true when it is set but node or the package is missing.
func TestNodeCrossCheck(t *testing.T) {
	dir := os.Getenv("CERTD_STATUSLIST_DIR")
	if dir == "" {
		t.Skip("CERTD_STATUSLIST_DIR is not set; skipping the cross-check with @digitalbazaar/vc-bitstring-status-list " +
			"(npm install --prefix DIR @digitalbazaar/vc-bitstring-status-list@2.0.1, then set CERTD_STATUSLIST_DIR=DIR)")
	}
	broken := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		broken("CERTD_STATUSLIST_DIR is set but node is not installed")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@digitalbazaar", "vc-bitstring-status-list", "package.json")); err != nil {
		broken("CERTD_STATUSLIST_DIR=%s, but @digitalbazaar/vc-bitstring-status-list is not installed there: %v", dir, err)
	}
	script, err := filepath.Abs("testdata/crosscheck.mjs")
	if err != nil {
		t.Fatal(err)
	}

	type job struct {
		Op          string `json:"op"`
		EncodedList string `json:"encodedList,omitempty"`
		Length      int    `json:"length,omitempty"`
		Indexes     []int  `json:"indexes"`
	}
	type result struct {
		Length      int    `json:"length"`
		Set         []int  `json:"set"`
		EncodedList string `json:"encodedList"`
		Error       string `json:"error"`
	}
	run := func(jobs []job) []result {
		t.Helper()
		in, _ := json.Marshal(jobs)
		cmd := exec.Command(node, script)
		cmd.Env = append(os.Environ(), "CERTD_STATUSLIST_DIR="+dir)
		cmd.Stdin = bytes.NewReader(in)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node: %v\n%s", err, stderr.Bytes())
		}
		var res []result
		if err := json.Unmarshal(out, &res); err != nil || len(res) != len(jobs) {
			t.Fatalf("node said %.300s (%v)", out, err)
		}
		return res
	}

	// Lists certd encodes: the known-answer list, with its neighbours to pin
	// the bit order, and 1,048,576 entries at 1% with as many clear
	// indexes asked about as set ones.
	r := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // test data
	kat := []int{0, 7, 8, 131071}
	const big = 1 << 20
	bigSet := r.Perm(big)[:big/100]
	slices.Sort(bigSet)
	bigAsk := append(slices.Clone(bigSet), r.Perm(big)[:big/100]...)
	goLists := []struct {
		n        int
		set, ask []int
	}{
		{MinBits, kat, []int{0, 1, 6, 7, 8, 9, 15, 16, 131064, 131070, 131071}},
		{big, bigSet, bigAsk},
	}
	var jobs []job
	for _, l := range goLists {
		s, err := FromIndexes(l.n, l.set)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job{Op: "decode", EncodedList: s.Encode(), Indexes: l.ask})
	}
	// Lists Node encodes, for certd to decode.
	nodeLists := []struct {
		n   int
		set []int
	}{
		{MinBits, kat},
		{1 << 18, r.Perm(1 << 18)[:(1<<18)/100]},
	}
	for _, l := range nodeLists {
		jobs = append(jobs, job{Op: "encode", Length: l.n, Indexes: l.set})
	}
	// A list below the minimum, which the package makes without complaint
	// and certd must refuse.
	jobs = append(jobs, job{Op: "encode", Length: 1024, Indexes: []int{3}})
	res := run(jobs)

	for k, l := range goLists {
		got := res[k]
		if got.Error != "" || got.Length != l.n {
			t.Fatalf("Go list %d: node read %d bits (%s), want %d", k, got.Length, got.Error, l.n)
		}
		want := slices.Clone(l.set)
		slices.Sort(want)
		gotSet := slices.Clone(got.Set)
		slices.Sort(gotSet)
		gotSet = slices.Compact(gotSet)
		if !slices.Equal(gotSet, want) {
			t.Errorf("Go list %d: node sees %d set of those asked, want %d (first: %v vs %v)", k, len(gotSet), len(want), head(gotSet), head(want))
		}
	}
	for k, l := range nodeLists {
		got := res[len(goLists)+k]
		if got.Error != "" {
			t.Fatalf("node encode %d: %s", k, got.Error)
		}
		s, err := Decode(got.EncodedList)
		if err != nil {
			t.Fatalf("node list %d: %v", k, err)
		}
		if s.Len() != l.n || s.Count() != len(l.set) {
			t.Fatalf("node list %d: %d bits with %d set, want %d with %d", k, s.Len(), s.Count(), l.n, len(l.set))
		}
		for _, i := range l.set {
			if v, _ := s.Get(i); !v {
				t.Fatalf("node list %d: bit %d not set", k, i)
			}
		}
	}
	tiny := res[len(res)-1]
	if _, err := Decode(tiny.EncodedList); tiny.Error != "" || !errors.Is(err, ErrLength) {
		t.Errorf("a 1024-bit list from node: %v (%s), want ErrLength", err, tiny.Error)
	}
}

func head(s []int) []int { return s[:min(len(s), 5)] }
