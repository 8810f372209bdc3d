package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"

	"certd/issuer"
)

// ledgerColumns is the ledger (台账) layout: every field of the record and
// its status, Chinese header first.
var ledgerColumns = []string{
	"证书编号 Number", "状态 Status", "姓名 Name", "证件类型 Doc type", "证件号码 Doc number", "学号 Student no", "专业 Major",
	"考生类别 Candidate", "职业编码 Occupation code", "职业名称 Occupation", "工种 Specialty", "等级 Level", "等级名称 Level name",
	"考核日期 Assessed", "发证日期 Issued", "发证机构 Institution", "批次 Batch", "撤销原因 Revocation reason", "撤销说明 Revocation note",
	"撤销时间 Revoked at", "更正为 Superseded by", "更正自 Supersedes", "签名密钥 Key", "PDF SHA-256",
}

func ledgerRow(c issuer.Certificate) []string {
	spec := c.Specialty
	if spec == "" {
		spec = "--"
	}
	var reason, note, at string
	if r := c.Revocation; r != nil {
		reason, note, at = r.Reason.Chinese(), r.Note, r.At.In(issuer.ChinaTime).Format("2006-01-02 15:04:05")
	}
	return []string{
		c.Number, statusZh(c.Status), c.Holder.Name, c.Holder.DocType.Chinese(), c.Holder.DocNumber, c.Holder.StudentNo, c.Holder.Major,
		c.Holder.CandidateType.Chinese(), c.Occupation, c.OccupationName, spec, strconv.Itoa(int(c.Level)), c.Level.Chinese(),
		c.AssessedOn.Format(issuer.DateLayout), c.IssuedOn.Format(issuer.DateLayout), c.InstitutionID, c.BatchID, reason, note, at,
		c.SupersededBy, c.Supersedes, c.KID, c.PDFSHA256,
	}
}

func statusZh(s issuer.Status) string {
	switch s {
	case issuer.Revoked:
		return "已撤销"
	case issuer.Superseded:
		return "已更正"
	}
	return "有效"
}

// exportPage bounds memory: the ledger is read in keyset pages.
const exportPage = 2000

func eachCertificate(ctx context.Context, e *env, f issuer.CertificateFilter, fn func(issuer.Certificate) error) error {
	f.Limit = exportPage
	for {
		page, err := e.svc.Certificates(ctx, authorityActor(), f)
		if err != nil {
			return err
		}
		for _, c := range page {
			if err := fn(c); err != nil {
				return err
			}
		}
		if len(page) < exportPage {
			return nil
		}
		f.After = page[len(page)-1].Number
	}
}

func cmdExport(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("export", false)
	format := f.String("format", "xlsx", "xlsx or csv")
	inst := f.String("institution", "", "only this institution")
	path := f.String("out", "", "output file (default: ledger-DATE.xlsx/.csv; - for standard output)")
	if _, err := f.parse(args); err != nil {
		return err
	}
	if *format != "xlsx" && *format != "csv" {
		return usageError{"--format 应为 xlsx 或 csv / --format must be xlsx or csv"}
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if *path == "" {
		*path = "ledger-" + time.Now().In(issuer.ChinaTime).Format("20060102") + "." + *format
	}
	filter := issuer.CertificateFilter{InstitutionID: *inst}
	var buf bytes.Buffer
	n := 0
	if *format == "csv" {
		// A BOM makes Excel on Chinese Windows open UTF-8 correctly.
		buf.WriteString("\ufeff")
		w := csv.NewWriter(&buf)
		if err := w.Write(ledgerColumns); err != nil {
			return err
		}
		if err := eachCertificate(ctx, e, filter, func(c issuer.Certificate) error { n++; return w.Write(ledgerRow(c)) }); err != nil {
			return err
		}
		w.Flush()
		if err := w.Error(); err != nil {
			return err
		}
	} else {
		x := excelize.NewFile()
		defer x.Close()
		sheet := "台账 Ledger"
		if err := x.SetSheetName("Sheet1", sheet); err != nil {
			return err
		}
		sw, err := x.NewStreamWriter(sheet)
		if err != nil {
			return err
		}
		row := func(r int, vals []string) error {
			cells := make([]any, len(vals))
			for i, v := range vals {
				cells[i] = v // strings keep ID numbers from turning into floats
			}
			cell, _ := excelize.CoordinatesToCellName(1, r)
			return sw.SetRow(cell, cells)
		}
		if err := row(1, ledgerColumns); err != nil {
			return err
		}
		if err := eachCertificate(ctx, e, filter, func(c issuer.Certificate) error { n++; return row(n+1, ledgerRow(c)) }); err != nil {
			return err
		}
		if err := sw.Flush(); err != nil {
			return err
		}
		if err := x.Write(&buf); err != nil {
			return err
		}
	}
	if *path == "-" {
		_, err := out.Write(buf.Bytes())
		return err
	}
	if err := os.WriteFile(*path, buf.Bytes(), 0o600); err != nil {
		return err
	}
	_ = e.svc.Store.AppendAudit(ctx, issuer.AuditEvent{At: time.Now().UTC(), Actor: authorityActor().Name, Action: "ledger.export", InstitutionID: *inst, Subject: *format, Detail: fmt.Sprintf(`{"rows":%d}`, n)})
	fmt.Fprintf(out, "已导出%d条记录到 %s / exported %d records to %s\n", n, *path, n, *path)
	return nil
}
