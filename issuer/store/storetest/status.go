package storetest

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/statuslist"
)

// testStatusIndexes: every certificate gets its own index in its
// institution's list, drawn at random (not in issue order), inside the
// list; another institution's indexes are its own business; StatusBits
// names exactly the certificates that are not valid.
func testStatusIndexes(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	setup(t, s)
	var certs []issuer.Certificate
	for i := range 40 {
		certs = append(certs, cert("alpha", i, weld, 3, june30))
	}
	must(t, s.IssueBatch(ctx, batch("b1", "alpha", "fp1"), prefixA, certs, seal, nil))
	seen := map[int]string{}
	ascending := true
	for i, c := range certs {
		got, err := s.Certificate(ctx, c.Number)
		must(t, err)
		if got.StatusIndex != c.StatusIndex || c.StatusIndex < 0 || c.StatusIndex >= statuslist.MinBits {
			t.Fatalf("%s: status index %d stored, %d returned by IssueBatch (want one in [0, %d))", c.Number, got.StatusIndex, c.StatusIndex, statuslist.MinBits)
		}
		if prev, dup := seen[c.StatusIndex]; dup {
			t.Fatalf("index %d given to %s and %s", c.StatusIndex, prev, c.Number)
		}
		seen[c.StatusIndex] = c.Number
		if i > 0 && c.StatusIndex < certs[i-1].StatusIndex {
			ascending = false
		}
	}
	if ascending {
		t.Fatalf("40 indexes in issue order are ascending: %v; they must be drawn at random", seen)
	}
	b := issue(t, s, batch("b2", "beta", "fp2"), prefixB, cert("beta", 100, weld, 3, june30))
	r := issuer.Revocation{Reason: issuer.ReasonMisconduct, At: t0.Add(time.Hour), By: "admin"}
	must(t, s.Revoke(ctx, certs[3].Number, r, event("certificate.revoke", "alpha", certs[3].Number)))
	repl := cert("alpha", 7, weld, 3, june30)
	repl.Holder.Name = "张柒"
	nc, err := s.Reissue(ctx, certs[7].Number, batch("r1", "alpha", ""), prefixA, repl, seal, nil)
	must(t, err)
	if _, dup := seen[nc.StatusIndex]; dup || nc.StatusIndex < 0 {
		t.Fatalf("the reissued certificate got index %d, already taken or none", nc.StatusIndex)
	}
	bits, err := s.StatusBits(ctx, "alpha")
	must(t, err)
	want := []int{certs[3].StatusIndex, certs[7].StatusIndex}
	slices.Sort(want)
	maxIdx := nc.StatusIndex
	for i := range seen {
		maxIdx = max(maxIdx, i)
	}
	equal(t, "alpha's status bits", bits, issuer.StatusBits{Allocated: 41, MaxIndex: maxIdx, Set: want})
	bb, err := s.StatusBits(ctx, "beta")
	must(t, err)
	if bb.Allocated != 1 || len(bb.Set) != 0 {
		t.Fatalf("beta's status bits = %+v, want 1 allocated and none set", bb)
	}
	bc, err := s.Certificate(ctx, b[0])
	must(t, err)
	if bc.StatusIndex < 0 {
		t.Fatalf("beta's certificate has no status index")
	}
	n, err := s.FillStatusIndexes(ctx, "alpha")
	must(t, err)
	if n != 0 {
		t.Fatalf("FillStatusIndexes filled %d, want 0: every certificate has an index", n)
	}
}

// testConcurrentStatusIndexes: batches of one institution issued at once
// never share an index.
func testConcurrentStatusIndexes(t *testing.T, s issuer.Store) {
	setup(t, s)
	const batches, per = 4, 25
	errs := make([]error, batches)
	all := make([][]issuer.Certificate, batches)
	var wg sync.WaitGroup
	for k := range batches {
		wg.Go(func() {
			var certs []issuer.Certificate
			for i := range per {
				certs = append(certs, cert("alpha", k*per+i, weld, 3, june30))
			}
			errs[k] = s.IssueBatch(t.Context(), batch(fmt.Sprint("b", k), "alpha", fmt.Sprint("fp", k)), prefixA, certs, seal, nil)
			all[k] = certs
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	for k, err := range errs {
		must(t, err)
		for _, c := range all[k] {
			if seen[c.StatusIndex] {
				t.Fatalf("index %d given twice", c.StatusIndex)
			}
			seen[c.StatusIndex] = true
		}
	}
}

// testStatusListVersions: versions follow one another, a stale publisher
// loses, every version stays readable as stored, the latest is version 0.
func testStatusListVersions(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	setup(t, s)
	_, err := s.StatusList(ctx, "alpha", 0)
	wantErr(t, err, issuer.ErrNotFound, "")
	v1 := issuer.StatusList{InstitutionID: "alpha", Version: 1, ValidFrom: t0.Truncate(time.Millisecond), TTL: 10 * time.Minute, Size: statuslist.MinBits, Revoked: 0, Token: "eyJ.v1.sig"} // #nosec G101 -- a stand-in token, not a credential
	v2 := v1
	v2.Version, v2.ValidFrom, v2.Revoked, v2.Token = 2, v1.ValidFrom.Add(1500*time.Millisecond), 1, "eyJ.v2.sig"
	wantErr(t, s.PutStatusList(ctx, v2), issuer.ErrConflict, "status_list_version_conflict")
	must(t, s.PutStatusList(ctx, v1))
	wantErr(t, s.PutStatusList(ctx, v1), issuer.ErrConflict, "status_list_version_conflict")
	must(t, s.PutStatusList(ctx, v2))
	got, err := s.StatusList(ctx, "alpha", 0)
	must(t, err)
	equal(t, "latest", got, v2)
	got, err = s.StatusList(ctx, "alpha", 1)
	must(t, err)
	equal(t, "version 1", got, v1)
	_, err = s.StatusList(ctx, "alpha", 3)
	wantErr(t, err, issuer.ErrNotFound, "")
	_, err = s.StatusList(ctx, "beta", 0)
	wantErr(t, err, issuer.ErrNotFound, "")
}

// testStatusListResigns: a version whose bits equal the latest's is a
// re-signing, and a re-signing that follows one replaces it; versions
// without a digest (stored before digests were kept) are never taken for
// one; a stale publisher still loses on the version number.
func testStatusListResigns(t *testing.T, s issuer.Store) {
	ctx := t.Context()
	setup(t, s)
	put := func(v int, digest string) {
		t.Helper()
		l := issuer.StatusList{InstitutionID: "alpha", Version: v, ValidFrom: t0.Add(time.Duration(v) * time.Minute).Truncate(time.Millisecond),
			TTL: 10 * time.Minute, Size: statuslist.MinBits, Token: "eyJ.v" + strconv.Itoa(v) + ".sig", BitsDigest: digest}
		must(t, s.PutStatusList(ctx, l))
		got, err := s.StatusList(ctx, "alpha", 0)
		must(t, err)
		equal(t, "latest", got, l)
	}
	kept := func(want ...int) {
		t.Helper()
		var got []int
		for v := 1; v <= 20; v++ {
			switch _, err := s.StatusList(ctx, "alpha", v); {
			case err == nil:
				got = append(got, v)
			default:
				wantErr(t, err, issuer.ErrNotFound, "")
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("versions kept %v, want %v", got, want)
		}
	}
	put(1, "")
	put(2, "")
	put(3, "a")
	put(4, "a")
	put(5, "a")
	put(6, "a")
	kept(1, 2, 3, 6)
	put(7, "b")
	put(8, "b")
	kept(1, 2, 3, 6, 7, 8)
	put(9, "a")
	put(10, "a")
	put(11, "a")
	kept(1, 2, 3, 6, 7, 8, 9, 11)
	stale := issuer.StatusList{InstitutionID: "alpha", Version: 11, ValidFrom: t0, TTL: time.Minute, Size: statuslist.MinBits, Token: "eyJ.x.sig", BitsDigest: "a"} // #nosec G101 -- a stand-in token, not a credential
	wantErr(t, s.PutStatusList(ctx, stale), issuer.ErrConflict, "status_list_version_conflict")
	kept(1, 2, 3, 6, 7, 8, 9, 11)
}
