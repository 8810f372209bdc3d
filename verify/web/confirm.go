package web

import (
	"context"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"certd/issuer"
	"certd/verify"
)

// Failed name checks are counted per client and certificate, and per
// certificate. A masked name such as 张*丰 leaves a few thousand
// candidates, and with the QR's masked ID number only a birth date is left
// to guess through the ID confirmation, so the counts bound guessing; but
// they must never let a stranger deny a certificate's name check to
// others (issue 13 point 2). So:
//
//   - A client (an address, an IPv6 /64) gets maxClientFailures failed
//     checks per certificate a day. Past them only this client is refused
//     on this certificate; everyone else is unaffected.
//   - A certificate that has had maxFailedConfirms failed checks a day from
//     all clients together shows a guessing pattern. From then on a client
//     that has already failed on it today is refused, and a client that
//     has not gets its check (one try: a failure makes it one that has).
//     So a single stranger cannot lock the certificate, the real employer's
//     first check and a credit office's bulk row of a correct name still
//     work, and guessers are held to one try per address beyond the
//     twentieth (docs/security.md says what that bound is worth). ID
//     numbers are not checked then (Match.IDNotChecked): the hidden digits
//     of the QR's masked ID number are a birth date, and one try per
//     address must not walk through them.
//
// The QR code's holder path (?c=CODE) needs no name check and is never
// limited; a refused name check still shows the verdict.
const (
	maxFailedConfirms = 20
	maxClientFailures = 5
	confirmWindowDays = 1
)

// failures counts failed confirmations per certificate and client: in
// Redis with the other limits when Redis is configured (shared by the
// instances), else in the database (verify.Store), so that a restart does
// not reset the caps.
type failures interface {
	// counts returns the client's failures on number this window and
	// everyone's.
	counts(ctx context.Context, number, client string) (mine, total int, err error)
	// add counts one more.
	add(ctx context.Context, number, client string) error
}

// limiterFailures keeps the counts in two limiters, which Redis shares:
// per certificate, and per client and certificate.
type limiterFailures struct{ cert, client *limiter }

func (f limiterFailures) counts(_ context.Context, number, client string) (int, int, error) {
	return int(f.client.count(client + "/" + number)), int(f.cert.count(number)), nil
}

func (f limiterFailures) add(_ context.Context, number, client string) error {
	f.cert.allow(number, 1)
	f.client.allow(client+"/"+number, 1)
	return nil
}

// storeFailures keeps the counts in the database.
type storeFailures struct {
	st  verify.Store
	now func() time.Time
}

// window is the day the count is kept under: the limiter's fixed windows,
// days since 1970-01-01 UTC.
func (f storeFailures) window() int64 {
	return f.now().Unix() / int64(confirmWindowDays*24*time.Hour/time.Second)
}

func (f storeFailures) counts(ctx context.Context, number, client string) (int, int, error) {
	return f.st.FailedConfirmations(ctx, number, client, f.window())
}

func (f storeFailures) add(ctx context.Context, number, client string) error {
	_, _, err := f.st.AddFailedConfirmation(ctx, number, client, f.window())
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

// Why a name check was refused; both leave the verdict shown.
var (
	// errClientLimited: this client's own failures on this certificate.
	errClientLimited = issuer.Errorf(issuer.ErrForbidden, codeConfirmLimited,
		"您的网络今日对该证书的姓名核对已失败%d次，今日不再受理来自您网络的该证书姓名核对。这只限制姓名核对，不影响证书的核验结论，也不影响其他查询者；持证人可出示证书上的二维码查看完整信息",
		"name checks of this certificate from your network failed %d times today, so no more are taken from your network today. Only the name check is limited: the verdict stands, and other people's checks are unaffected; the holder can show the QR code on the certificate for the full details",
		maxClientFailures)
	// errGuessing: the certificate shows a guessing pattern and this
	// client has failed on it today.
	errGuessing = issuer.Errorf(issuer.ErrForbidden, codeConfirmLimited,
		"该证书今日已收到大量不一致的姓名核对（疑似有人猜测持证人姓名），为保护持证人，今日已核对失败过的网络不能再核对该证书的姓名。这只限制姓名核对，不影响证书的核验结论；持证人可出示证书上的二维码查看完整信息",
		"this certificate has had many failed name checks today (someone may be guessing the holder's name); to protect the holder, networks that have failed on it today cannot check its name again today. Only the name check is limited: the verdict stands; the holder can show the QR code on the certificate for the full details")
)

// checkMatch confirms a name (and optional ID number) against a record,
// counting failures against the client and the certificate. refused is
// the reason, when the check was not made (nothing was compared then). err
// is a count that could not be read or written: the check is refused
// rather than made uncounted.
func (h *handlers) checkMatch(ctx context.Context, rec *verify.Record, client, name, idNumber string) (m verify.Match, refused *issuer.Error, err error) {
	mu := confirmLock(rec.Number)
	mu.Lock()
	defer mu.Unlock()
	mine, total, err := h.misses.counts(ctx, rec.Number, client)
	switch {
	case err != nil:
		return verify.Match{}, nil, err
	case mine >= maxClientFailures:
		h.m.confirmRefused.WithLabelValues("client").Inc()
		return verify.Match{}, errClientLimited, nil
	case total >= maxFailedConfirms && mine > 0:
		h.m.confirmRefused.WithLabelValues("guessing").Inc()
		return verify.Match{}, errGuessing, nil
	}
	guarded := total >= maxFailedConfirms
	if guarded && strings.TrimSpace(idNumber) != "" {
		// A fresh client's one try checks the name only: with the QR's
		// masked ID number the rest is a birth date, and one try per
		// address would walk through them.
		m = rec.Confirm(name, "")
		m.IDNotChecked = true
	} else {
		m = rec.Confirm(name, idNumber)
	}
	if !m.Name || (m.IDNumber != nil && !*m.IDNumber) {
		if err := h.misses.add(ctx, rec.Number, client); err != nil {
			return verify.Match{}, nil, err
		}
	}
	return m, nil, nil
}
