package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"certd/issuer"
)

// ReceiptStore is a backend that keeps verification receipts (issue 13
// point 9), as both shipped backends do.
type ReceiptStore interface {
	issuer.Store
	PutReceipt(ctx context.Context, r issuer.Receipt) error
	Receipt(ctx context.Context, ref string) (issuer.Receipt, error)
}

// RunReceipts runs the conformance suite of receipt storage. open has the
// same contract as for Run.
func RunReceipts(t *testing.T, open func(t *testing.T) ReceiptStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, ReceiptStore)
	}{
		{"RoundTrip", testReceiptRoundTrip},
		{"Refused", testReceiptRefused},
		{"Expiry", testReceiptExpiry},
		{"Concurrent", testConcurrentReceipts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

func receipt(ref string, at time.Time, body string) issuer.Receipt {
	return issuer.Receipt{Ref: ref, Kind: "batch", CreatedAt: at, ExpiresAt: at.AddDate(5, 0, 0), Body: []byte(body)}
}

// A receipt reads back as it was put, times to the microsecond in UTC and
// the body byte for byte (a batch's near the size bound too); an unknown
// reference is ErrNotFound; a reference is never taken twice.
func testReceiptRoundTrip(t *testing.T, s ReceiptStore) {
	ctx := t.Context()
	_, err := s.Receipt(ctx, "NOPE")
	wantErr(t, err, issuer.ErrNotFound, "")
	big := bytes.Repeat([]byte(`{"n":"Y000022000009263000001","c":"valid","m":true},`), issuer.MaxReceiptBody/60)
	for i, r := range []issuer.Receipt{
		receipt("ABCD-EFGH-JKLM-NPQR-STUV", t0.In(issuer.ChinaTime), `{"kind":"certificate","name":"欧阳**"}`),
		receipt("WXYZ-2345-6789-ABCD-EFGH", t0.Add(time.Hour), string(big)),
	} {
		must(t, s.PutReceipt(ctx, r))
		got, err := s.Receipt(ctx, r.Ref)
		must(t, err)
		r.CreatedAt, r.ExpiresAt = r.CreatedAt.UTC().Truncate(time.Microsecond), r.ExpiresAt.UTC().Truncate(time.Microsecond)
		equal(t, fmt.Sprintf("receipt %d", i), got, r)
	}
	again := receipt("ABCD-EFGH-JKLM-NPQR-STUV", t0.Add(2*time.Hour), `{"other":true}`)
	wantErr(t, s.PutReceipt(ctx, again), issuer.ErrConflict, "receipt_ref_taken")
	got, err := s.Receipt(ctx, again.Ref)
	must(t, err)
	if string(got.Body) != `{"kind":"certificate","name":"欧阳**"}` {
		t.Errorf("a second put under a taken reference replaced the body: %s", got.Body)
	}
}

// Receipts the stores must not keep are refused before anything is
// written: no reference, no kind, an expiry not after creation, an empty
// body, a body over the bound.
func testReceiptRefused(t *testing.T, s ReceiptStore) {
	ctx := t.Context()
	ok := receipt("GOOD-REF0-0000-0000-0000", t0, "{}")
	for _, tc := range []struct {
		name string
		edit func(*issuer.Receipt)
	}{
		{"no reference", func(r *issuer.Receipt) { r.Ref = "" }},
		{"no kind", func(r *issuer.Receipt) { r.Kind = "" }},
		{"expires at creation", func(r *issuer.Receipt) { r.ExpiresAt = r.CreatedAt }},
		{"empty body", func(r *issuer.Receipt) { r.Body = nil }},
		{"body too large", func(r *issuer.Receipt) { r.Body = make([]byte, issuer.MaxReceiptBody+1) }},
	} {
		r := ok
		tc.edit(&r)
		if err := s.PutReceipt(ctx, r); !issuer.Is(err, issuer.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
		}
	}
	_, err := s.Receipt(ctx, ok.Ref)
	wantErr(t, err, issuer.ErrNotFound, "")
}

// An expired receipt is still read until a new one is put after its
// expiry, which drops it; receipts not yet expired stay.
func testReceiptExpiry(t *testing.T, s ReceiptStore) {
	ctx := t.Context()
	old := receipt("OLD0-0000-0000-0000-0000", t0, "{}")
	old.ExpiresAt = t0.Add(time.Hour)
	keep := receipt("KEEP-0000-0000-0000-0000", t0, "{}")
	must(t, s.PutReceipt(ctx, old))
	must(t, s.PutReceipt(ctx, keep))
	got, err := s.Receipt(ctx, old.Ref)
	must(t, err)
	if !got.ExpiresAt.Equal(old.ExpiresAt) {
		t.Fatalf("expiry %v, want %v", got.ExpiresAt, old.ExpiresAt)
	}
	must(t, s.PutReceipt(ctx, receipt("NEW0-0000-0000-0000-0000", t0.Add(2*time.Hour), "{}")))
	_, err = s.Receipt(ctx, old.Ref)
	wantErr(t, err, issuer.ErrNotFound, "")
	_, err = s.Receipt(ctx, keep.Ref)
	must(t, err)
}

// Receipts put at once are all kept, each under its own reference.
func testConcurrentReceipts(t *testing.T, s ReceiptStore) {
	ctx := t.Context()
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.PutReceipt(ctx, receipt(fmt.Sprintf("CONC-%04d", i), t0, fmt.Sprintf(`{"i":%d}`, i)))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	for i := range n {
		got, err := s.Receipt(ctx, fmt.Sprintf("CONC-%04d", i))
		must(t, err)
		if string(got.Body) != fmt.Sprintf(`{"i":%d}`, i) {
			t.Errorf("receipt %d: %s", i, got.Body)
		}
	}
}
