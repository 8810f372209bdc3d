package publog

import (
	"context"
	"crypto/sha256"

	"certd/issuer"
	"certd/issuer/tlog"
)

// InstitutionEntry is one log entry under an institution's id.
type InstitutionEntry struct {
	Index      uint64
	Kind       tlog.Kind
	Day        string
	Occupation string
	Level      int
	// Subject is what certd wrote the entry for (a certificate number, a
	// registration version, a key id); empty for an entry certd did not
	// write for this institution.
	Subject string
	Mine    bool
}

// InstitutionLog is what the log holds under one institution's id, as its
// console shows it.
type InstitutionLog struct {
	Size    uint64 // of the checkpoint replayed
	Entries []InstitutionEntry
	// Foreign are the entries under the institution's id that no outbox row
	// of it made: someone signed under its name outside certd (or a row was
	// deleted). The console warns about each.
	Foreign []InstitutionEntry
}

// OfInstitution replays the log from its public files (checking it as a
// monitor does) and returns the entries under institution id, each matched
// against the outbox rows certd wrote for it.
func OfInstitution(ctx context.Context, st issuer.LogStore, m *tlog.Monitor, id string) (*InstitutionLog, error) {
	mine := map[[32]byte]string{}
	for after := int64(0); ; {
		rs, err := st.LogRecords(ctx, issuer.LogFilter{InstitutionID: id, AfterID: after, Limit: 10000})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			mine[sha256.Sum256(r.Entry)] = r.Subject
		}
		if len(rs) < 10000 {
			break
		}
		after = rs[len(rs)-1].ID
	}
	out := &InstitutionLog{}
	cp, err := m.Replay(ctx, nil, 0, func(l tlog.Leaf) error {
		e, err := tlog.DecodeEntry(l.Data)
		if err != nil || e.Institution != id {
			return nil
		}
		subject, ok := mine[sha256.Sum256(l.Data)]
		ie := InstitutionEntry{Index: l.Index, Kind: e.Kind, Day: e.Day, Occupation: e.Occupation, Level: e.Level, Subject: subject, Mine: ok}
		out.Entries = append(out.Entries, ie)
		if !ok {
			out.Foreign = append(out.Foreign, ie)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out.Size = cp.Size
	return out, nil
}
