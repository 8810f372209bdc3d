// Package integrity checks that a certd database is whole: that every
// certificate record still verifies, that its status is one the register's
// history explains, that its stored PDF is the one whose hash was recorded,
// and that the audit log holds the event of every issue, reissue and
// revocation. It is what a restore drill runs on the restored copy, and
// what an operator runs after any restore before serving from it.
//
// The check reads the database through the public side's read interface
// plus stored PDFs, so it can be pointed at a copy with nothing but read
// access. Records are verified against a trust bundle: the one exported and
// published before the backup is the honest choice, because a bundle built
// from the database being checked would accept whatever that database says
// about keys and registrations.
package integrity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"certd/issuer"
	"certd/issuer/credential"
	"certd/verify"
)

// Source is what the check reads.
type Source interface {
	Certificates(ctx context.Context, f issuer.CertificateFilter) ([]issuer.Certificate, error)
	PDF(ctx context.Context, number string) ([]byte, error)
	Audit(ctx context.Context, f issuer.AuditFilter) ([]issuer.AuditEvent, error)
}

// Problem is one discrepancy. Kind is a stable code for scripts; Zh and En
// say what is wrong in words an operator can act on.
type Problem struct {
	Number string `json:"number,omitempty"`
	Kind   string `json:"kind"`
	Zh     string `json:"zh"`
	En     string `json:"en"`
}

// Report is what the check found.
type Report struct {
	Certificates int       `json:"certificates"`
	Valid        int       `json:"valid"`
	Revoked      int       `json:"revoked"`
	Superseded   int       `json:"superseded"`
	PDFs         int       `json:"pdfs"`        // stored PDFs whose hash matched
	WithoutPDF   int       `json:"without_pdf"` // certificates never printed
	AuditEvents  int       `json:"audit_events"`
	LastAuditSeq int64     `json:"last_audit_seq"`
	Problems     []Problem `json:"problems"`
	CheckedAt    time.Time `json:"checked_at"`
}

// OK reports whether nothing was wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// maxProblems bounds the report: a database that fails everywhere says so
// in its counts, and the first problems are enough to see why.
const maxProblems = 1000

func (r *Report) add(number, kind, zh, en string) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, Problem{Number: number, Kind: kind, Zh: zh, En: en})
	}
}

// pageSize is how many certificates are read and verified at a time, so
// the check's memory does not grow with the database.
const pageSize = 1000

// Check runs every check. An error means the source could not be read;
// discrepancies are in the report.
func Check(ctx context.Context, src Source, tb *credential.TrustBundle, now time.Time) (*Report, error) {
	reg, err := verify.NewRegistry(tb)
	if err != nil {
		return nil, err
	}
	rep := &Report{CheckedAt: now}
	events, err := readEvents(ctx, src, rep)
	if err != nil {
		return nil, err
	}
	v := &verify.Verifier{Registry: reg, Now: func() time.Time { return now }}
	// supersedes maps a reissued certificate to the one it replaced, to
	// check both ends of every correction once all pages are read.
	supersededBy := map[string]string{}
	supersedes := map[string]string{}
	after := ""
	for {
		page, err := src.Certificates(ctx, issuer.CertificateFilter{After: after, Limit: pageSize})
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].Number
		recs, _ := v.Records(page)
		for i, c := range page {
			rep.Certificates++
			checkRecord(rep, c, recs[i])
			if err := checkPDF(ctx, src, rep, c); err != nil {
				return nil, err
			}
			checkEvents(rep, c, events)
			if c.SupersededBy != "" {
				supersededBy[c.Number] = c.SupersededBy
			}
			if c.Supersedes != "" {
				supersedes[c.Number] = c.Supersedes
			}
		}
	}
	for old, repl := range supersededBy {
		if supersedes[repl] != old {
			rep.add(old, "correction_broken", fmt.Sprintf("证书标记为已由%s更正，但该证书不存在或不指向本证书", repl),
				fmt.Sprintf("marked as corrected by %s, which does not exist or does not point back", repl))
		}
	}
	for repl, old := range supersedes {
		if supersededBy[old] != repl {
			rep.add(repl, "correction_broken", fmt.Sprintf("证书标记为更正%s，但原证书未标记为已更正", old),
				fmt.Sprintf("marked as correcting %s, which is not marked as superseded by it", old))
		}
	}
	return rep, nil
}

// expected is the verdict a record with this stored status must get when
// its signature, key and registration check out.
var expected = map[issuer.Status]verify.Verdict{
	issuer.Valid:      verify.Valid,
	issuer.Revoked:    verify.Revoked,
	issuer.Superseded: verify.Superseded,
}

func checkRecord(rep *Report, c issuer.Certificate, rec *verify.Record) {
	switch c.Status {
	case issuer.Valid:
		rep.Valid++
	case issuer.Revoked:
		rep.Revoked++
		if c.Revocation == nil {
			rep.add(c.Number, "revocation_missing", "证书状态为已撤销，但没有撤销记录", "revoked without a revocation record")
		}
	case issuer.Superseded:
		rep.Superseded++
	}
	if rec.Verdict == expected[c.Status] {
		return
	}
	// Say which check failed: that is what tells an edited record from a
	// key or registration missing from the bundle.
	for _, ch := range rec.Checks {
		if ch.Outcome != verify.Pass && ch.ID != verify.CheckStatus {
			rep.add(c.Number, "record_"+ch.ID, fmt.Sprintf("证书记录未通过“%s”检查：%s", ch.Zh, ch.DetailZh),
				fmt.Sprintf("the record fails the %q check: %s", ch.En, ch.DetailEn))
			return
		}
	}
	rep.add(c.Number, "record_verdict", fmt.Sprintf("证书状态为%s，但核验结论为%s", c.Status.Chinese(), rec.Verdict.Chinese()),
		fmt.Sprintf("stored as %s but verifies as %s", c.Status, rec.Verdict))
}

func checkPDF(ctx context.Context, src Source, rep *Report, c issuer.Certificate) error {
	pdf, err := src.PDF(ctx, c.Number)
	switch {
	case issuer.Is(err, issuer.ErrNotFound):
		if c.PDFSHA256 != "" {
			rep.add(c.Number, "pdf_missing", "记录了PDF的哈希值，但PDF不在库中", "a PDF hash is recorded but the PDF is missing")
		} else {
			rep.WithoutPDF++
		}
		return nil
	case err != nil:
		return err
	}
	sum := sha256.Sum256(pdf)
	if hex.EncodeToString(sum[:]) != c.PDFSHA256 {
		rep.add(c.Number, "pdf_hash", "库中PDF与记录的哈希值不符", "the stored PDF does not match its recorded hash")
		return nil
	}
	rep.PDFs++
	return nil
}

// eventIndex is what the audit log says happened to each certificate.
type eventIndex struct {
	issued   map[string]int    // number -> issue or reissue events
	revoked  map[string]int    // number -> revoke events
	replaced map[string]string // new number -> the number its reissue event names
}

func readEvents(ctx context.Context, src Source, rep *Report) (*eventIndex, error) {
	idx := &eventIndex{issued: map[string]int{}, revoked: map[string]int{}, replaced: map[string]string{}}
	var after int64
	for {
		page, err := src.Audit(ctx, issuer.AuditFilter{AfterSeq: after, Limit: 5000})
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return idx, nil
		}
		for _, ev := range page {
			if ev.Seq <= after {
				rep.add("", "audit_order", fmt.Sprintf("审计日志序号%d未递增", ev.Seq), fmt.Sprintf("audit sequence %d does not increase", ev.Seq))
			}
			after = ev.Seq
			rep.AuditEvents++
			switch ev.Action {
			case "certificate.issue":
				idx.issued[ev.Subject]++
			case "certificate.reissue":
				idx.issued[ev.Subject]++
				var d struct {
					Supersedes string `json:"supersedes"`
				}
				if json.Unmarshal([]byte(ev.Detail), &d) == nil {
					idx.replaced[ev.Subject] = d.Supersedes
				}
			case "certificate.revoke":
				idx.revoked[ev.Subject]++
			}
		}
		rep.LastAuditSeq = after
	}
}

func checkEvents(rep *Report, c issuer.Certificate, idx *eventIndex) {
	if n := idx.issued[c.Number]; n != 1 {
		rep.add(c.Number, "audit_issue", fmt.Sprintf("审计日志中本证书的签发记录有%d条，应为1条", n),
			fmt.Sprintf("the audit log holds %d issue events for this certificate, want 1", n))
	}
	if c.Supersedes != "" && idx.replaced[c.Number] != c.Supersedes {
		rep.add(c.Number, "audit_reissue", "审计日志中没有本次更正的记录", "the audit log has no event of this correction")
	}
	if n := idx.revoked[c.Number]; (c.Status == issuer.Revoked) != (n == 1) || n > 1 {
		rep.add(c.Number, "audit_revoke", fmt.Sprintf("证书状态为%s，审计日志中撤销记录有%d条", c.Status.Chinese(), n),
			fmt.Sprintf("status %s with %d revoke events in the audit log", c.Status, n))
	}
}
