// Package fault is the one error type of the issuing side: a failure a
// person can act on, said in Chinese and English, with a Kind the edge maps
// to an exit status (the command line) or an HTTP status (the console), and
// a Code a script can branch on.
//
// Every package under issuer returns these, from a checksum that does not
// add up (ident) to a roster that cannot be read (roster), a font that
// cannot print (render) or a rule a record breaks (issuer, which re-exports
// the type as issuer.Error). Nothing between the rule and the edge joins the
// two languages into one string or splits them apart again: the halves stay
// in their fields until the edge shows them.
//
//	if e, ok := fault.As(err); ok {
//		show(e.Zh, e.En)                    // what the person reads
//		status = statusOf(e.Kind)           // how the edge reacts
//	}
//	log.Error("...", "error", err)         // both halves, the code and the cause (LogValue)
package fault

import (
	"errors"
	"fmt"
	"log/slog"
)

// Kind classifies a failure so that the edge reacts without reading
// messages. It is an error itself, so errors.Is(err, fault.NotFound) works
// on any error that wraps a *Error.
type Kind int

const (
	// NotFound: the record does not exist, or belongs to a college the
	// actor may not see (the two are told apart by nobody).
	NotFound Kind = iota + 1
	// Invalid: the input breaks a rule; nothing was changed.
	Invalid
	// Conflict: the input clashes with what is stored (a duplicate
	// certificate, a concurrent change, a certificate no longer valid).
	Conflict
	// Forbidden: the actor may not do this.
	Forbidden
	// Unavailable: the server cannot do its part: the database or the key
	// store failed, or no usable font is configured.
	Unavailable
)

func (k Kind) Error() string {
	switch k {
	case NotFound:
		return "not found"
	case Invalid:
		return "invalid"
	case Conflict:
		return "conflict"
	case Forbidden:
		return "forbidden"
	case Unavailable:
		return "unavailable"
	}
	return "error"
}

// Error is a failure with a message for the person who caused it or has to
// deal with it. Code is stable and machine-readable ("id_checksum",
// "institution_suspended"); Zh and En say the same thing, Chinese first.
type Error struct {
	Kind Kind
	Code string
	Zh   string
	En   string
	// Err is the cause, for logs and errors.Is/As; it is never shown to a
	// user, who reads Zh and En.
	Err error
}

// Error returns both halves, Chinese first, for logs and for callers that
// only print.
func (e *Error) Error() string { return e.Zh + " / " + e.En }

// Unwrap exposes the kind (errors.Is(err, fault.Invalid)) and the cause.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// LogValue gives a log line the code, both halves and the cause: slog
// calls it for an *Error logged as an attribute, so the cause reaches the
// log without ever being part of a message a person reads.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("code", e.Code), slog.String("msg", e.Error())}
	if e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// Errorf builds an *Error; zh and en are format strings that share args.
func Errorf(kind Kind, code, zh, en string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Zh: fmt.Sprintf(zh, args...), En: fmt.Sprintf(en, args...)}
}

// As returns the outermost *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
