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
	FailedConfirmations(ctx context.Context, number string, day int64) (int, error)
	AddFailedConfirmation(ctx context.Context, number string, day int64) (int, error)
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

// Counts are per certificate and day; a new day starts at zero and removes
// the rows of the days before it; an unknown number cannot be counted.
func testFailedConfirmationCounts(t *testing.T, s ConfirmationStore) {
	ctx := t.Context()
	setup(t, s)
	numbers := issue(t, s, batch("b1", "alpha", "fp1"), prefixA, cert("alpha", 1, weld, 3, june30), cert("alpha", 2, weld, 3, june30))
	a, b := numbers[0], numbers[1]
	const day = 20640
	count := func(number string, d int64) int {
		t.Helper()
		n, err := s.FailedConfirmations(ctx, number, d)
		must(t, err)
		return n
	}
	add := func(number string, d int64) int {
		t.Helper()
		n, err := s.AddFailedConfirmation(ctx, number, d)
		must(t, err)
		return n
	}
	if count(a, day) != 0 {
		t.Fatal("a certificate without failures has a count")
	}
	for i := 1; i <= 3; i++ {
		if n := add(a, day); n != i {
			t.Fatalf("add %d returned %d", i, n)
		}
	}
	add(b, day)
	if count(a, day) != 3 || count(b, day) != 1 {
		t.Fatalf("counts %d and %d, want 3 and 1", count(a, day), count(b, day))
	}
	if add(a, day+1) != 1 || count(a, day+1) != 1 {
		t.Fatal("a new day does not start at zero")
	}
	if count(a, day) != 0 || count(b, day) != 0 {
		t.Error("the rows of an earlier day were kept")
	}
	_, err := s.AddFailedConfirmation(ctx, "Y000022000001269999999", day+1)
	wantErr(t, err, issuer.ErrNotFound, "")
}

// Concurrent failures are all counted: the cap must hold against a client
// that sends its guesses at once.
func testConcurrentFailedConfirmations(t *testing.T, s ConfirmationStore) {
	ctx := t.Context()
	setup(t, s)
	number := issue(t, s, batch("b1", "alpha", "fp1"), prefixA, cert("alpha", 1, weld, 3, june30))[0]
	const n = 25
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.AddFailedConfirmation(ctx, number, 7)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	got, err := s.FailedConfirmations(ctx, number, 7)
	must(t, err)
	if got != n {
		t.Errorf("%d concurrent failures counted as %d", n, got)
	}
}
