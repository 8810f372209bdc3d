// Command certd issues and verifies vocational skill level certificates
// (职业技能等级证书) for colleges registered as skill certification
// institutions. Run "certd help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"certd/issuer"
)

// command is one subcommand. run gets the arguments after the command name.
type command struct {
	name, args, help string
	run              func(ctx context.Context, args []string, out io.Writer) error
}

var commands []command

func init() {
	commands = []command{
		{"serve", "[--demo]", "运行HTTP服务 / run the HTTP server", cmdServe},
		{"init", "[--authority-name NAME]", "初始化主管部门与密钥 / create the authority and its key", cmdInit},
		{"institution", "add|update|list|show|suspend|reinstate|withdraw|renew|keys rotate|seal|print|calibrate ...", "管理认定机构 / manage institutions", cmdInstitution},
		{"catalogue", "list|import FILE", "职业目录 / the occupation catalogue", cmdCatalogue},
		{"template", "[--out FILE]", "生成空白名单模板 / write the empty roster workbook", cmdTemplate},
		{"issue", "--institution ID --roster FILE [--photos DIR|ZIP] [--out DIR] [--dry-run] [--json] [--marked FILE]", "按名单发证 / issue certificates from a roster", cmdIssue},
		{"render", "NUMBER [--out FILE.pdf] | --pending | --batch ID", "输出证书PDF，或补齐未完成的打印任务 / write a certificate's PDF, or finish unfinished print jobs", cmdRender},
		{"public-url", "[NEW-ADDRESS]", "查看或迁移本部署的公开地址 / show or move the deployment's public address", cmdPublicURL},
		{"show", "NUMBER", "查看证书、签名记录与审计 / show a certificate, its signed record and history", cmdShow},
		{"revoke", "NUMBER --reason error|misconduct|request|other [--note TEXT]", "撤销证书 / revoke a certificate", cmdRevoke},
		{"reissue", "NUMBER [--name ...] [--doc-number ...] [--level ...] ...", "更正补发 / reissue with corrected fields", cmdReissue},
		{"export", "--format xlsx|csv [--institution ID] [--out FILE]", "导出台账 / export the ledger", cmdExport},
		{"audit", "[--institution ID] [--subject S]", "审计日志 / the audit trail", cmdAudit},
		{"trust", "export", "导出信任包（离线验证用） / export the trust bundle for offline verification", cmdTrust},
		{"credential", "NUMBER [--disclose name,documentHash,birthDate,photoDigest|none] [--out FILE|-]", "输出持证人凭证（SD-JWT VC） / write a certificate's holder credential (SD-JWT VC)", cmdCredential},
		{"verify", "TOKEN-or-FILE [--trust trust.json]", "验证签名记录、证书PDF或持证人凭证 / verify a signed record, a certificate PDF or a holder credential", cmdVerify},
		{"backup", "--out FILE [--trust trust.json]", "在线备份内置数据库并核对副本 / back up the embedded database online and check the copy", cmdBackup},
		{"restore", "--from FILE --data DIR [--trust trust.json]", "把备份恢复到空的数据目录 / restore a backup into an empty data directory", cmdRestore},
		{"check", "[--trust trust.json]", "核对每张证书的签名、状态、PDF与审计日志 / check every certificate's signature, status, PDF and audit trail", cmdCheck},
		{"witness", "--name NAME (--trust trust.json | --log-keys VKEY,...) [--listen ADDR]", "运行公开日志见证人 / run a witness of a public log", cmdWitness},
		{"log", "audit [--state FILE] | monitor --url URL --trust trust.json [--state FILE] | proof NUMBER", "审计、监视公开日志，或输出证书的日志证明 / audit or monitor the public log, or print a certificate's proof", cmdLog},
		{"user", "add LOGIN --role ROLE [--institution ID] --name NAME | list | disable LOGIN | enable LOGIN | passwd LOGIN | tokens | revoke-token ID | reset-totp LOGIN", "控制台账号 / console accounts", cmdUser},
		{"totp-code", "KEY", "由两步验证密钥算出当前验证码（演示、无手机时） / the current two-step code for a key (demos, no phone at hand)", cmdTOTPCode},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "certd — 职业技能等级证书发证与验证 / skill certificate issuance and verification")
	fmt.Fprintln(w, "\nusage: certd COMMAND [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n  %-12s   %s\n", c.name, c.help, "", c.args)
	}
	fmt.Fprintln(w, "\nEvery command takes --data DIR (default ./data), --database-url, --kek-file and --json where it reports.")
	fmt.Fprintln(w, "Run certd COMMAND -h for a command's flags.")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK       = 0
	exitFailed   = 1 // the request was refused: bad roster, rule broken, verification failed
	exitUsage    = 2 // bad command line or configuration
	exitInternal = 3 // the store or another backing service failed
	// exitUnfinished: certificates were issued but not all their PDFs were
	// made (interrupted, or the disk or database failed while printing);
	// the print job stays pending and the report says how to finish it.
	exitUnfinished = 4
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout)
			return report(stderr, err)
		}
	}
	fmt.Fprintf(stderr, "certd: 未知命令 %q / unknown command %q\n", args[0], args[0])
	usage(stderr)
	return exitUsage
}

// errSilent means the command already printed its report and only the exit
// status remains to be set.
type errSilent struct{ code int }

func (e errSilent) Error() string { return "" }

// report prints an error for a person and picks the exit status. Internal
// errors are printed without stack traces; the message is what the user
// needs to act.
func report(w io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var s errSilent
	if errors.As(err, &s) {
		return s.code
	}
	var u usageError
	if errors.As(err, &u) {
		fmt.Fprintf(w, "certd: %s\n", u.msg)
		return exitUsage
	}
	if e, ok := issuer.AsError(err); ok {
		fmt.Fprintf(w, "certd: %s\n       %s\n", e.Zh, e.En)
		if e.Kind == issuer.ErrUnavailable {
			// Whoever runs the command holds the data directory: the
			// engine's own words help them find what failed.
			if e.Err != nil {
				fmt.Fprintf(w, "       原因 / cause: %v\n", e.Err)
			}
			return exitInternal
		}
		return exitFailed
	}
	fmt.Fprintf(w, "certd: %v\n", err)
	if issuer.Is(err, issuer.ErrUnavailable) {
		return exitInternal
	}
	return exitFailed
}
