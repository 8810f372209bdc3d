package issuer

import (
	"errors"

	"certd/issuer/fault"
)

// Error is a rule violation or failure with a bilingual message for the
// person who caused it: the one error type of the issuing side (see package
// fault), under the name callers of this package know it by.
type Error = fault.Error

// Kind classifies an *Error so that the edge (exit status, HTTP status)
// reacts without reading messages; errors.Is(err, issuer.ErrNotFound) works.
type Kind = fault.Kind

// The kinds.
const (
	// ErrNotFound: the certificate, institution or batch does not exist,
	// or belongs to a college the actor may not see.
	ErrNotFound = fault.NotFound
	// ErrInvalid: the input breaks a rule; nothing was changed.
	ErrInvalid = fault.Invalid
	// ErrConflict: the input clashes with what is stored (a duplicate
	// certificate, a concurrent change, a certificate no longer valid).
	ErrConflict = fault.Conflict
	// ErrForbidden: the actor may not act for this institution.
	ErrForbidden = fault.Forbidden
	// ErrUnavailable: a backing service (database, key store, font) failed.
	ErrUnavailable = fault.Unavailable
)

// Errorf builds an *Error; zh and en are format strings sharing args.
func Errorf(kind Kind, code, zh, en string, args ...any) *Error {
	return fault.Errorf(kind, code, zh, en, args...)
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) { return fault.As(err) }

// halves returns what a person reads of err: the two halves of an *Error,
// or for anything else its text as both.
func halves(err error) (zh, en string) {
	if e, ok := AsError(err); ok {
		return e.Zh, e.En
	}
	return err.Error(), err.Error()
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return errors.Is(err, k) }
