package statuslist

import (
	"fmt"
)

// Error is one kind of failure, with a message for the person who meets
// it: Chinese first, then English. Every error this package returns wraps
// exactly one of the Err values below, so a caller tests it with errors.Is
// and maps it to an HTTP status or a verdict at the edge. Two errors come
// from the caller and are passed on as they are: a KeyLookup's (which
// should wrap ErrUnknownKey for a kid that is not the issuer's, and
// something else for a store that failed) and a failure of RandomFree's
// randomness source.
type Error struct {
	Code string // stable and machine-readable, for logs and APIs
	Zh   string
	En   string
}

func (e *Error) Error() string { return e.Zh + " / " + e.En }

// The kinds of failure. The W3C error each one corresponds to, where there
// is one, is named in its comment (Bitstring Status List §3.5 and VC Data
// Model 2.0 §7.1), so that the web API can report it as Problem Details.
var (
	// ErrEncoding: encodedList is not "u" + base64url (no padding) of one
	// complete GZIP member: wrong multibase prefix, bad base64, not GZIP,
	// truncated, a bad checksum, or data after the end. MALFORMED_VALUE_ERROR.
	ErrEncoding = &Error{"status_list_encoding", "状态列表编码无效", "status list encoding is invalid"}
	// ErrTooLarge: the encoded or decompressed list is over the bounds
	// (MaxEncodedLen, MaxBits); the decoder stopped reading there.
	ErrTooLarge = &Error{"status_list_too_large", "状态列表超过大小上限", "status list exceeds the size limit"}
	// ErrLength: the bitstring is shorter than MinBits (herd privacy), or
	// not a whole number of bytes. STATUS_LIST_LENGTH_ERROR.
	ErrLength = &Error{"status_list_length", "状态列表长度不符合要求", "status list length is not allowed"}
	// ErrRange: an index outside the list. RANGE_ERROR.
	ErrRange = &Error{"status_index_range", "状态索引超出列表范围", "status index is outside the list"}
	// ErrFull: no free index is left in the list.
	ErrFull = &Error{"status_list_full", "状态列表已无空闲索引", "status list has no free index"}
	// ErrMalformed: the status list credential or the credentialStatus
	// entry is not of the shape certd publishes. MALFORMED_VALUE_ERROR.
	ErrMalformed = &Error{"status_malformed", "状态数据格式错误", "malformed status data"}
	// ErrUnknownKey: the list's kid names no key of the expected issuer.
	// STATUS_VERIFICATION_ERROR.
	ErrUnknownKey = &Error{"status_list_unknown_key", "状态列表签名密钥不属于该机构", "status list is signed with a key that is not the institution's"}
	// ErrBadSignature: the signature does not verify. STATUS_VERIFICATION_ERROR.
	ErrBadSignature = &Error{"status_list_bad_signature", "状态列表签名无效", "status list signature does not verify"}
	// ErrWrongIssuer: the list names another issuer than the expected one.
	// STATUS_VERIFICATION_ERROR.
	ErrWrongIssuer = &Error{"status_list_wrong_issuer", "状态列表不是该机构发布的", "status list is not the institution's"}
	// ErrWrongPurpose: a purpose other than revocation. STATUS_VERIFICATION_ERROR.
	ErrWrongPurpose = &Error{"status_wrong_purpose", "状态用途不是撤销", "status purpose is not revocation"}
	// ErrForeignList: a credentialStatus entry points at a list outside the
	// expected institution's list address, or at another list than the one
	// given. STATUS_VERIFICATION_ERROR.
	ErrForeignList = &Error{"status_foreign_list", "状态条目指向其他机构或其他列表", "status entry points at another institution's or another list"}
	// ErrStale: the list's ttl (or the verifier's maximum age) or its
	// validUntil has passed. The status cannot be determined from it.
	ErrStale = &Error{"status_list_stale", "状态列表已过时，无法确定当前状态", "status list is stale; the current status cannot be determined"}
	// ErrNotYetValid: the list's validFrom is ahead of the verifier's
	// clock by more than ClockSkew.
	ErrNotYetValid = &Error{"status_list_not_yet_valid", "状态列表尚未生效（请检查本机时钟）", "status list is not valid yet (check this computer's clock)"}
)

// detailed is a kind with the particulars of one failure. It unwraps to its
// kind (and to the cause, for logs), and prints both languages in order.
type detailed struct {
	kind   *Error
	zh, en string
	cause  error
}

func (d *detailed) Error() string {
	s := d.kind.Zh + "：" + d.zh + " / " + d.kind.En + ": " + d.en
	if d.cause != nil {
		s += " (" + d.cause.Error() + ")"
	}
	return s
}

func (d *detailed) Unwrap() []error {
	if d.cause != nil {
		return []error{d.kind, d.cause}
	}
	return []error{d.kind}
}

// fail builds a detailed error; zh and en are format strings sharing args.
func fail(kind *Error, zh, en string, args ...any) error {
	return &detailed{kind: kind, zh: fmt.Sprintf(zh, args...), en: fmt.Sprintf(en, args...)}
}

// failCause is fail with an underlying error kept for logs.
func failCause(kind *Error, cause error, zh, en string, args ...any) error {
	return &detailed{kind: kind, zh: fmt.Sprintf(zh, args...), en: fmt.Sprintf(en, args...), cause: cause}
}
