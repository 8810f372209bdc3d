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
	writeRow, finish, closeSheet, err := sheetWriter(format, "台账 Ledger", w)
	if err != nil {
		return 0, err
	}
	defer closeSheet()
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

// sheetWriter writes rows of text as "xlsx" (one sheet of that name) or
// "csv" (UTF-8 with a BOM, formulas defused) to w; finish completes the
// file, closeSheet frees what the workbook holds.
func sheetWriter(format, sheet string, w io.Writer) (writeRow func([]string) error, finish func() error, closeSheet func(), err error) {
	switch format {
	case "csv":
		if _, err := io.WriteString(w, "\ufeff"); err != nil {
			return nil, nil, nil, err
		}
		cw := csv.NewWriter(w)
		writeRow = func(vals []string) error {
			cells := make([]string, len(vals))
			for i, v := range vals {
				cells[i] = DefuseFormula(v)
			}
			return cw.Write(cells)
		}
		return writeRow, func() error { cw.Flush(); return cw.Error() }, func() {}, nil
	case "xlsx":
		x := excelize.NewFile()
		if err := x.SetSheetName("Sheet1", sheet); err != nil {
			_ = x.Close()
			return nil, nil, nil, err
		}
		sw, err := x.NewStreamWriter(sheet)
		if err != nil {
			_ = x.Close()
			return nil, nil, nil, err
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
		return writeRow, finish, func() { _ = x.Close() }, nil
	}
	return nil, nil, nil, Errorf(ErrInvalid, "ledger_format", "文件格式应为xlsx或csv", "the format must be xlsx or csv")
}

// BatchListColumns is the list of a batch's new numbers that a college
// hands on (to its registrar, to the classes): who got which number.
var BatchListColumns = []string{"证书编号 Number", "学号 Student no", "姓名 Name", "职业编码 Occupation code", "职业名称 Occupation", "工种 Specialty", "等级 Level"}

// BatchListRow is one certificate as a row of the batch list.
func BatchListRow(c Certificate) []string {
	spec := c.Specialty
	if spec == "" {
		spec = "--"
	}
	return []string{c.Number, c.Holder.StudentNo, c.Holder.Name, c.Occupation, c.OccupationName, spec, c.Level.Chinese()}
}

// WriteBatchList writes the list of a batch's certificates (BatchListColumns),
// in number order, as "xlsx" or "csv", for an actor who may read the batch;
// it returns how many rows it wrote.
func (s *Service) WriteBatchList(ctx context.Context, actor Actor, batchID, format string, w io.Writer) (int, error) {
	_, certs, err := s.batchCertificates(ctx, actor, batchID)
	if err != nil {
		return 0, err
	}
	writeRow, finish, closeSheet, err := sheetWriter(format, "证书编号 Numbers", w)
	if err != nil {
		return 0, err
	}
	defer closeSheet()
	if err := writeRow(BatchListColumns); err != nil {
		return 0, err
	}
	for _, c := range certs {
		if err := writeRow(BatchListRow(c)); err != nil {
			return 0, err
		}
	}
	return len(certs), finish()
}
