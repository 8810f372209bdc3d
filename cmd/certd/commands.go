package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"certd/issuer"
	"certd/issuer/account"
	"certd/issuer/credential"
	"certd/issuer/ident"
	"certd/issuer/roster"
)

// flags is a command's flag set plus the shared configuration.
type flags struct {
	*flag.FlagSet
	cfg  Config
	json bool
}

func newFlags(name string, withJSON bool) *flags {
	f := &flags{FlagSet: flag.NewFlagSet("certd "+name, flag.ContinueOnError)}
	addConfigFlags(f.FlagSet, &f.cfg)
	if withJSON {
		f.BoolVar(&f.json, "json", false, "machine-readable JSON output")
	}
	return f
}

// parse accepts flags before and after positional arguments
// (certd show NUMBER --json as well as certd show --json NUMBER).
func (f *flags) parse(args []string) ([]string, error) {
	f.SetOutput(io.Discard)
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if err == flag.ErrHelp {
				f.SetOutput(os.Stdout)
				f.PrintDefaults()
				return nil, errSilent{exitOK}
			}
			return nil, usageError{err.Error()}
		}
		args = f.Args()
		if len(args) == 0 {
			_, inEnv := os.LookupEnv("CERTD_PUBLIC_URL")
			given := inEnv
			f.Visit(func(fl *flag.Flag) { given = given || fl.Name == "public-url" })
			f.cfg.PublicURLDefaulted = !given
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// authorityActor is who the command line acts as: the operator with access
// to the data directory and the KEK holds every key anyway.
func authorityActor() issuer.Actor {
	name := os.Getenv("USER")
	if name == "" {
		name = "operator"
	}
	return issuer.Actor{Name: "cli:" + name, Authority: true}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdInit(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("init", true)
	name := f.String("authority-name", "吉林省人力资源和社会保障厅", "the authority's name")
	adminName := f.String("admin", "admin", "login name of the first console administrator")
	if _, err := f.parse(args); err != nil {
		return err
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	a, err := e.svc.Init(ctx, authorityActor(), *name)
	if err != nil {
		return err
	}
	as, err := e.accounts()
	if err != nil {
		return err
	}
	admin, pw, err := as.Create(ctx, cliUser(), account.NewUser{Name: *adminName, DisplayName: "主管部门管理员", Role: account.AuthorityAdmin})
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(out, map[string]any{"authority": a.Name, "kid": a.KID, "admin": admin.Name, "password": pw})
	}
	fmt.Fprintf(out, "已初始化主管部门 / authority created: %s\n密钥标识 / key id: %s\n", a.Name, a.KID)
	fmt.Fprintln(out, "控制台管理员（密码仅显示这一次，首次登录须修改） / console administrator (the password is shown only now and must be changed at first login):")
	printCredentials(out, admin, pw)
	return nil
}

func readSpec(path string) (issuer.InstitutionSpec, error) {
	var spec issuer.InstitutionSpec
	b, err := os.ReadFile(path) // #nosec G304 G703 -- a path the operator gave on the command line
	if err != nil {
		return spec, usageError{fmt.Sprintf("无法读取 %s / cannot read %s: %v", path, path, err)}
	}
	if strings.HasSuffix(path, ".json") {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		err = dec.Decode(&spec)
	} else {
		dec := yaml.NewDecoder(strings.NewReader(string(b)))
		dec.KnownFields(true)
		err = dec.Decode(&spec)
	}
	if err != nil {
		return spec, usageError{fmt.Sprintf("%s 格式有误 / %s is not a valid institution file: %v", path, path, err)}
	}
	return spec, nil
}

func cmdInstitution(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("institution", true)
	note := f.String("note", "", "reason for a status change")
	layout := f.String("layout", "", "print: full (whole certificate) or preprinted (variable fields only, on preprinted stock)")
	offX := f.Float64("offset-x", 0, "print: mm to shift everything right (negative: left), to calibrate a printer")
	offY := f.Float64("offset-y", 0, "print: mm to shift everything down (negative: up)")
	tmpl := f.String("template", "", "print: layout JSON overriding the shipped one (see assets/render)")
	english := f.Bool("english", false, "print: add the English line under each label")
	outPath := f.String("out", "", "calibrate: where to write the calibration page")
	until := f.String("until", "", "renew: new last day of the registration (YYYY-MM-DD); default three more years")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError{"usage: certd institution add FILE | update FILE | list | show ID | suspend ID | reinstate ID | withdraw ID | renew ID | keys rotate ID | seal ID FILE.png | print ID [--layout full|preprinted] [--offset-x MM] [--offset-y MM] [--template FILE] [--english] | calibrate ID [--out FILE]"}
	}
	need := func(n int) error {
		if len(pos) < n {
			return usageError{"缺少参数 / missing argument: certd institution " + strings.Join(pos, " ") + " ..."}
		}
		return nil
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	actor := authorityActor()
	var in issuer.Institution
	switch pos[0] {
	case "list":
		all, err := e.svc.Institutions(ctx, actor)
		if err != nil {
			return err
		}
		if f.json {
			return writeJSON(out, institutionsJSON(all))
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\t名称 NAME\t前缀 PREFIX\t状态 STATUS\t有效期 VALID\t版本 VER")
		for _, in := range all {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s~%s\t%d\n", in.ID, in.Name, in.Prefix, in.Status.Chinese(), in.ValidFrom.Format(issuer.DateLayout), in.ValidUntil.Format(issuer.DateLayout), in.Version)
		}
		return tw.Flush()
	case "show":
		if err := need(2); err != nil {
			return err
		}
		if in, err = e.svc.Institution(ctx, actor, pos[1]); err != nil {
			return err
		}
	case "add", "update":
		if err := need(2); err != nil {
			return err
		}
		spec, err := readSpec(pos[1])
		if err != nil {
			return err
		}
		if pos[0] == "add" {
			in, err = e.svc.AddInstitution(ctx, actor, spec)
		} else {
			in, err = e.svc.UpdateInstitution(ctx, actor, spec)
		}
		if err != nil {
			return err
		}
	case "suspend", "reinstate", "withdraw":
		if err := need(2); err != nil {
			return err
		}
		st := map[string]issuer.InstitutionStatus{"suspend": issuer.Suspended, "reinstate": issuer.Active, "withdraw": issuer.Withdrawn}[pos[0]]
		in, err = e.svc.SetStatus(ctx, actor, pos[1], st, *note)
		if err != nil {
			return err
		}
	case "renew":
		if err := need(2); err != nil {
			return err
		}
		in, err = e.svc.Renew(ctx, actor, pos[1], *until)
		if err != nil {
			return err
		}
	case "keys":
		if err := need(3); err != nil {
			return err
		}
		if pos[1] != "rotate" {
			return usageError{"usage: certd institution keys rotate ID"}
		}
		in, err = e.svc.RotateKey(ctx, actor, pos[2])
		if err != nil {
			return err
		}
	case "seal", "print":
		if err := need(2); err != nil {
			return err
		}
		cur, err := e.svc.Institution(ctx, actor, pos[1])
		if err != nil {
			return err
		}
		ps := cur.Print
		if pos[0] == "seal" {
			if err := need(3); err != nil {
				return err
			}
			if ps.Seal, err = os.ReadFile(pos[2]); err != nil { // #nosec G304 G703 -- a path the operator gave on the command line
				return usageError{fmt.Sprintf("无法读取印章图片 / cannot read the seal image: %v", err)}
			}
		} else {
			if *layout != "" {
				ps.Layout = *layout
			}
			ps.OffsetX, ps.OffsetY, ps.English = *offX, *offY, *english
			if *tmpl != "" {
				if ps.Template, err = os.ReadFile(*tmpl); err != nil {
					return usageError{fmt.Sprintf("无法读取版式文件 / cannot read the template: %v", err)}
				}
			}
		}
		if err := e.needPrinter(); err != nil {
			return err
		}
		if in, err = e.svc.SetPrintSettings(ctx, actor, pos[1], ps); err != nil {
			return err
		}
	case "calibrate":
		if err := need(2); err != nil {
			return err
		}
		if err := e.needPrinter(); err != nil {
			return err
		}
		pdf, err := e.svc.Calibration(ctx, actor, pos[1])
		if err != nil {
			return err
		}
		if *outPath == "" {
			*outPath = "calibration-" + pos[1] + ".pdf"
		}
		if err := os.WriteFile(*outPath, pdf, 0o600); err != nil { // #nosec G304 G703 -- a path the operator gave on the command line
			return err
		}
		fmt.Fprintf(out, "校准页已写出 / calibration page written: %s\n", *outPath)
		return nil
	default:
		return usageError{fmt.Sprintf("未知子命令 %q / unknown subcommand %q", pos[0], pos[0])}
	}
	if f.json {
		return writeJSON(out, institutionJSON(in))
	}
	printInstitution(out, in)
	return nil
}

type instJSON struct {
	ID         string              `json:"id"`
	Version    int                 `json:"version"`
	Name       string              `json:"name"`
	USCC       string              `json:"uscc"`
	Prefix     string              `json:"prefix"`
	FilingNo   string              `json:"filing_no"`
	ValidFrom  string              `json:"valid_from"`
	ValidUntil string              `json:"valid_until"`
	Status     string              `json:"status"`
	Contact    string              `json:"contact,omitempty"`
	City       string              `json:"city,omitempty"`
	Kind       string              `json:"kind,omitempty"`
	Scope      []issuer.ScopeEntry `json:"scope"`
	Fees       []issuer.Fee        `json:"fees,omitempty"`
	Keys       []map[string]string `json:"keys"`
	Effective  time.Time           `json:"effective_at"`
	Token      string              `json:"registration_token"`
}

func institutionJSON(in issuer.Institution) instJSON {
	j := instJSON{ID: in.ID, Version: in.Version, Name: in.Name, USCC: in.USCC, Prefix: in.Prefix, FilingNo: in.FilingNo,
		ValidFrom: in.ValidFrom.Format(issuer.DateLayout), ValidUntil: in.ValidUntil.Format(issuer.DateLayout), Status: string(in.Status),
		Contact: in.Contact, City: in.City, Kind: in.Kind, Scope: in.Scope, Fees: in.Fees, Effective: in.EffectiveAt, Token: in.Token}
	for _, k := range in.Keys {
		m := map[string]string{"kid": k.KID, "not_before": k.NotBefore.Format(time.RFC3339)}
		if !k.NotAfter.IsZero() {
			m["not_after"] = k.NotAfter.Format(time.RFC3339)
		}
		j.Keys = append(j.Keys, m)
	}
	return j
}

func institutionsJSON(all []issuer.Institution) []instJSON {
	out := make([]instJSON, len(all))
	for i, in := range all {
		out[i] = institutionJSON(in)
	}
	return out
}

func printInstitution(w io.Writer, in issuer.Institution) {
	fmt.Fprintf(w, "机构 / institution: %s (%s), 第%d版 / version %d\n", in.Name, in.ID, in.Version, in.Version)
	fmt.Fprintf(w, "统一社会信用代码 / USCC: %s\n证书编号前缀 / prefix: %s\n备案编号 / filing no.: %s\n", in.USCC, in.Prefix, in.FilingNo)
	fmt.Fprintf(w, "备案有效期 / registered: %s ~ %s\n状态 / status: %s (%s)\n", in.ValidFrom.Format(issuer.DateLayout), in.ValidUntil.Format(issuer.DateLayout), in.Status.Chinese(), in.Status)
	fmt.Fprintf(w, "认定范围 / scope: %d 项 / lines\n", len(in.Scope))
	for _, k := range in.Keys {
		end := "current"
		if !k.NotAfter.IsZero() {
			end = k.NotAfter.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "签名密钥 / key: %s  %s ~ %s\n", k.KID, k.NotBefore.Format(time.RFC3339), end)
	}
}

func cmdCatalogue(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("catalogue", true)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 || (pos[0] != "list" && pos[0] != "import") || (pos[0] == "import" && len(pos) < 2) {
		return usageError{"usage: certd catalogue list | certd catalogue import FILE.json"}
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if pos[0] == "import" {
		raw, err := os.ReadFile(pos[1]) // #nosec G304 G703 -- a path the operator gave on the command line
		if err != nil {
			return usageError{fmt.Sprintf("无法读取 %s / cannot read %s: %v", pos[1], pos[1], err)}
		}
		n, err := e.svc.ImportCatalogue(ctx, authorityActor(), raw)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "已导入%d个职业 / imported %d occupations\n", n, n)
		return nil
	}
	occ, err := e.svc.Occupations(ctx)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(out, occ)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "编码 CODE\t名称 NAME\t大典 EDITION\t工种 SPECIALTIES")
	for _, o := range occ {
		var sp []string
		for _, s := range o.Specialties {
			sp = append(sp, s.Name)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.Code, o.Name, o.Edition, strings.Join(sp, "、"))
	}
	return tw.Flush()
}

func cmdTemplate(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("template", false)
	path := f.String("out", "roster-template.xlsx", "where to write the template workbook")
	if _, err := f.parse(args); err != nil {
		return err
	}
	b, err := roster.Template()
	if err != nil {
		return err
	}
	if err := os.WriteFile(*path, b, 0o644); err != nil { // #nosec G306 G703 -- an empty template holds nothing private; the operator chose the path
		return err
	}
	fmt.Fprintf(out, "已生成名单模板 / template written: %s\n", *path)
	return nil
}

func cmdIssue(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("issue", true)
	inst := f.String("institution", "", "institution ID (required)")
	path := f.String("roster", "", "roster file, .xlsx or .csv (required)")
	dry := f.Bool("dry-run", false, "check everything, issue nothing")
	marked := f.String("marked", "", "when there are problems, write a copy of the workbook with the bad cells marked to this .xlsx file")
	photoPath := f.String("photos", "", "directory or ZIP of holders' photos named DOCNUMBER.jpg or STUDENTNO.jpg")
	outDir := f.String("out", "", "write each certificate's PDF, the batch print file and a ZIP of the PDFs to this directory")
	noPDF := f.Bool("no-pdf", false, "issue the signed records without rendering PDFs (render later with certd render)")
	if _, err := f.parse(args); err != nil {
		return err
	}
	if *inst == "" || *path == "" {
		return usageError{"usage: certd issue --institution ID --roster FILE [--dry-run] [--json] [--marked FILE.xlsx]"}
	}
	data, err := os.ReadFile(*path)
	if err != nil {
		return usageError{fmt.Sprintf("无法读取名单 %s / cannot read roster %s: %v", *path, *path, err)}
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if *noPDF {
		if *outDir != "" {
			return usageError{"--out 与 --no-pdf 不能同时使用 / --out and --no-pdf cannot be combined"}
		}
		// Nothing is printed now: the address is checked when the print
		// job is finished (certd render --pending, or certd serve).
		e.svc.Printer = nil
	} else if err := e.needPrinter(); err != nil {
		return err
	}
	var photos *issuer.Photos
	if *photoPath != "" {
		if photos, err = loadPhotos(*photoPath); err != nil {
			return err
		}
		defer photos.Close()
	}
	start := time.Now()
	prog := newProgress("打印证书PDF printing PDFs")
	if !*dry {
		prog.note("正在检查名单并签发", "checking the roster and signing")
	}
	rep, err := e.svc.Issue(ctx, authorityActor(), issuer.IssueRequest{InstitutionID: *inst, Roster: data, Filename: filepath.Base(*path), DryRun: *dry, Photos: photos,
		Progress: func(_ string, printed, total int) { prog.set(printed, total) }})
	prog.end()
	if err != nil {
		return err
	}
	unfinished := printUnfinished(rep)
	if *outDir != "" && len(rep.Issued) > 0 && !unfinished {
		if err := writeOutputs(ctx, e, *outDir, rep, photos); err != nil {
			return err
		}
	}
	if len(rep.Problems) > 0 && *marked != "" {
		b, err := roster.Mark(data, filepath.Base(*path), rep.Problems)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*marked, b, 0o600); err != nil { // #nosec G703 -- a path the operator gave; 0600 because the marked roster holds ID numbers
			return err
		}
	}
	if f.json {
		if err := writeJSON(out, rep); err != nil {
			return err
		}
	} else {
		printReport(out, rep, time.Since(start))
		if *outDir != "" && len(rep.Issued) > 0 && !unfinished {
			fmt.Fprintf(out, "证书PDF、打印文件%s-print.pdf和压缩包%s.zip已写入 %s / PDFs, print file and ZIP written to %s\n", rep.Batch.ID, rep.Batch.ID, *outDir, *outDir)
		}
		if len(rep.Problems) > 0 && *marked != "" {
			fmt.Fprintf(out, "已标出问题单元格 / bad cells marked in: %s\n", *marked)
		}
	}
	if len(rep.Problems) > 0 {
		return errSilent{exitFailed}
	}
	if unfinished {
		return errSilent{exitUnfinished}
	}
	return nil
}

// printUnfinished reports whether printing was meant to finish and did
// not: certificates are issued but some have no PDF yet. A batch issued
// with --no-pdf is pending by request, not unfinished.
func printUnfinished(rep *issuer.IssueReport) bool {
	return rep.Printing != nil && rep.Printing.Pending > 0 && rep.PrintError != nil
}

// printingLines says what became of a batch's PDFs: all made, or how many
// are made and how many are not, why, and how to finish them.
func printingLines(w io.Writer, rep *issuer.IssueReport) {
	p := rep.Printing
	if p == nil {
		return
	}
	switch {
	case p.Pending == 0 && rep.AlreadyIssued && p.Made > 0:
		fmt.Fprintf(w, "本次补齐未完成的打印：生成PDF %d张（使用发证时的照片），该批次%d张证书的PDF均已生成 / finished the unfinished printing: %d PDFs made (with the photos given at issue); all %d PDFs of the batch exist\n",
			p.Made, p.Total, p.Made, p.Total)
	case p.Pending == 0 && rep.AlreadyIssued:
		fmt.Fprintf(w, "该批次%d张证书的PDF均已生成 / every one of the batch's %d PDFs exists\n", p.Total, p.Total)
	case p.Pending == 0:
		fmt.Fprintf(w, "已生成PDF %d张 / %d PDFs made\n", p.Printed, p.Printed)
	case rep.PrintError == nil:
		fmt.Fprintf(w, "未生成PDF（--no-pdf）：%d张待生成，照片已随打印任务保存；运行 certd render --pending 或启动 certd serve 生成 / no PDFs made (--no-pdf): %d pending, their photos kept with the print job; run certd render --pending or start certd serve to make them\n",
			p.Pending, p.Pending)
	default:
		e := rep.PrintError
		fmt.Fprintf(w, "打印未完成：%d张证书中%d张已生成PDF，%d张尚未生成（%s）。证书记录已签发生效；照片已随打印任务保存，请重新运行同一命令、运行 certd render --pending 或启动 certd serve 补齐\n",
			p.Total, p.Printed, p.Pending, e.Zh)
		fmt.Fprintf(w, "printing did not finish: %d of %d certificates have their PDF, %d do not yet (%s). The records are issued; the photos are kept with the print job: run the same command again, certd render --pending, or start certd serve to make the rest\n",
			p.Printed, p.Total, p.Pending, e.En)
	}
}

func printReport(w io.Writer, rep *issuer.IssueReport, took time.Duration) {
	switch {
	case len(rep.Problems) > 0:
		fmt.Fprintf(w, "名单有%d处问题，未发任何证书 / %d problem(s) in the roster; nothing was issued:\n", len(rep.Problems), len(rep.Problems))
		r := roster.Roster{Problems: rep.Problems}
		fmt.Fprint(w, r.ProblemsText())
	case rep.AlreadyIssued:
		fmt.Fprintf(w, "该名单已于%s发证（批次%s，%d张），本次未发新证 / this roster was already issued on %s (batch %s, %d certificates); nothing new was issued\n",
			rep.Batch.CreatedAt.In(issuer.ChinaTime).Format("2006-01-02 15:04"), rep.Batch.ID, rep.Batch.Count,
			rep.Batch.CreatedAt.In(issuer.ChinaTime).Format("2006-01-02 15:04"), rep.Batch.ID, rep.Batch.Count)
		printingLines(w, rep)
	case rep.DryRun:
		fmt.Fprintf(w, "检查通过：%d行均可发证（试运行，未发证） / all %d rows can be issued (dry run: nothing issued)\n", rep.Rows, rep.Rows)
	default:
		fmt.Fprintf(w, "已发证%d张，批次%s，用时%s / issued %d certificates in batch %s in %s\n", len(rep.Numbers), rep.Batch.ID, took.Round(time.Millisecond), len(rep.Numbers), rep.Batch.ID, took.Round(time.Millisecond))
		for _, n := range rep.Numbers {
			fmt.Fprintln(w, "  "+n)
		}
		printingLines(w, rep)
	}
}

type certJSON struct {
	Number        string              `json:"number"`
	Institution   string              `json:"institution"`
	Batch         string              `json:"batch"`
	Name          string              `json:"name"`
	DocType       string              `json:"doc_type"`
	DocNumber     string              `json:"doc_number"`
	StudentNo     string              `json:"student_no,omitempty"`
	Major         string              `json:"major,omitempty"`
	CandidateType string              `json:"candidate_type"`
	Occupation    string              `json:"occupation"`
	OccName       string              `json:"occupation_name"`
	Specialty     string              `json:"specialty"`
	Level         int                 `json:"level"`
	LevelName     string              `json:"level_name"`
	AssessedOn    string              `json:"assessed_on"`
	IssuedOn      string              `json:"issued_on"`
	Status        string              `json:"status"`
	Revocation    *issuer.Revocation  `json:"revocation,omitempty"`
	SupersededBy  string              `json:"superseded_by,omitempty"`
	Supersedes    string              `json:"supersedes,omitempty"`
	KID           string              `json:"kid"`
	Token         string              `json:"token"`
	PDFSHA256     string              `json:"pdf_sha256,omitempty"`
	Audit         []issuer.AuditEvent `json:"audit,omitempty"`
}

func toCertJSON(c issuer.Certificate) certJSON {
	spec := c.Specialty
	if spec == "" {
		spec = "--"
	}
	return certJSON{Number: c.Number, Institution: c.InstitutionID, Batch: c.BatchID, Name: c.Holder.Name, DocType: string(c.Holder.DocType),
		DocNumber: c.Holder.DocNumber, StudentNo: c.Holder.StudentNo, Major: c.Holder.Major, CandidateType: string(c.Holder.CandidateType),
		Occupation: c.Occupation, OccName: c.OccupationName, Specialty: spec, Level: int(c.Level), LevelName: c.Level.Chinese(),
		AssessedOn: c.AssessedOn.Format(issuer.DateLayout), IssuedOn: c.IssuedOn.Format(issuer.DateLayout), Status: string(c.Status),
		Revocation: c.Revocation, SupersededBy: c.SupersededBy, Supersedes: c.Supersedes, KID: c.KID, Token: c.Token, PDFSHA256: c.PDFSHA256}
}

func cmdShow(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("show", true)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"usage: certd show NUMBER [--json]"}
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	actor := authorityActor()
	c, err := e.svc.Certificate(ctx, actor, pos[0])
	if err != nil {
		return err
	}
	hist, err := e.svc.Audit(ctx, actor, issuer.AuditFilter{Subject: c.Number})
	if err != nil {
		return err
	}
	j := toCertJSON(c)
	j.Audit = hist
	if f.json {
		return writeJSON(out, j)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(zh, en, v string) { fmt.Fprintf(tw, "%s %s\t%s\n", zh, en, v) }
	row("证书编号", "number", c.Number)
	row("状态", "status", statusLine(c))
	row("姓名", "name", c.Holder.Name)
	row("证件", "document", c.Holder.DocType.Chinese()+" "+ident.MaskDoc(c.Holder.DocNumber))
	row("职业", "occupation", c.Occupation+" "+c.OccupationName)
	row("工种", "specialty", j.Specialty)
	row("等级", "level", c.Level.Chinese())
	row("考核日期", "assessed", j.AssessedOn)
	row("发证日期", "issued", j.IssuedOn)
	row("发证机构", "institution", c.InstitutionID)
	row("批次", "batch", c.BatchID)
	row("签名密钥", "key", c.KID)
	if c.Supersedes != "" {
		row("更正自", "supersedes", c.Supersedes)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n签名记录 / signed record (JWS):\n%s\n\n审计记录 / audit trail:\n", c.Token)
	for _, ev := range hist {
		fmt.Fprintf(out, "  %s  %-22s %s %s\n", ev.At.In(issuer.ChinaTime).Format("2006-01-02 15:04:05"), ev.Action, ev.Actor, ev.Detail)
	}
	return nil
}

func statusLine(c issuer.Certificate) string {
	switch c.Status {
	case issuer.Revoked:
		if r := c.Revocation; r != nil {
			return fmt.Sprintf("已撤销 revoked %s（%s）%s", r.At.In(issuer.ChinaTime).Format("2006-01-02"), r.Reason.Chinese(), r.Note)
		}
		return "已撤销 revoked"
	case issuer.Superseded:
		return "已更正 superseded by " + c.SupersededBy
	}
	return "有效 valid"
}

func cmdRevoke(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("revoke", true)
	reason := f.String("reason", "", "error | misconduct | request | other (required)")
	note := f.String("note", "", "explanation kept in the audit trail")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *reason == "" {
		return usageError{"usage: certd revoke NUMBER --reason error|misconduct|request|other [--note TEXT]"}
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	c, err := e.svc.Revoke(ctx, authorityActor(), pos[0], issuer.RevocationReason(*reason), *note)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(out, toCertJSON(c))
	}
	fmt.Fprintf(out, "已撤销证书 %s（%s） / revoked %s (%s)\n", c.Number, c.Revocation.Reason.Chinese(), c.Number, c.Revocation.Reason.English())
	return nil
}

func cmdReissue(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("reissue", true)
	var fix issuer.Correction
	f.StringVar(&fix.Name, "name", "", "corrected name")
	f.StringVar(&fix.DocType, "doc-type", "", "corrected document type (居民身份证, 护照, ...)")
	f.StringVar(&fix.DocNumber, "doc-number", "", "corrected document number")
	f.StringVar(&fix.StudentNo, "student-no", "", "corrected 学号")
	f.StringVar(&fix.Major, "major", "", "corrected 专业")
	f.StringVar(&fix.Occupation, "occupation", "", "corrected occupation code (within the college's scope)")
	dry := f.Bool("dry-run", false, "check the correction and list what it changes, without reissuing")
	spec := f.String("specialty", "\x00", "corrected 工种 (-- for none)")
	f.StringVar(&fix.Level, "level", "", "corrected level")
	f.StringVar(&fix.AssessedOn, "assessed-on", "", "corrected assessment date YYYY-MM-DD")
	f.StringVar(&fix.Reason, "reason", "", "why the certificate is corrected (kept in the audit trail)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if *spec != "\x00" {
		fix.Specialty = spec
	}
	if len(pos) != 1 {
		return usageError{"usage: certd reissue NUMBER [--name ...] [--doc-type ...] [--doc-number ...] [--occupation ...] [--specialty ...] [--level ...] [--assessed-on ...] [--reason TEXT] [--dry-run]"}
	}
	if fix == (issuer.Correction{Reason: fix.Reason}) {
		return usageError{"没有给出任何更正字段 / no corrected field given"}
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if *dry {
		p, err := e.svc.PreviewReissue(ctx, authorityActor(), pos[0], fix)
		if err != nil {
			return err
		}
		if f.json {
			return writeJSON(out, p.Changes)
		}
		for _, c := range p.Changes {
			fmt.Fprintf(out, "%s / %s: %s -> %s\n", c.Zh, c.En, c.Old, c.New)
		}
		fmt.Fprintf(out, "未补发（--dry-run）；去掉 --dry-run 后，%s 将标记为已更正并指向新编号 / nothing reissued (--dry-run); without it %s becomes superseded by a new number\n", pos[0], pos[0])
		return nil
	}
	if err := e.loadPrinter(); e.urlErr != nil {
		return e.urlErr // a corrected certificate must not be printed with the wrong address
	} else if err != nil {
		e.log.Warn("the corrected certificate is issued without a PDF; run certd render after fixing the font", "error", err)
	}
	c, err := e.svc.Reissue(ctx, authorityActor(), pos[0], fix)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(out, toCertJSON(c))
	}
	fmt.Fprintf(out, "已补发更正证书 %s，原证书 %s 已标记为已更正 / reissued as %s; %s is now superseded\n", c.Number, pos[0], c.Number, pos[0])
	return nil
}

func cmdAudit(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("audit", true)
	inst := f.String("institution", "", "only this institution")
	subj := f.String("subject", "", "only this subject (certificate number, key id...)")
	limit := f.Int("limit", 200, "at most this many events")
	if _, err := f.parse(args); err != nil {
		return err
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	evs, err := e.svc.Audit(ctx, authorityActor(), issuer.AuditFilter{InstitutionID: *inst, Subject: *subj, Limit: *limit})
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(out, evs)
	}
	for _, ev := range evs {
		fmt.Fprintf(out, "%6d %s %-24s %-14s %-24s %s\n", ev.Seq, ev.At.In(issuer.ChinaTime).Format("2006-01-02 15:04:05"), ev.Action, ev.InstitutionID, ev.Subject, ev.Detail)
	}
	return nil
}

func cmdTrust(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("trust", false)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "export" {
		return usageError{"usage: certd trust export > trust.json"}
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	if _, err := e.logPolicy(ctx, false); err != nil {
		return err
	}
	tb, err := e.svc.TrustBundle(ctx)
	if err != nil {
		return err
	}
	// The latest status lists, re-signed first where they have used half
	// their ttl: what an offline verifier relies on for "not revoked".
	lists, err := e.svc.FreshStatusLists(ctx, e.cfg.statusTTL())
	if err != nil {
		return err
	}
	for _, l := range lists {
		tb.StatusLists = append(tb.StatusLists, credential.TrustStatusList{Institution: l.InstitutionID, Version: l.Version, ValidFrom: l.ValidFrom, Token: l.Token})
	}
	return writeJSON(out, tb)
}
