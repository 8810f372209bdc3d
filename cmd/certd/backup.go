package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"certd/issuer"
	"certd/issuer/credential"
	"certd/issuer/store/sqlite"
	"certd/verify/integrity"
)

// cmdBackup writes an online, consistent copy of the embedded database and
// checks the copy before saying it is good. PostgreSQL deployments back up
// with the database's own tools (docs/operations.md).
func cmdBackup(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("backup", true)
	dest := f.String("out", "", "the copy to write (must not exist)")
	trust := f.String("trust", "", "check the copy against this trust bundle (the published one); default: the deployment's own")
	if _, err := f.parse(args); err != nil {
		return err
	}
	if *dest == "" {
		return usageError{"usage: certd backup --out FILE [--trust trust.json]"}
	}
	if f.cfg.DatabaseURL != "" {
		return usageError{"PostgreSQL 请用 pg_dump 或 pgBackRest 备份，步骤见 docs/operations.md / back PostgreSQL up with pg_dump or pgBackRest: see docs/operations.md"}
	}
	if _, err := os.Stat(*dest); err == nil {
		return usageError{fmt.Sprintf("%s 已存在，不会覆盖 / %s exists and is not overwritten", *dest, *dest)}
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	tb, err := trustFor(ctx, e.svc, *trust)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := e.store.(*sqlite.Store).Backup(ctx, *dest); err != nil {
		return err
	}
	// PDFs kept as files are copied after the database's snapshot: every
	// PDF the copy records was written before it. Files are never changed
	// in place (a re-rendering renames a new file over the name), so a
	// hard link is a faithful copy and costs no space.
	pdfCopy := ""
	if dir := f.cfg.PDFDirPath(); dir != "" {
		pdfCopy = *dest + ".pdfs"
		if err := copyTree(dir, pdfCopy, true); err != nil {
			return err
		}
	}
	took := time.Since(start)
	rep, err := checkCopy(ctx, *dest, pdfCopy, tb)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(out, map[string]any{"file": *dest, "seconds": took.Seconds(), "check": rep})
	}
	fmt.Fprintf(out, "已备份到 %s（%.1f 秒）/ backed up to %s in %.1f s\n", *dest, took.Seconds(), *dest, took.Seconds())
	if pdfCopy != "" {
		fmt.Fprintf(out, "证书PDF在 %s / the certificate PDFs are in %s\n", pdfCopy, pdfCopy)
	}
	printCheck(out, rep)
	fmt.Fprintln(out, "注意：备份不含密钥加密密钥（KEK），请另行保管 / note: the backup does not hold the key-encryption key (KEK); keep it separately")
	if !rep.OK() {
		return errSilent{exitFailed}
	}
	return nil
}

// cmdRestore puts a backup in place as the database of an empty data
// directory, after checking it. It never overwrites a database and never
// creates a KEK: a new KEK would open none of the restored sealed keys.
func cmdRestore(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("restore", true)
	from := f.String("from", "", "the backup file (certd backup --out)")
	trust := f.String("trust", "", "check against this trust bundle (the published one); default: the backup's own")
	accept := f.Bool("accept-problems", false, "put the copy in place even if the check finds problems")
	if _, err := f.parse(args); err != nil {
		return err
	}
	if *from == "" {
		return usageError{"usage: certd restore --from FILE --data DIR [--trust trust.json]"}
	}
	if f.cfg.DatabaseURL != "" {
		return usageError{"PostgreSQL 请用 pg_restore 恢复，然后运行 certd check，步骤见 docs/operations.md / restore PostgreSQL with pg_restore, then run certd check: see docs/operations.md"}
	}
	if err := f.cfg.validate(); err != nil {
		return err
	}
	final := filepath.Join(f.cfg.Data, "certd.db")
	if _, err := os.Stat(final); err == nil {
		return usageError{fmt.Sprintf("%s 已有数据库，不会覆盖；请恢复到空的数据目录 / %s already holds a database and is not overwritten; restore into an empty data directory", f.cfg.Data, f.cfg.Data)}
	}
	if err := os.MkdirAll(f.cfg.Data, 0o700); err != nil {
		return err
	}
	tmp := final + ".restoring"
	if err := copyFile(*from, tmp); err != nil {
		return err
	}
	defer os.Remove(tmp) // gone once renamed; removed if anything failed
	var tb *credential.TrustBundle
	if *trust != "" {
		var err error
		if tb, err = readTrust(*trust); err != nil {
			return err
		}
	}
	pdfFrom := *from + ".pdfs"
	if _, err := os.Stat(pdfFrom); err != nil {
		pdfFrom = ""
	}
	rep, err := checkCopy(ctx, tmp, pdfFrom, tb)
	if err != nil {
		return err
	}
	if !rep.OK() && !*accept {
		printCheck(out, rep)
		fmt.Fprintln(out, "未恢复：备份有问题；确认后可加 --accept-problems / not restored: the copy has problems; add --accept-problems to restore it anyway")
		return errSilent{exitFailed}
	}
	if pdfFrom != "" {
		dir := f.cfg.PDFDirPath()
		if dir == "" {
			return usageError{"备份含PDF文件，请用 --pdf-dir 指定存放目录 / the backup holds PDF files: name their directory with --pdf-dir"}
		}
		if err := copyTree(pdfFrom, dir, false); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	if f.json {
		return writeJSON(out, map[string]any{"database": final, "check": rep})
	}
	fmt.Fprintf(out, "已恢复到 %s / restored to %s\n", final, final)
	printCheck(out, rep)
	kekPath := filepath.Join(f.cfg.Data, "kek")
	if f.cfg.KEK == "" && f.cfg.KEKFile == "" {
		if _, err := os.Stat(kekPath); errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(out, "下一步：把原部署的密钥加密密钥放到 %s（或用 --kek-file / CERTD_KEK），再运行 certd check；否则 serve 会新建一个打不开任何私钥的 KEK\n", kekPath)
			fmt.Fprintf(out, "next: put the backed-up deployment's key-encryption key at %s (or give --kek-file / CERTD_KEK), then run certd check; otherwise serve creates a new KEK that opens none of the private keys\n", kekPath)
		}
	}
	return nil
}

// cmdCheck checks the configured database: what to run after restoring
// PostgreSQL, or at any time.
func cmdCheck(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("check", true)
	trust := f.String("trust", "", "check against this trust bundle (the published one); default: the database's own")
	if _, err := f.parse(args); err != nil {
		return err
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if s, ok := e.store.(*sqlite.Store); ok {
		if err := s.IntegrityCheck(ctx); err != nil {
			return err
		}
	}
	tb, err := trustFor(ctx, e.svc, *trust)
	if err != nil {
		return err
	}
	rep, err := integrity.Check(ctx, e.store, tb, time.Now())
	if err != nil {
		return err
	}
	kekErr := e.svc.CheckKEK(ctx)
	if f.json {
		return writeJSON(out, map[string]any{"check": rep, "kek_opens_keys": kekErr == nil})
	}
	printCheck(out, rep)
	if kekErr != nil {
		if ie, ok := issuer.AsError(kekErr); ok {
			fmt.Fprintf(out, "密钥 / keys: %s / %s\n", ie.Zh, ie.En)
		} else {
			fmt.Fprintf(out, "密钥 / keys: %v\n", kekErr)
		}
	} else {
		fmt.Fprintln(out, "密钥 / keys: KEK 可打开主管部门与各机构当前私钥 / the KEK opens the authority's and every institution's current key")
	}
	if !rep.OK() || kekErr != nil {
		return errSilent{exitFailed}
	}
	return nil
}

func trustFor(ctx context.Context, svc *issuer.Service, path string) (*credential.TrustBundle, error) {
	if path != "" {
		return readTrust(path)
	}
	tb, err := svc.TrustBundle(ctx)
	if err != nil {
		return nil, err
	}
	return &tb, nil
}

func readTrust(path string) (*credential.TrustBundle, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the operator's own argument
	if err != nil {
		return nil, usageError{fmt.Sprintf("无法读取信任包 / cannot read the trust bundle: %v", err)}
	}
	return credential.ParseTrustBundle(b)
}

// checkCopy opens a database file on its own and checks it: SQLite's
// structural check, then every record. Without a trust bundle, the copy's
// own registry is used.
func checkCopy(ctx context.Context, path, pdfDir string, tb *credential.TrustBundle) (*integrity.Report, error) {
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if pdfDir != "" {
		if err := st.KeepPDFsIn(pdfDir); err != nil {
			return nil, err
		}
	}
	if err := st.IntegrityCheck(ctx); err != nil {
		return nil, err
	}
	if tb == nil {
		own, err := issuer.New(st, nil).TrustBundle(ctx)
		if err != nil {
			return nil, err
		}
		tb = &own
	}
	return integrity.Check(ctx, st, tb, time.Now())
}

func copyFile(from, to string) error {
	in, err := os.Open(from) // #nosec G304 -- the operator's own argument
	if err != nil {
		return usageError{fmt.Sprintf("无法读取备份 / cannot read the backup: %v", err)}
	}
	defer in.Close()
	o, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- inside the operator's data directory
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		_ = o.Close()
		return err
	}
	if err := o.Sync(); err != nil {
		_ = o.Close()
		return err
	}
	return o.Close()
}

func printCheck(out io.Writer, r *integrity.Report) {
	fmt.Fprintf(out, "证书 %d 张（有效 %d，已撤销 %d，已更正 %d），PDF 核对 %d 份，未打印 %d 张，审计日志 %d 条（至序号 %d）\n",
		r.Certificates, r.Valid, r.Revoked, r.Superseded, r.PDFs, r.WithoutPDF, r.AuditEvents, r.LastAuditSeq)
	fmt.Fprintf(out, "%d certificates (%d valid, %d revoked, %d superseded), %d PDFs match, %d not printed, %d audit events (to seq %d)\n",
		r.Certificates, r.Valid, r.Revoked, r.Superseded, r.PDFs, r.WithoutPDF, r.AuditEvents, r.LastAuditSeq)
	if r.OK() {
		fmt.Fprintln(out, "检查通过 / check passed")
		return
	}
	fmt.Fprintf(out, "发现 %d 个问题 / %d problems:\n", len(r.Problems), len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintf(out, "  %s %s: %s / %s\n", p.Number, p.Kind, p.Zh, p.En)
	}
}

// copyTree copies the files under src into dst (created 0700), hard-linking
// them when link is set and the filesystem allows. It refuses to replace a
// file that exists with other content.
func copyTree(src, dst string, link bool) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		if strings.HasPrefix(d.Name(), ".tmp-") || !d.Type().IsRegular() {
			return nil // a write in progress, or not a PDF certd wrote (a symlink is never followed)
		}
		if link && os.Link(p, to) == nil { // #nosec G122 -- certd's own PDF directory; only regular files, symlinks skipped above
			return nil
		}
		return copyFile(p, to)
	})
}
