package issuer

import (
	"context"
	"fmt"
	"time"

	"certd/issuer/tlog"
)

// The public log (issue 11, docs/tlog.md). Every change it records carries
// its entries in the change's audit event (AuditEvent.Log); the store writes
// them to the outbox in the same transaction, and the sequencer appends them
// to the log. The helpers here build those entries. A change whose entry
// cannot be built (a malformed record) fails: nothing is committed unlogged.

// logStore is the store's outbox, when it has one (both backends do).
func (s *Service) logStore() (LogStore, bool) {
	ls, ok := s.store.(LogStore)
	return ls, ok
}

// RegistrationSubject is the outbox subject of a registration version.
func RegistrationSubject(institutionID string, version int) string {
	return fmt.Sprintf("%s@%d", institutionID, version)
}

func logItem(kind tlog.Kind, subject string, salt []byte, e tlog.Entry) (LogItem, error) {
	e.Kind = kind
	b, err := e.Encode()
	if err != nil {
		return LogItem{}, &Error{Kind: ErrInvalid, Code: "log_entry", Zh: "无法生成公开日志条目", En: "cannot build the public log entry", Err: err}
	}
	return LogItem{Kind: string(kind), InstitutionID: e.Institution, Subject: subject, Salt: salt, Entry: b}, nil
}

// CertificateEntry is the log entry of a certificate event: kind Issued,
// Revoked or Reissued (with replaces, the superseded certificate's number
// commitment), on day at. A verifier rebuilds it from the signed record and
// the salt its proof reveals.
func CertificateEntry(kind tlog.Kind, institutionID, kid, occupationCode string, level int, number, token string, salt []byte, replaces tlog.Hash, at time.Time) (tlog.Entry, error) {
	num, err := tlog.CommitNumber(salt, number)
	if err != nil {
		return tlog.Entry{}, err
	}
	rec, err := tlog.CommitRecord(token)
	if err != nil {
		return tlog.Entry{}, err
	}
	return tlog.Entry{Kind: kind, Institution: institutionID, KeyID: kid, Occupation: occupationCode, Level: level,
		Day: tlog.DayOf(at), Number: num, Replaces: replaces, Record: rec}, nil
}

// certItem builds the outbox item of a certificate event.
func certItem(kind tlog.Kind, c *Certificate, salt []byte, replaces tlog.Hash, at time.Time) (LogItem, error) {
	e, err := CertificateEntry(kind, c.InstitutionID, c.KID, c.Occupation, int(c.Level), c.Number, c.Token, salt, replaces, at)
	if err != nil {
		return LogItem{}, &Error{Kind: ErrInvalid, Code: "log_entry", Zh: "无法生成公开日志条目", En: "cannot build the public log entry", Err: err}
	}
	return logItem(kind, c.Number, salt, e)
}

// NumberSalt returns the salt of a certificate's number commitment: the one
// its first outbox row holds. ok is false for a certificate that never
// reached the outbox (one issued before the log, or written straight into
// the database).
func NumberSalt(ctx context.Context, ls LogStore, number string) ([]byte, bool, error) {
	rs, err := ls.LogRecords(ctx, LogFilter{Subject: number})
	if err != nil {
		return nil, false, err
	}
	for _, r := range rs {
		if len(r.Salt) > 0 {
			return r.Salt, true, nil
		}
	}
	return nil, false, nil
}

// saltFor is NumberSalt, or a fresh salt for a certificate without one (its
// later events are still logged; the auditor reports the missing issuance).
func saltFor(ctx context.Context, ls LogStore, number string) ([]byte, error) {
	salt, ok, err := NumberSalt(ctx, ls, number)
	if err != nil || ok {
		return salt, err
	}
	return tlog.NewSalt()
}

// registrationItems builds the entries of a registration version: the
// version itself (signed by the authority key akid), and each key added or
// retired with it.
func registrationItems(in Institution, akid string, newKeys []SigningKey, at time.Time) ([]LogItem, error) {
	rec, err := tlog.CommitRecord(in.Token)
	if err != nil {
		return nil, &Error{Kind: ErrInvalid, Code: "log_entry", Zh: "无法生成公开日志条目", En: "cannot build the public log entry", Err: err}
	}
	day := tlog.DayOf(at)
	it, err := logItem(tlog.Registration, RegistrationSubject(in.ID, in.Version), nil, tlog.Entry{Institution: in.ID, KeyID: akid, Day: day, Record: rec})
	if err != nil {
		return nil, err
	}
	out := []LogItem{it}
	for _, k := range newKeys {
		kind := tlog.KeyAdded
		if !k.RetiredAt.IsZero() {
			kind = tlog.KeyRetired
		}
		it, err := logItem(kind, k.KID, nil, tlog.Entry{Institution: in.ID, KeyID: k.KID, Day: day, Record: rec})
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}
