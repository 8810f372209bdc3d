package issuer

import (
	"errors"
	"fmt"
)

// Kind classifies an error so that the edge (CLI exit status, HTTP status)
// can react without inspecting messages. It implements error itself, so a
// caller writes errors.Is(err, issuer.ErrNotFound).
type Kind int

const (
	// ErrNotFound: the certificate, institution or batch does not exist.
	ErrNotFound Kind = iota + 1
	// ErrInvalid: the input breaks a rule; nothing was changed.
	ErrInvalid
	// ErrConflict: the input clashes with what is stored (a duplicate
	// certificate, a concurrent change, a certificate no longer valid).
	ErrConflict
	// ErrForbidden: the actor may not act for this institution.
	ErrForbidden
	// ErrUnavailable: a backing service (database, key store) failed.
	ErrUnavailable
)

func (k Kind) Error() string {
	switch k {
	case ErrNotFound:
		return "not found"
	case ErrInvalid:
		return "invalid"
	case ErrConflict:
		return "conflict"
	case ErrForbidden:
		return "forbidden"
	case ErrUnavailable:
		return "unavailable"
	}
	return "error"
}

// Error is a rule violation or failure with a bilingual message for the
// person who caused it. Code is stable and machine-readable (for example
// "scope_level" or "institution_suspended").
type Error struct {
	Kind Kind
	Code string
	Zh   string
	En   string
	Err  error // optional cause, for logs; never shown to users
}

func (e *Error) Error() string { return e.Zh + " / " + e.En }

// Unwrap exposes both the kind (for errors.Is(err, ErrInvalid)) and the cause.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// Errorf builds an *Error; zh and en are format strings sharing args.
func Errorf(kind Kind, code, zh, en string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Zh: fmt.Sprintf(zh, args...), En: fmt.Sprintf(en, args...)}
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
