package publog

import (
	"context"
	"strconv"

	"certd/issuer"
	"certd/issuer/tlog"
)

// BackfillStore is what Backfill reads and writes.
type BackfillStore interface {
	issuer.LogStore
	Certificates(ctx context.Context, f issuer.CertificateFilter) ([]issuer.Certificate, error)
	AppendAudit(ctx context.Context, ev issuer.AuditEvent) error
}

// Backfill gives every certificate that has no issuance entry (one issued
// before the deployment ran the log) its entries: issued, and revoked if it
// is, dated by the record. It returns how many certificates it logged.
//
// What this proves is weaker than for a certificate logged when it was
// issued: the log then says only that the record existed when the backfill
// ran (its checkpoint's cosignatures), not when it was signed; a record
// inserted into the database before the backfill is logged like the others.
// The audit line "log.backfill" says when it happened.
func Backfill(ctx context.Context, st BackfillStore) (int, error) {
	logged := map[string]bool{}
	for after := int64(0); ; {
		rs, err := st.LogRecords(ctx, issuer.LogFilter{AfterID: after, Limit: 10000})
		if err != nil {
			return 0, err
		}
		for _, r := range rs {
			if r.Kind == string(tlog.Issued) || r.Kind == string(tlog.Reissued) {
				logged[r.Subject] = true
			}
		}
		if len(rs) < 10000 {
			break
		}
		after = rs[len(rs)-1].ID
	}
	n := 0
	var items []issuer.LogItem
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		err := st.AppendAudit(ctx, issuer.AuditEvent{Actor: "certd", Action: "log.backfill", Subject: "public-log",
			Detail: `{"entries":` + strconv.Itoa(len(items)) + `}`, Log: items})
		items = nil
		return err
	}
	for after := ""; ; {
		cs, err := st.Certificates(ctx, issuer.CertificateFilter{After: after, Limit: 2000})
		if err != nil {
			return n, err
		}
		for _, c := range cs {
			if logged[c.Number] {
				continue
			}
			salt, err := tlog.NewSalt()
			if err != nil {
				return n, err
			}
			e, err := issuer.CertificateEntry(tlog.Issued, c.InstitutionID, c.KID, c.Occupation, int(c.Level), c.Number, c.Token, salt, tlog.Hash{}, c.IssuedAt)
			if err != nil {
				continue // a record that is not a strict JWS: the auditor names it
			}
			b, err := e.Encode()
			if err != nil {
				continue
			}
			items = append(items, issuer.LogItem{Kind: string(tlog.Issued), InstitutionID: c.InstitutionID, Subject: c.Number, Salt: salt, Entry: b})
			if c.Status == issuer.Revoked && c.Revocation != nil {
				e.Kind, e.Day = tlog.Revoked, tlog.DayOf(c.Revocation.At)
				if b, err := e.Encode(); err == nil {
					items = append(items, issuer.LogItem{Kind: string(tlog.Revoked), InstitutionID: c.InstitutionID, Subject: c.Number, Salt: salt, Entry: b})
				}
			}
			n++
			if len(items) >= 1000 {
				if err := flush(); err != nil {
					return n, err
				}
			}
		}
		if len(cs) < 2000 {
			break
		}
		after = cs[len(cs)-1].Number
	}
	return n, flush()
}
