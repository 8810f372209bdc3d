package verify

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

// confirmMsg is shown when a certificate's budget is spent.
const (
	confirmLimitedZh = "该证书今日姓名核对失败次数过多，请使用证书上的二维码或明日再试"
	confirmLimitedEn = "too many failed name checks for this certificate today; use the QR code on the certificate or try again tomorrow"
)

// checkMatch confirms a name (and optional ID number) against a record,
// counting failures against the certificate. ok is false when the
// certificate's budget of failures is spent; nothing was compared then.
func (h *handlers) checkMatch(rec *Record, name, idNumber string) (m Match, ok bool) {
	if h.misses.full(rec.Number) {
		return Match{}, false
	}
	m = rec.Confirm(name, idNumber)
	if !m.Name || (m.IDNumber != nil && !*m.IDNumber) {
		h.misses.allow(rec.Number, 1)
	}
	return m, true
}
