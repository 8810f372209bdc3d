package web

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"certd/verify"
)

// Failed confirmations are capped per certificate, across all clients and
// instances. A masked name such as 张*丰 leaves a few thousand candidates,
// and with the QR's masked ID number only a birth date is left to guess
// through the ID confirmation, so a per-client budget alone would let one
// patient client (or many clients) walk through them. The price is that
// someone hammering one number can block name checks on it for the rest of
// the day; the QR code still works.
const (
	maxFailedConfirms = 20
	confirmWindowDays = 1
)

// failures counts failed confirmations per certificate: in Redis with the
// other limits when Redis is configured (shared by the instances), else in
// the database (verify.Store), so that a restart does not reset the cap.
type failures interface {
	// spent reports whether number has no failures left this window.
	spent(ctx context.Context, number string) (bool, error)
	// add counts one more.
	add(ctx context.Context, number string) error
}

// limiterFailures keeps the count in a limiter, which Redis shares.
type limiterFailures struct{ l *limiter }

func (f limiterFailures) spent(_ context.Context, number string) (bool, error) {
	return f.l.full(number), nil
}

func (f limiterFailures) add(_ context.Context, number string) error {
	f.l.allow(number, 1)
	return nil
}

// storeFailures keeps the count in the database.
type storeFailures struct {
	st  verify.Store
	now func() time.Time
}

// window is the day the count is kept under: the limiter's fixed windows,
// days since 1970-01-01 UTC.
func (f storeFailures) window() int64 {
	return f.now().Unix() / int64(confirmWindowDays*24*time.Hour/time.Second)
}

func (f storeFailures) spent(ctx context.Context, number string) (bool, error) {
	n, err := f.st.FailedConfirmations(ctx, number, f.window())
	return n >= maxFailedConfirms, err
}

func (f storeFailures) add(ctx context.Context, number string) error {
	_, err := f.st.AddFailedConfirmation(ctx, number, f.window())
	return err
}

// confirmLocks make check, compare and count one step per certificate on
// this instance: otherwise a burst of guesses sent at once would all pass
// the check before the first failure was counted, and get answers past the
// cap. Sharded by number; two certificates may share a lock, which costs
// only a wait.
var confirmLocks [64]sync.Mutex

func confirmLock(number string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(number))
	return &confirmLocks[h.Sum32()%uint32(len(confirmLocks))]
}

// checkMatch confirms a name (and optional ID number) against a record,
// counting failures against the certificate. ok is false when the
// certificate's budget of failures is spent (errConfirmLimited); nothing
// was compared then. err is a count that could not be read or written:
// the check is refused rather than made uncounted.
func (h *handlers) checkMatch(ctx context.Context, rec *verify.Record, name, idNumber string) (m verify.Match, ok bool, err error) {
	mu := confirmLock(rec.Number)
	mu.Lock()
	defer mu.Unlock()
	if spent, err := h.misses.spent(ctx, rec.Number); err != nil || spent {
		return verify.Match{}, false, err
	}
	m = rec.Confirm(name, idNumber)
	if !m.Name || (m.IDNumber != nil && !*m.IDNumber) {
		if err := h.misses.add(ctx, rec.Number); err != nil {
			return verify.Match{}, false, err
		}
	}
	return m, true, nil
}
