package issuer

import (
	"context"
	"crypto/ed25519"
	"time"
)

// LogItem is one entry of the public log (issuer/tlog) as a change writes it
// into the outbox, with what certd needs to find and prove it later.
type LogItem struct {
	Kind          string // tlog.Kind: issued, revoked, reissued, registration, key-added, key-retired
	InstitutionID string
	// Subject is what the entry is about: the certificate number for
	// certificate kinds, "<institution>@<version>" for a registration, the
	// key id for key events. It is private (never in the entry itself).
	Subject string
	// Salt is the certificate number's commitment salt (certificate kinds),
	// revealed only in that certificate's proof.
	Salt []byte
	// Entry is the canonical encoded entry (tlog.Entry.Encode).
	Entry []byte
}

// LogRecord is an outbox row: a LogItem, when it was committed, and its index
// in the log once the sequencer appended it.
type LogRecord struct {
	ID int64 // outbox order (commit order on SQLite; allocation order on PostgreSQL)
	LogItem
	CreatedAt time.Time
	Indexed   bool
	Index     uint64 // valid when Indexed
}

// LogFilter selects outbox rows. Zero fields do not filter.
type LogFilter struct {
	Subject       string
	InstitutionID string
	Kind          string
	AfterID       int64
	Pending       bool // only rows not yet in the log
	Limit         int
}

// LogKey is the log's checkpoint signing key, sealed under the KEK with the
// purpose tlog.KeyPurpose. The authority holds it.
type LogKey struct {
	Origin    string
	PublicKey ed25519.PublicKey
	Sealed    []byte
	CreatedAt time.Time
}

// LogStore is the outbox of the public log. Both store backends implement
// it (the conformance suite in store/storetest holds them to it). The rows
// are written by the changes themselves (AuditEvent.Log); only the
// sequencer, which appends them to the log, sets their indexes.
type LogStore interface {
	// LogRecords lists outbox rows matching f, in ID order.
	LogRecords(ctx context.Context, f LogFilter) ([]LogRecord, error)
	// MaxLogIndex is the highest recorded index, or -1 when none is.
	MaxLogIndex(ctx context.Context) (int64, error)
	// SetLogIndexes records, in one transaction, the log index of each row
	// (by ID). A row that already has another index, or an index that
	// another row holds, is ErrConflict and nothing is recorded.
	SetLogIndexes(ctx context.Context, idx map[int64]uint64) error
	// LogKey returns the log key, ErrNotFound before one is created.
	LogKey(ctx context.Context) (LogKey, error)
	// CreateLogKey stores the log key; ErrConflict if one exists.
	CreateLogKey(ctx context.Context, k LogKey) error
	// LockSequencer tries to become the one sequencer: on PostgreSQL it
	// takes a session advisory lock on a dedicated connection (ErrConflict
	// when another instance holds it). lost is closed if the lock is lost
	// (the connection died); release gives it up. SQLite has one serving
	// process and always grants it (the log directory's own lock keeps a
	// second appender out).
	LockSequencer(ctx context.Context) (lost <-chan struct{}, release func(), err error)
}
