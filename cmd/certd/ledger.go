package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"certd/issuer"
)

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
	actor := authorityActor()
	var buf bytes.Buffer
	prog := newProgress("导出台账 exporting the ledger")
	n, err := e.svc.WriteLedgerProgress(ctx, actor, issuer.CertificateFilter{InstitutionID: *inst}, *format, &buf,
		func(rows int) { prog.set(rows, 0) })
	prog.end()
	if err != nil {
		return err
	}
	if *path == "-" {
		_, err = out.Write(buf.Bytes())
	} else {
		err = os.WriteFile(*path, buf.Bytes(), 0o600)
	}
	if err != nil {
		return err
	}
	if err := e.svc.Record(ctx, actor, "ledger.export", *inst, *format, map[string]any{"rows": n}); err != nil {
		e.log.Warn("the export is not in the audit trail", "error", err)
	}
	if *path != "-" {
		fmt.Fprintf(out, "已导出%d条记录到 %s / exported %d records to %s\n", n, *path, n, *path)
	}
	return nil
}
