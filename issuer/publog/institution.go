package publog

import (
	"context"
	"crypto/sha256"
	"sync"

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
// against the outbox rows certd wrote for it. It replays the whole log;
// InstitutionLogs keeps what was replayed and reads only what is new.
func OfInstitution(ctx context.Context, st issuer.LogStore, m *tlog.Monitor, id string) (*InstitutionLog, error) {
	var c replayed
	if err := c.extend(ctx, m, id); err != nil {
		return nil, err
	}
	return c.match(ctx, st, id)
}

// InstitutionLogs answers OfInstitution from what it replayed before: the
// log is append-only and each new checkpoint must extend the one replayed
// last (a consistency proof), so only the entries added since are fetched
// and hashed. The outbox rows are read again each time, so a row deleted
// since the last view still turns its entry foreign. It keeps at most Max
// institutions (64 if 0), each in the memory of its own entries.
type InstitutionLogs struct {
	Store   issuer.LogStore
	Monitor *tlog.Monitor
	Max     int

	mu   sync.Mutex
	logs map[string]*replayed
}

// replayed is what a replay found under one institution up to a checkpoint.
type replayed struct {
	mu      sync.Mutex // one replay of an institution at a time
	note    []byte     // the checkpoint replayed to, as accepted
	size    uint64
	entries []replayedEntry
}

type replayedEntry struct {
	InstitutionEntry
	hash [32]byte // of the entry's data, matched against the outbox
}

// Of returns institution id's log as OfInstitution would.
func (ls *InstitutionLogs) Of(ctx context.Context, id string) (*InstitutionLog, error) {
	ls.mu.Lock()
	if ls.logs == nil {
		ls.logs = map[string]*replayed{}
	}
	c, ok := ls.logs[id]
	if !ok {
		if max := ls.Max; len(ls.logs) >= max && max > 0 || max == 0 && len(ls.logs) >= 64 {
			for k := range ls.logs { // any one: a view costs a full replay again
				delete(ls.logs, k)
				break
			}
		}
		c = &replayed{}
		ls.logs[id] = c
	}
	ls.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.extend(ctx, ls.Monitor, id); err != nil {
		// Whatever was wrong (a log that does not extend the replayed one
		// among others) is said at every view, from scratch.
		ls.mu.Lock()
		if ls.logs[id] == c {
			delete(ls.logs, id)
		}
		ls.mu.Unlock()
		return nil, err
	}
	return c.match(ctx, ls.Store, id)
}

// extend replays the log from where c ended to the current checkpoint,
// which must extend c's, and keeps the entries under id. c is unchanged
// if the replay fails.
func (c *replayed) extend(ctx context.Context, m *tlog.Monitor, id string) error {
	var added []replayedEntry
	cp, err := m.Replay(ctx, c.note, c.size, func(l tlog.Leaf) error {
		e, err := tlog.DecodeEntry(l.Data)
		if err != nil || e.Institution != id {
			return nil
		}
		added = append(added, replayedEntry{InstitutionEntry{Index: l.Index, Kind: e.Kind, Day: e.Day, Occupation: e.Occupation, Level: e.Level},
			sha256.Sum256(l.Data)})
		return nil
	})
	if err != nil {
		return err
	}
	c.note, c.size, c.entries = cp.Note, cp.Size, append(c.entries, added...)
	return nil
}

// match names each entry after the outbox row certd wrote for it, or calls
// it foreign.
func (c *replayed) match(ctx context.Context, st issuer.LogStore, id string) (*InstitutionLog, error) {
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
	out := &InstitutionLog{Size: c.size, Entries: make([]InstitutionEntry, 0, len(c.entries))}
	for _, e := range c.entries {
		ie := e.InstitutionEntry
		ie.Subject, ie.Mine = mine[e.hash]
		out.Entries = append(out.Entries, ie)
		if !ie.Mine {
			out.Foreign = append(out.Foreign, ie)
		}
	}
	return out, nil
}
