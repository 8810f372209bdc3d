package storetest

import (
	"context"
	"sync"
	"testing"

	"certd/issuer"
)

// ConfirmationStore is a backend that also counts failed confirmations of
// certificate holders, for the public side's cap on guessing (the one write
// verify.Store allows), as both shipped backends do.
type ConfirmationStore interface {
	issuer.Store
	FailedConfirmations(ctx context.Context, number, client string, day int64) (mine, total int, err error)
	AddFailedConfirmation(ctx context.Context, number, client string, day int64) (mine, total int, err error)
}

// RunFailedConfirmations runs the conformance suite of the failed
// confirmation counter. open has the same contract as for Run.
func RunFailedConfirmations(t *testing.T, open func(t *testing.T) ConfirmationStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, ConfirmationStore)
	}{
		{"Counts", testFailedConfirmationCounts},
		{"Concurrent", testConcurrentFailedConfirmations},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// Counts are per certificate, client and day, and a certificate's total is
// its clients' sum; a new day starts at zero and removes the rows of the
// days before it; an unknown number cannot be counted.
func testFailedConfirmationCounts(t *testing.T, s ConfirmationStore) {
	ctx := t.Context()
	setup(t, s)
	numbers := issue(t, s, batch("b1", "alpha", "fp1"), prefixA, cert("alpha", 1, weld, 3, june30), cert("alpha", 2, weld, 3, june30))
	a, b := numbers[0], numbers[1]
	const day = 20640
	count := func(number, client string, d int64) [2]int {
		t.Helper()
		m, n, err := s.FailedConfirmations(ctx, number, client, d)
		must(t, err)
		return [2]int{m, n}
	}
	add := func(number, client string, d int64) [2]int {
		t.Helper()
		m, n, err := s.AddFailedConfirmation(ctx, number, client, d)
		must(t, err)
		return [2]int{m, n}
	}
	if count(a, "c1", day) != [2]int{0, 0} {
		t.Fatal("a certificate without failures has a count")
	}
	for i := 1; i <= 3; i++ {
		if n := add(a, "c1", day); n != [2]int{i, i} {
			t.Fatalf("add %d returned %v", i, n)
		}
	}
	if n := add(a, "c2", day); n != [2]int{1, 4} {
		t.Fatalf("another client's first failure returned %v, want [1 4]", n)
	}
	add(b, "c1", day)
	if count(a, "c1", day) != [2]int{3, 4} || count(a, "c2", day) != [2]int{1, 4} || count(a, "c3", day) != [2]int{0, 4} || count(b, "c1", day) != [2]int{1, 1} {
		t.Fatalf("counts %v %v %v %v", count(a, "c1", day), count(a, "c2", day), count(a, "c3", day), count(b, "c1", day))
	}
	if add(a, "c1", day+1) != [2]int{1, 1} || count(a, "c1", day+1) != [2]int{1, 1} {
		t.Fatal("a new day does not start at zero")
	}
	if count(a, "c1", day) != [2]int{0, 0} || count(b, "c1", day) != [2]int{0, 0} {
		t.Error("the rows of an earlier day were kept")
	}
	_, _, err := s.AddFailedConfirmation(ctx, "Y000022000001269999999", "c1", day+1)
	wantErr(t, err, issuer.ErrNotFound, "")
}

// Concurrent failures are all counted: the cap must hold against a client
// that sends its guesses at once, and against many clients.
func testConcurrentFailedConfirmations(t *testing.T, s ConfirmationStore) {
	ctx := t.Context()
	setup(t, s)
	number := issue(t, s, batch("b1", "alpha", "fp1"), prefixA, cert("alpha", 1, weld, 3, june30))[0]
	const n = 25
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.AddFailedConfirmation(ctx, number, []string{"c1", "c2"}[i%2], 7)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	mine, total, err := s.FailedConfirmations(ctx, number, "c1", 7)
	must(t, err)
	if total != n || mine != (n+1)/2 {
		t.Errorf("%d concurrent failures counted as %d (c1 %d, want %d)", n, total, mine, (n+1)/2)
	}
}
