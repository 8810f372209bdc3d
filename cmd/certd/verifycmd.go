package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"certd/issuer"
	"certd/issuer/credential"
	"certd/issuer/publog"
	"certd/issuer/statuslist"
	"certd/issuer/tlog"
	"certd/verify"
)

func cmdVerify(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("verify", true)
	trust := f.String("trust", "", "trust bundle (certd trust export) for offline verification; without it the data directory is used")
	proofFile := f.String("proof", "", "the certificate's public log proof (GET /api/v1/certificates/NUMBER/proof), checked offline against the trust bundle's logPolicy")
	maxAge := f.Duration("max-age", 0, "offline: how old a status list may be and still count (default: the list's own ttl)")
	nowFlag := f.String("now", "", "offline: judge as of this time (RFC 3339), not the clock's")
	listFile := f.String("status-list", "", "offline: a status list (/status/ID) fetched later than the trust bundle; the newer list counts")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"usage: certd verify TOKEN-or-FILE [--trust trust.json [--proof proof.txt] [--status-list FILE] [--max-age 24h] [--now TIME]] [--json] (a signed record, a certificate PDF, or a holder credential NUMBER.sd-jwt)"}
	}
	if *trust == "" && (*maxAge != 0 || *nowFlag != "" || *listFile != "") {
		return usageError{"--max-age、--now 和 --status-list 只用于离线验证（--trust） / --max-age, --now and --status-list are for offline verification (--trust)"}
	}
	if *maxAge < 0 || *maxAge > statuslist.MaxTTL*12 {
		return usageError{"--max-age 应在 0 到 8928h 之间 / --max-age must be between 0 and 8928h"}
	}
	now := time.Now()
	if *nowFlag != "" {
		if now, err = time.Parse(time.RFC3339, *nowFlag); err != nil {
			return usageError{fmt.Sprintf("--now %q 不是 RFC 3339 时间（如 2026-07-01T10:00:00+08:00） / --now is not an RFC 3339 time (such as 2026-07-01T10:00:00+08:00)", *nowFlag)}
		}
	}
	token, pdf, err := readToken(pos[0])
	if err != nil {
		return err
	}
	v := &verify.Verifier{Now: func() time.Time { return now }, MaxAge: *maxAge}
	var inputs []verify.Input
	// logCheck makes the check "recorded in the public log", once the
	// record's own checks are known.
	var logCheck func() verify.Check
	if *trust != "" {
		b, err := os.ReadFile(*trust)
		if err != nil {
			return usageError{fmt.Sprintf("无法读取信任包 / cannot read the trust bundle: %v", err)}
		}
		tb, err := credential.ParseTrustBundle(b)
		if err != nil {
			return err
		}
		if v.Registry, err = verify.NewRegistry(tb); err != nil {
			return fmt.Errorf("信任包无效 / the trust bundle is invalid: %w", err)
		}
		if logCheck, err = offlineLogCheck(tb, *proofFile, token); err != nil {
			return err
		}
		inputs = append(inputs, verify.Input{What: "trust_bundle", Zh: "信任包生成时间", En: "trust bundle generated", Time: tb.GeneratedAt})
		v.Lists = v.Registry.StatusLists(tb)
		if *listFile != "" {
			b, err := os.ReadFile(*listFile) // #nosec G304 G703 -- a path the operator gave on the command line
			if err != nil {
				return usageError{fmt.Sprintf("无法读取状态列表 / cannot read the status list: %v", err)}
			}
			sl, err := v.Registry.StatusListOf(string(b), *listFile)
			if err != nil {
				return usageError{err.Error()}
			}
			v.Lists[sl.Institution] = verify.Newer(v.Lists[sl.Institution], sl)
		}
	} else {
		e, err := f.cfg.open(ctx)
		if err != nil {
			return err
		}
		defer e.close()
		tb, err := e.svc.TrustBundle(ctx)
		if err != nil {
			return err
		}
		if v.Registry, err = verify.NewRegistry(&tb); err != nil {
			return err
		}
		v.Status = verify.StoreStatus{Store: e.store}
		if err := e.flushLog(ctx); err != nil {
			e.log.Warn("public log: pending entries not appended", "error", err)
		}
		rt, err := e.logPolicy(ctx, false)
		if err != nil {
			return err
		}
		logCheck = func() verify.Check {
			if *proofFile != "" {
				p, err := os.ReadFile(*proofFile)
				if err != nil {
					return verify.Check{ID: verify.CheckLog, Outcome: verify.Unknown, Zh: "已记入公开日志", En: "recorded in the public log", DetailZh: "无法读取证明文件", DetailEn: "cannot read the proof file"}
				}
				return verify.CheckLogProof(publog.PublicPolicy(rt.policy), p, token)
			}
			num := ""
			if c, err := numberOf(token); err == nil {
				num = c
			}
			return rt.logSource().LogCheck(ctx, issuer.Certificate{Number: num, Token: token})
		}
	}
	res := v.VerifyPresented(ctx, token)
	// The log records signed records; a holder credential is checked
	// against the register, not the log.
	if logCheck != nil && res.Claims != nil && !verify.IsCredential(token) {
		res = res.With(logCheck())
	}
	inputs = append(inputs, res.Inputs...)
	inputs = append(inputs, verify.Input{What: "clock", Zh: "核验时间", En: "checked at", Time: now})
	if f.json {
		j := struct {
			Verdict string         `json:"verdict"`
			Number  string         `json:"number,omitempty"`
			Checks  []verify.Check `json:"checks"`
			Inputs  []verify.Input `json:"inputs"`
			// Disclosed is set for a holder credential (SD-JWT VC).
			Disclosed *verify.Disclosed `json:"disclosed,omitempty"`
		}{Verdict: string(res.Verdict), Checks: res.Checks, Inputs: inputs}
		if res.Claims != nil {
			j.Number = res.Claims.CredentialSubject.Achievement.Number
		}
		j.Disclosed = res.Disclosed
		// To the command's writer, not os.Stdout, like every other command.
		if err := writeJSON(out, j); err != nil {
			return err
		}
	} else {
		printResult(out, res)
		for _, in := range inputs {
			fmt.Fprintf(out, "  %s / %s: %s\n", in.Zh, in.En, in.Time.In(issuer.ChinaTime).Format("2006-01-02 15:04:05.000 (UTC+8)"))
		}
		// The trust model's last check: is the file exactly the one issued?
		if pdf != nil && res.Status != nil && res.Status.PDFSHA256 != "" {
			sum := sha256.Sum256(pdf)
			if hex.EncodeToString(sum[:]) == res.Status.PDFSHA256 {
				fmt.Fprintln(out, "  ✓ 该PDF与发证时的文件完全一致 / this PDF is byte-identical to the one issued")
			} else {
				fmt.Fprintln(out, "  ! 该PDF与发证时的文件不一致（记录仍按上面各项判断） / this PDF differs from the one issued (the record is judged by the checks above)")
			}
		}
	}
	if res.Verdict != verify.Valid {
		return errSilent{exitFailed}
	}
	return nil
}

func printResult(w io.Writer, res verify.Result) {
	fmt.Fprintf(w, "结论 / verdict: %s %s\n", res.Verdict.Chinese(), res.Verdict.English())
	if c := res.Claims; c != nil {
		a := c.CredentialSubject.Achievement
		fmt.Fprintf(w, "证书编号 / number: %s\n发证机构 / issuer: %s\n职业 / occupation: %s %s  %s\n发证日期 / issued: %s\n",
			a.Number, c.Issuer.Name, a.OccupationCode, a.OccupationName, a.LevelName, a.IssuedOn)
	}
	if d := res.Disclosed; d != nil {
		fmt.Fprintf(w, "持证人凭证（SD-JWT VC） / holder credential (SD-JWT VC); 持证人选择披露 / disclosed by the holder: %s\n", disclosedList(d))
		if d.Name != "" {
			fmt.Fprintf(w, "姓名 / name: %s\n", d.Name)
		}
		if d.BirthDate != "" {
			fmt.Fprintf(w, "出生日期 / date of birth: %s\n", d.BirthDate)
		}
		if d.PhotoDigest != "" {
			fmt.Fprintf(w, "照片摘要 / photo digest: %s\n", d.PhotoDigest)
		}
	}
	mark := map[verify.Outcome]string{verify.Pass: "✓ 通过 pass", verify.Fail: "✗ 未通过 fail", verify.Unknown: "? 无法检查 could not check"}
	for _, c := range res.Checks {
		fmt.Fprintf(w, "  %-28s %s / %s\n", mark[c.Outcome], c.Zh, c.En)
		if c.DetailZh != "" || c.DetailEn != "" {
			fmt.Fprintf(w, "  %-28s   %s / %s\n", "", c.DetailZh, c.DetailEn)
		}
	}
}

// disclosedList names the disclosed claims, or says none were.
func disclosedList(d *verify.Disclosed) string {
	if len(d.Claims) == 0 {
		return "无 / none"
	}
	return strings.Join(d.Claims, ", ")
}

// readToken accepts the token itself, a file holding it, or a certificate
// PDF (returned too, to compare with the issued file).
func readToken(arg string) (string, []byte, error) {
	if strings.HasPrefix(arg, "eyJ") && (strings.Count(arg, ".") == 2 || verify.IsCredential(arg)) {
		return arg, nil, nil
	}
	b, err := os.ReadFile(arg) // #nosec G304 G703 -- a path the operator gave on the command line
	if err != nil {
		return "", nil, usageError{fmt.Sprintf("既不是签名记录也无法读取文件 %s / neither a token nor a readable file: %v", arg, err)}
	}
	if strings.HasPrefix(string(b), "%PDF") {
		tok, err := verify.TokenFromPDF(b)
		return tok, b, err
	}
	return strings.TrimSpace(string(b)), nil, nil
}

// offlineLogCheck is the log check of an offline verification: the proof
// file against the bundle's logPolicy. Without --proof no log check is made
// (nil): an offline verifier holds what the holder or the issuer gave it,
// and the check is asked for by giving the proof.
func offlineLogCheck(tb *credential.TrustBundle, proofFile, token string) (func() verify.Check, error) {
	if proofFile == "" {
		return nil, nil
	}
	if tb.LogPolicy == "" {
		return nil, usageError{"信任包中没有公开日志策略（logPolicy），无法检查 --proof / the trust bundle has no logPolicy to check --proof against"}
	}
	pol, err := tlog.ParsePolicy([]byte(tb.LogPolicy))
	if err != nil {
		return nil, fmt.Errorf("信任包的公开日志策略无效 / the trust bundle's logPolicy is invalid: %w", err)
	}
	p, err := os.ReadFile(proofFile) // #nosec G304 G703 -- a path the operator gave on the command line
	if err != nil {
		return nil, usageError{fmt.Sprintf("无法读取证明文件 / cannot read the proof: %v", err)}
	}
	return func() verify.Check { return verify.CheckLogProof(pol, p, token) }, nil
}

// numberOf reads the certificate number of an unverified record.
func numberOf(token string) (string, error) {
	var c credential.CertificateClaims
	if _, err := credential.Decode(token, credential.TypeCertificate, &c); err != nil {
		return "", err
	}
	return c.CredentialSubject.Achievement.Number, nil
}
