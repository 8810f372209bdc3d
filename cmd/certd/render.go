package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"certd/issuer"
	"certd/issuer/render"
)

// needPrinter fails clearly when certificates cannot be printed, before
// anything is issued.
func (e *env) needPrinter() error {
	if e.loadPrinter() != nil {
		return &issuer.Error{Kind: issuer.ErrInvalid, Code: "font_unusable",
			Zh: fmt.Sprintf("无法加载证书字体 %s：%v（apt-get install fonts-lxgw-wenkai，或用 --font 指定字体；只检查不打印可加 --no-pdf）", e.cfg.FontPath, e.printErr),
			En: "the certificate font cannot be loaded; install fonts-lxgw-wenkai or set --font (or pass --no-pdf to issue records without PDFs)", Err: e.printErr}
	}
	return nil
}

// loadPhotos reads holders' photos from a directory or a ZIP, each named
// after the holder's document number or 学号 (e.g. 220102200401010013.jpg).
func loadPhotos(path string) (issuer.Photos, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, usageError{fmt.Sprintf("无法读取照片 %s / cannot read photos: %v", path, err)}
	}
	if !fi.IsDir() {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return issuer.PhotosFromZip(f, fi.Size())
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	ph := issuer.Photos{}
	total := 0
	for _, de := range entries {
		ext := strings.ToLower(filepath.Ext(de.Name()))
		info, err := de.Info()
		if err != nil || !info.Mode().IsRegular() || (ext != ".jpg" && ext != ".jpeg" && ext != ".png") {
			continue
		}
		if len(ph) >= issuer.MaxPhotoFiles || info.Size() > issuer.MaxPhotoBytes {
			return nil, usageError{fmt.Sprintf("照片过多或 %s 超过2MB / too many photos, or %s is larger than 2 MB", de.Name(), de.Name())}
		}
		b, err := os.ReadFile(filepath.Join(path, de.Name()))
		if err != nil {
			return nil, err
		}
		if total += len(b); total > issuer.MaxPhotosSize {
			return nil, usageError{"照片总大小超过256MB / the photos add up to more than 256 MB"}
		}
		ph[strings.ToUpper(strings.TrimSuffix(de.Name(), ext))] = b
	}
	return ph, nil
}

// writeOutputs writes a batch's PDFs: one per certificate, the print file
// (one PDF, one page each) and a ZIP of the individual PDFs.
func writeOutputs(ctx context.Context, e *env, dir string, rep *issuer.IssueReport, photos issuer.Photos) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	in, err := e.store.Institution(ctx, rep.InstitutionID)
	if err != nil {
		return err
	}
	entries := make([]render.ZipEntry, 0, len(rep.Issued))
	for _, c := range rep.Issued {
		pdf, err := e.store.PDF(ctx, c.Number)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Number, err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.Number+".pdf"), pdf, 0o600); err != nil {
			return err
		}
		entries = append(entries, render.ZipEntry{Name: c.Number + ".pdf", Data: pdf})
	}
	var zbuf bytes.Buffer
	if err := render.WriteZip(&zbuf, rep.Batch.CreatedAt, entries); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, rep.Batch.ID+".zip"), zbuf.Bytes(), 0o600); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, rep.Batch.ID+"-print.pdf"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := e.svc.Printer.Batch(in, rep.Issued, photos.For, f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func cmdRender(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("render", false)
	path := f.String("out", "", "output file (default NUMBER.pdf)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"usage: certd render NUMBER [--out FILE.pdf]"}
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if err := e.needPrinter(); err != nil {
		return err
	}
	pdf, err := e.svc.PDF(ctx, authorityActor(), pos[0])
	if err != nil {
		return err
	}
	if *path == "" {
		*path = pos[0] + ".pdf"
	}
	if err := os.WriteFile(*path, pdf, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(out, "已写出 / written: %s\n", *path)
	return nil
}
