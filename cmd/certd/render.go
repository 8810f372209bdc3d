package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"certd/issuer"
)

// needPrinter fails clearly when certificates cannot be printed, before
// anything is issued.
func (e *env) needPrinter() error {
	if e.loadPrinter() == nil {
		return nil
	}
	if e.urlErr != nil {
		return e.urlErr
	}
	why := &issuer.Error{Zh: e.printErr.Error(), En: e.printErr.Error()}
	if fe, ok := issuer.AsError(e.printErr); ok {
		why = fe
	}
	return &issuer.Error{Kind: issuer.ErrInvalid, Code: "font_unusable",
		Zh:  fmt.Sprintf("无法加载证书字体 %s：%s（apt-get install fonts-lxgw-wenkai，或用 --font 指定字体；只检查不打印可加 --no-pdf）", e.cfg.FontPath, why.Zh),
		En:  fmt.Sprintf("the certificate font %s cannot be loaded: %s; install fonts-lxgw-wenkai or set --font (or pass --no-pdf to issue records without PDFs)", e.cfg.FontPath, why.En),
		Err: e.printErr}
}

// loadPhotos opens the --photos folder or ZIP (see issuer.OpenPhotos).
func loadPhotos(path string) (*issuer.Photos, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, usageError{fmt.Sprintf("无法读取照片 %s / cannot read photos: %v", path, err)}
	}
	return issuer.OpenPhotos(path)
}

// writeOutputs writes a batch's PDFs to dir: one per certificate, the print
// file (one PDF, one page each, with the photos just used) and a ZIP of the
// individual PDFs.
func writeOutputs(ctx context.Context, e *env, dir string, rep *issuer.IssueReport, photos *issuer.Photos) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	actor := authorityActor()
	for _, n := range rep.Numbers {
		pdf, err := e.svc.PDF(ctx, actor, n)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, n+".pdf"), pdf, 0o600); err != nil {
			return err
		}
	}
	if err := writeFile(filepath.Join(dir, rep.Batch.ID+".zip"), func(w io.Writer) error {
		return e.svc.BatchZip(ctx, actor, rep.Batch.ID, w)
	}); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, rep.Batch.ID+"-print.pdf"), func(w io.Writer) error {
		return e.svc.PrintBatch(ctx, actor, rep.Batch.ID, photos, w)
	})
}

// writeFile creates path, readable by its owner only (certificates are
// personal data), and has write fill it.
func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600) // #nosec G304 G703 -- a path the operator gave on the command line
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close() // the write's failure is the one to report
		return err
	}
	return f.Close()
}

func cmdRender(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("render", false)
	path := f.String("out", "", "output file (default NUMBER.pdf)")
	pending := f.Bool("pending", false, "finish every unfinished print job, with the photos and address it was issued with")
	batch := f.String("batch", "", "finish the print job of this batch")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	jobs := *pending || *batch != ""
	if (jobs && (len(pos) != 0 || *path != "")) || (!jobs && len(pos) != 1) || (*pending && *batch != "") {
		return usageError{"usage: certd render NUMBER [--out FILE.pdf] | certd render --pending | certd render --batch ID"}
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.needPrinter(); err != nil {
		return err
	}
	if jobs {
		return finishPrinting(ctx, e, *batch, out)
	}
	c, err := e.svc.Certificate(ctx, authorityActor(), pos[0])
	if err != nil {
		return err
	}
	pdf, err := e.svc.PDF(ctx, authorityActor(), c.Number)
	if err != nil {
		return err
	}
	if m := issuer.VoidMark(c); m != nil {
		// Said before the file name, so that nobody prints it unawares.
		fmt.Fprintf(out, "注意：证书 %s 已%s，写出的PDF每页带有“%s”标记，不能作为有效证书发放 / note: certificate %s is %s; the PDF carries the mark %q on every page and must not be handed out as valid\n   %s\n",
			c.Number, c.Status.Chinese(), m.Headline, c.Number, c.Status, m.Headline, m.Line)
	}
	if *path == "" {
		*path = pos[0] + ".pdf"
	}
	if err := os.WriteFile(*path, pdf, 0o600); err != nil { // #nosec G304 G703 -- a path the operator gave on the command line
		return err
	}
	fmt.Fprintf(out, "已写出 / written: %s\n", *path)
	return nil
}

// finishPrinting finishes one batch's print job, or every pending one, and
// says for each what was made and what was not.
func finishPrinting(ctx context.Context, e *env, batchID string, out io.Writer) error {
	actor := authorityActor()
	var outs []issuer.PrintOutcome
	// One progress report per batch, in turn.
	var prog *progress
	current := ""
	show := func(batch string, printed, total int) {
		if batch != current {
			if prog != nil {
				prog.end()
			}
			prog, current = newProgress("批次 batch "+batch+" 打印PDF printing"), batch
		}
		prog.set(printed, total)
	}
	if batchID != "" {
		o, err := e.svc.FinishPrinting(ctx, actor, batchID, show)
		if prog != nil {
			prog.end()
		}
		if err != nil {
			return err
		}
		outs = append(outs, o)
	} else {
		var err error
		outs, err = e.svc.ResumePrinting(ctx, actor, show)
		if prog != nil {
			prog.end()
		}
		if err != nil {
			return err
		}
	}
	if len(outs) == 0 {
		fmt.Fprintln(out, "没有未完成的打印任务 / no unfinished print jobs")
		return nil
	}
	unfinished := false
	for _, o := range outs {
		if o.Pending == 0 && o.Err == nil {
			fmt.Fprintf(out, "批次%s：%d张证书的PDF均已生成 / batch %s: all %d PDFs exist\n", o.BatchID, o.Total, o.BatchID, o.Total)
			continue
		}
		unfinished = true
		why := issuer.PrintFailureOf(o.Err)
		if why == nil {
			why = &issuer.PrintFailure{Zh: "原因不明", En: "cause unknown"}
		}
		fmt.Fprintf(out, "批次%s：%d张中%d张已有PDF，%d张尚未生成（%s） / batch %s: %d of %d have their PDF, %d do not yet (%s)\n",
			o.BatchID, o.Total, o.Printed, o.Pending, why.Zh, o.BatchID, o.Printed, o.Total, o.Pending, why.En)
	}
	if unfinished {
		return errSilent{exitUnfinished}
	}
	return nil
}
