package issuer

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"github.com/xuri/excelize/v2"
)

// LedgerColumns is the ledger (台账) layout, shared by the console's
// download and certd export: every field of the record and its status,
// Chinese header first.
var LedgerColumns = []string{
	"证书编号 Number", "状态 Status", "姓名 Name", "证件类型 Doc type", "证件号码 Doc number", "学号 Student no", "专业 Major",
	"考生类别 Candidate", "职业编码 Occupation code", "职业名称 Occupation", "工种 Specialty", "等级 Level", "等级名称 Level name",
	"考核日期 Assessed", "发证日期 Issued", "发证机构 Institution", "批次 Batch", "撤销原因 Revocation reason", "撤销说明 Revocation note",
	"撤销时间 Revoked at", "更正为 Superseded by", "更正自 Supersedes", "签名密钥 Key", "PDF SHA-256",
	// For a college that mails each holder their link (a mail merge), and
	// follows up on who has not claimed the certificate yet.
	"验证码 Verification code", "公开核验链接 Public link", "持证人领取 Claimed",
}

// LedgerRow is one certificate as a ledger row.
func LedgerRow(c Certificate) []string {
	spec := c.Specialty
	if spec == "" {
		spec = "--"
	}
	var reason, note, at string
	if r := c.Revocation; r != nil {
		reason, note, at = r.Reason.Chinese(), r.Note, r.At.In(ChinaTime).Format("2006-01-02 15:04:05")
	}
	return []string{
		c.Number, c.Status.Chinese(), c.Holder.Name, c.Holder.DocType.Chinese(), c.Holder.DocNumber, c.Holder.StudentNo, c.Holder.Major,
		c.Holder.CandidateType.Chinese(), c.Occupation, c.OccupationName, spec, strconv.Itoa(int(c.Level)), c.Level.Chinese(),
		c.AssessedOn.Format(DateLayout), c.IssuedOn.Format(DateLayout), c.InstitutionID, c.BatchID, reason, note, at,
		c.SupersededBy, c.Supersedes, c.KID, c.PDFSHA256,
	}
}

// ledgerPage bounds memory: the ledger is read in keyset pages.
const ledgerPage = 2000

// WriteLedger writes every certificate matching f that the actor may see,
// as "xlsx" or "csv" (UTF-8 with a BOM, so that Excel on Chinese Windows
// opens it correctly), and returns how many rows it wrote. Every cell is
// text: ID numbers must not turn into floats, and nothing a college wrote
// may run as a formula (typed text in XLSX, DefuseFormula in CSV).
func (s *Service) WriteLedger(ctx context.Context, actor Actor, f CertificateFilter, format string, w io.Writer) (int, error) {
	return s.WriteLedgerProgress(ctx, actor, f, format, w, nil)
}

// WriteLedgerProgress is WriteLedger telling progress, after each page of
// rows, how many rows are written.
func (s *Service) WriteLedgerProgress(ctx context.Context, actor Actor, f CertificateFilter, format string, w io.Writer, progress func(rows int)) (int, error) {
	var (
		writeRow func([]string) error
		finish   func() error
	)
	switch format {
	case "csv":
		if _, err := io.WriteString(w, "\ufeff"); err != nil {
			return 0, err
		}
		cw := csv.NewWriter(w)
		writeRow = func(vals []string) error {
			cells := make([]string, len(vals))
			for i, v := range vals {
				cells[i] = DefuseFormula(v)
			}
			return cw.Write(cells)
		}
		finish = func() error { cw.Flush(); return cw.Error() }
	case "xlsx":
		x := excelize.NewFile()
		defer x.Close()
		sheet := "台账 Ledger"
		if err := x.SetSheetName("Sheet1", sheet); err != nil {
			return 0, err
		}
		sw, err := x.NewStreamWriter(sheet)
		if err != nil {
			return 0, err
		}
		row := 0
		writeRow = func(vals []string) error {
			row++
			cells := make([]any, len(vals))
			for i, v := range vals {
				cells[i] = v
			}
			cell, _ := excelize.CoordinatesToCellName(1, row)
			return sw.SetRow(cell, cells)
		}
		finish = func() error {
			if err := sw.Flush(); err != nil {
				return err
			}
			return x.Write(w)
		}
	default:
		return 0, Errorf(ErrInvalid, "ledger_format", "台账格式应为xlsx或csv", "the ledger format must be xlsx or csv")
	}
	if err := writeRow(LedgerColumns); err != nil {
		return 0, err
	}
	n := 0
	f.After, f.Limit = "", ledgerPage
	for {
		page, err := s.Certificates(ctx, actor, f)
		if err != nil {
			return n, err
		}
		numbers := make([]string, len(page))
		for i, c := range page {
			numbers[i] = c.Number
		}
		claims, err := s.store.HolderCodes(ctx, numbers)
		if err != nil {
			return n, err
		}
		for _, c := range page {
			claimed := "未领取 not claimed"
			if hc := claims[c.Number]; hc.Claimed() {
				claimed = "已领取 claimed " + hc.ClaimedAt.In(ChinaTime).Format("2006-01-02 15:04")
			}
			if err := writeRow(append(LedgerRow(c), c.VerifyCode, VerifyURL(s.publicURL(), c), claimed)); err != nil {
				return n, fmt.Errorf("ledger row %d: %w", n+1, err)
			}
			n++
		}
		if progress != nil {
			progress(n)
		}
		if len(page) < ledgerPage {
			break
		}
		f.After = page[len(page)-1].Number
	}
	return n, finish()
}

// publicURL is the base of public links: PublicURL, else the printer's.
func (s *Service) publicURL() string {
	if s.PublicURL == "" && s.Printer != nil {
		return s.Printer.publicURL
	}
	return s.PublicURL
}
