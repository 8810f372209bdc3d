package issuer

import "time"

// Receipt is a verification receipt (核验回执): what the public side
// recorded of a check, kept so that anyone who has its reference can look
// it up again. Body is the public side's own JSON (verify/web); the store
// keeps it as given. A receipt records no more personal data than the
// public verification page shows (a masked name, no ID number) and, for a
// batch, per row only the number, the conclusion and whether the holder
// matched: never the names or ID numbers a clerk checked.
type Receipt struct {
	// Ref is the reference: random, unguessable (100 bits), the only key.
	Ref       string
	Kind      string // "certificate", "pdf", "credential", "batch"
	CreatedAt time.Time
	// ExpiresAt is when the receipt stops being answered; the store drops
	// expired receipts as new ones are added.
	ExpiresAt time.Time
	Body      []byte
}

// MaxReceiptBody bounds a receipt's stored body: a batch of 1,000 rows is
// about 100 KB.
const MaxReceiptBody = 256 << 10
