package web

import "certd/verify"

// Failed confirmations are capped per certificate, across all clients and
// instances. A masked name such as 张*丰 leaves a few thousand candidates,
// so a per-client budget alone would let one patient client (or many
// clients) walk through them and then use the unlocked record to attack the
// ID number hash. The price is that someone hammering one number can block
// name checks on it for the rest of the day; the QR code still works.
const (
	maxFailedConfirms = 20
	confirmWindowDays = 1
)

// checkMatch confirms a name (and optional ID number) against a record,
// counting failures against the certificate. ok is false when the
// certificate's budget of failures is spent (errConfirmLimited); nothing
// was compared then.
func (h *handlers) checkMatch(rec *verify.Record, name, idNumber string) (m verify.Match, ok bool) {
	if h.misses.full(rec.Number) {
		return verify.Match{}, false
	}
	m = rec.Confirm(name, idNumber)
	if !m.Name || (m.IDNumber != nil && !*m.IDNumber) {
		h.misses.allow(rec.Number, 1)
	}
	return m, true
}
