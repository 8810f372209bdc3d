package publog

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"time"

	"certd/issuer"
	"certd/issuer/tlog"
)

// What the auditor can find, by name. Each is a way the database and the
// log disagree, and each means someone changed something unseen.
const (
	// RecordEdited: a certificate's stored signed record (or its number,
	// occupation, level, institution) is not what was logged.
	RecordEdited = "record_edited"
	// MissingFromLog: a certificate in the database has no issuance entry
	// in the log (written straight into the database, or backdated).
	MissingFromLog = "missing_from_log"
	// EntryWithoutCertificate: the log says a certificate was issued that
	// the database no longer holds (a deleted row).
	EntryWithoutCertificate = "entry_without_certificate"
	// RevocationUndone: the log has a revocation (or a supersession) of a
	// certificate that the database shows valid.
	RevocationUndone = "revocation_undone"
	// NumberReused: one certificate number has two issuance entries.
	NumberReused = "number_reused"
	// OutOfScope: a certificate outside its institution's registered
	// scope, or issued outside its registration's validity, at issue.
	OutOfScope = "out_of_scope"
	// Suspended: a certificate issued while its institution was suspended
	// or withdrawn.
	Suspended = "issued_while_suspended"
	// EntryWithoutRecord: an entry in the log that no outbox row made
	// (certd did not write it, or its row was deleted).
	EntryWithoutRecord = "entry_without_record"
	// OutboxMismatch: an outbox row says its entry is at an index where the
	// log holds other bytes, or a logged row's entry is not in the log.
	OutboxMismatch = "outbox_mismatch"
	// NotYetLogged: a row committed more than a minute ago is still not in
	// the log (the sequencer is not running, or cannot reach the witnesses).
	NotYetLogged = "not_yet_logged"
)

var findingText = map[string][2]string{
	RecordEdited:            {"签名后被修改的记录", "record edited after signing"},
	MissingFromLog:          {"证书不在公开日志中", "certificate missing from the log"},
	EntryWithoutCertificate: {"日志有签发条目但数据库无此证书", "log entry with no certificate"},
	RevocationUndone:        {"已撤销（或已更正）的证书被改回有效", "revocation undone"},
	NumberReused:            {"证书编号被重复使用", "certificate number reused"},
	OutOfScope:              {"超出备案范围或备案有效期发证", "issued outside the registered scope"},
	Suspended:               {"机构暂停或撤销备案期间发证", "issued by a suspended institution"},
	EntryWithoutRecord:      {"日志中有无人写入的条目", "log entry certd did not make"},
	OutboxMismatch:          {"发件箱与日志不符", "outbox and log disagree"},
	NotYetLogged:            {"超过一分钟仍未写入日志", "not in the log a minute after commit"},
}

// Finding is one discrepancy.
type Finding struct {
	Name    string `json:"name"` // one of the constants above
	Subject string `json:"subject,omitempty"`
	Index   int64  `json:"index"` // log index, -1 if none
	Zh      string `json:"zh"`
	En      string `json:"en"`
}

func finding(name, subject string, index int64, detail string) Finding {
	t := findingText[name]
	f := Finding{Name: name, Subject: subject, Index: index, Zh: t[0], En: t[1]}
	if detail != "" {
		f.Zh += "：" + detail
		f.En += ": " + detail
	}
	return f
}

// AuditStore is what the auditor reads from the database.
type AuditStore interface {
	issuer.LogStore
	Certificates(ctx context.Context, f issuer.CertificateFilter) ([]issuer.Certificate, error)
	InstitutionAt(ctx context.Context, id string, t time.Time) (issuer.Institution, error)
}

// AuditReport is what Audit found.
type AuditReport struct {
	Checkpoint *tlog.Checkpoint
	Entries    uint64
	Findings   []Finding
}

// Audit replays the log from its public files (Monitor.Replay: signatures,
// quorum, every tile, the root, consistency with prev) and matches every
// entry against the outbox and the database, and every certificate against
// the log. A failure of the replay itself (rewritten or truncated files, a
// forged checkpoint) is the error; the database's discrepancies are the
// report's findings.
func Audit(ctx context.Context, st AuditStore, m *tlog.Monitor, prev []byte, now time.Time) (*AuditReport, error) {
	inLog := map[[32]byte]uint64{}
	var leaves [][]byte
	cp, err := m.Replay(ctx, prev, 0, func(l tlog.Leaf) error {
		inLog[sha256.Sum256(l.Data)] = l.Index
		leaves = append(leaves, l.Data)
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep := &AuditReport{Checkpoint: cp, Entries: cp.Size}
	add := func(f Finding) { rep.Findings = append(rep.Findings, f) }

	// The outbox against the log.
	var rows []issuer.LogRecord
	for after := int64(0); ; {
		rs, err := st.LogRecords(ctx, issuer.LogFilter{AfterID: after, Limit: 10000})
		if err != nil {
			return nil, err
		}
		rows = append(rows, rs...)
		if len(rs) < 10000 {
			break
		}
		after = rs[len(rs)-1].ID
	}
	made := map[[32]byte]bool{}
	issuance := map[string][]issuer.LogRecord{} // number → issued/reissued rows
	revoked := map[string]issuer.LogRecord{}
	replaced := map[tlog.Hash]issuer.LogRecord{} // number commitment → the reissue superseding it
	for _, r := range rows {
		h := sha256.Sum256(r.Entry)
		made[h] = true
		idx, logged := inLog[h]
		switch {
		case r.Indexed && (!logged || idx != r.Index):
			add(finding(OutboxMismatch, r.Subject, int64(r.Index), fmt.Sprintf("发件箱第%d行 / outbox row %d", r.ID, r.ID))) // #nosec G115 -- an index below 2^62
		case !r.Indexed && !logged && now.Sub(r.CreatedAt) > time.Minute:
			add(finding(NotYetLogged, r.Subject, -1, ""))
		}
		e, err := tlog.DecodeEntry(r.Entry)
		if err != nil {
			add(finding(OutboxMismatch, r.Subject, -1, err.Error()))
			continue
		}
		switch e.Kind {
		case tlog.Issued, tlog.Reissued:
			issuance[r.Subject] = append(issuance[r.Subject], r)
			if e.Kind == tlog.Reissued {
				replaced[e.Replaces] = r
			}
		case tlog.Revoked:
			revoked[r.Subject] = r
		}
	}
	for i, l := range leaves {
		if !made[sha256.Sum256(l)] {
			add(finding(EntryWithoutRecord, "", int64(i), ""))
		}
	}
	for number, rs := range issuance {
		if len(rs) > 1 {
			add(finding(NumberReused, number, -1, fmt.Sprintf("%d 个签发条目 / %d issuance entries", len(rs), len(rs))))
		}
	}

	// Every certificate against the log.
	seen := map[string]bool{}
	for after := ""; ; {
		cs, err := st.Certificates(ctx, issuer.CertificateFilter{After: after, Limit: 5000})
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			seen[c.Number] = true
			auditCertificate(ctx, st, c, issuance[c.Number], revoked, replaced, inLog, add)
		}
		if len(cs) < 5000 {
			break
		}
		after = cs[len(cs)-1].Number
	}
	for number, rs := range issuance {
		if !seen[number] {
			add(finding(EntryWithoutCertificate, number, indexOf(rs[0]), ""))
		}
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		a, b := rep.Findings[i], rep.Findings[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Subject < b.Subject
	})
	return rep, nil
}

func indexOf(r issuer.LogRecord) int64 {
	if !r.Indexed {
		return -1
	}
	return int64(r.Index) // #nosec G115 -- an index below 2^62
}

func auditCertificate(ctx context.Context, st AuditStore, c issuer.Certificate, rs []issuer.LogRecord, revoked map[string]issuer.LogRecord,
	replaced map[tlog.Hash]issuer.LogRecord, inLog map[[32]byte]uint64, add func(Finding)) {
	var row *issuer.LogRecord
	for i := range rs {
		if _, ok := inLog[sha256.Sum256(rs[i].Entry)]; ok {
			row = &rs[i]
			break
		}
	}
	if row == nil {
		add(finding(MissingFromLog, c.Number, -1, ""))
	} else {
		e, _ := tlog.DecodeEntry(row.Entry)
		again, err := issuer.CertificateEntry(e.Kind, c.InstitutionID, c.KID, c.Occupation, int(c.Level), c.Number, c.Token, row.Salt, e.Replaces, c.IssuedAt)
		var b []byte
		if err == nil {
			b, err = again.Encode()
		}
		if err != nil || string(b) != string(row.Entry) {
			add(finding(RecordEdited, c.Number, indexOf(*row), ""))
		}
		if c.Status == issuer.Valid {
			if r, ok := revoked[c.Number]; ok {
				add(finding(RevocationUndone, c.Number, indexOf(r), ""))
			}
			if r, ok := replaced[e.Number]; ok {
				add(finding(RevocationUndone, c.Number, indexOf(r), "已被 "+r.Subject+" 更正 / superseded by "+r.Subject))
			}
		}
	}
	in, err := st.InstitutionAt(ctx, c.InstitutionID, c.IssuedAt)
	if err != nil {
		add(finding(OutOfScope, c.Number, -1, "发证时机构未备案 / no registration in force at issue"))
		return
	}
	if in.Status != issuer.Active {
		add(finding(Suspended, c.Number, -1, string(in.Status)))
	}
	if !in.Allows(c.Occupation, c.Specialty, c.Level) || !in.RegisteredOn(issuer.Day(c.IssuedAt)) {
		add(finding(OutOfScope, c.Number, -1, c.Occupation))
	}
}
