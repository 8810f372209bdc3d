package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer/account"
	"certd/issuer/console"
)

// accounts is the account service over the open store; both store
// backends keep accounts next to the issuing records.
func (e *env) accounts() (*account.Service, error) {
	st, ok := e.store.(account.Store)
	if !ok {
		return nil, fmt.Errorf("this store does not keep console accounts")
	}
	as := account.New(st, e.svc)
	// TOTP secrets are sealed under the same KEK as the signing keys.
	if e.svc.KEK != nil {
		as.Sealer = e.svc.KEK
	}
	return as, nil
}

// cliUser is who the command line acts as when managing accounts: the
// operator holding the data directory and its keys.
func cliUser() account.User {
	return account.User{ID: "cli", Name: authorityActor().Name, Role: account.AuthorityAdmin}
}

func printCredentials(out io.Writer, u account.User, pw string) {
	inst := u.InstitutionID
	if inst == "" {
		inst = "-"
	}
	fmt.Fprintf(out, "  账号 / account: %-16s 密码 / password: %s  (%s / %s, %s)\n", u.Name, pw, u.Role.Chinese(), u.Role.English(), inst)
}

func cmdUser(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("user", true)
	role := f.String("role", "college_operator", "add: authority_admin, college_admin, college_operator or auditor")
	inst := f.String("institution", "", "add: the college (empty for authority_admin or a province-wide auditor); list: only this college")
	display := f.String("name", "", "add: the person's name as shown in the console and the audit log")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 || (pos[0] != "list" && pos[0] != "tokens" && len(pos) < 2) {
		return usageError{"usage: certd user add LOGIN --role ROLE [--institution ID] --name NAME | list [--institution ID] | disable LOGIN | enable LOGIN | passwd LOGIN | tokens [--institution ID] | revoke-token TOKEN-ID | reset-totp LOGIN"}
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	as, err := e.accounts()
	if err != nil {
		return err
	}
	by := cliUser()
	byName := func(name string) (account.User, error) { return as.UserByName(ctx, by, name) }
	switch pos[0] {
	case "add":
		dn := *display
		if dn == "" {
			dn = pos[1]
		}
		u, pw, err := as.Create(ctx, by, account.NewUser{Name: pos[1], DisplayName: dn, Role: account.Role(*role), InstitutionID: *inst})
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "已创建账号，初始密码仅显示这一次，首次登录须修改 / account created; the password is shown only now and must be changed at first login:")
		printCredentials(out, u, pw)
	case "list":
		us, err := as.Users(ctx, by, account.UserFilter{InstitutionID: *inst})
		if err != nil {
			return err
		}
		if f.json {
			type row struct {
				Name, DisplayName, Role, Institution string
				Disabled                             bool
			}
			var rows []row
			for _, u := range us {
				rows = append(rows, row{u.Name, u.DisplayName, string(u.Role), u.InstitutionID, u.Disabled})
			}
			return writeJSON(out, rows)
		}
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "登录名 LOGIN\t姓名 NAME\t角色 ROLE\t院校 COLLEGE\t状态 STATUS")
		for _, u := range us {
			st := "正常 active"
			if u.Disabled {
				st = "停用 disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.DisplayName, u.Role, u.InstitutionID, st)
		}
		return tw.Flush()
	case "disable", "enable":
		u, err := byName(pos[1])
		if err != nil {
			return err
		}
		if _, err := as.SetDisabled(ctx, by, u.ID, pos[0] == "disable"); err != nil {
			return err
		}
		fmt.Fprintf(out, "账号 %s 已%s / account %s %sd\n", u.Name, map[string]string{"disable": "停用", "enable": "启用"}[pos[0]], u.Name, pos[0])
	case "passwd":
		u, err := byName(pos[1])
		if err != nil {
			return err
		}
		pw, err := as.ResetPassword(ctx, by, u.ID)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, "已重置密码，仅显示这一次，登录后须修改 / password reset; shown only now, to be changed at next login:")
		printCredentials(out, u, pw)
	case "reset-totp":
		u, err := byName(pos[1])
		if err != nil {
			return err
		}
		if _, err := as.ResetTOTP(ctx, by, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(out, "账号 %s 的两步验证已重置，其登录已全部退出，下次登录须重新设置 / two-step sign-in of %s reset; its sessions ended and it sets it up again at next sign-in\n", u.Name, u.Name)
	case "tokens":
		return listTokens(ctx, as, by, *inst, f.json, out)
	case "revoke-token":
		if err := as.RevokeToken(ctx, by, pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(out, "API令牌 %s 已吊销 / API token %s revoked\n", pos[1], pos[1])
	default:
		return usageError{"unknown user command " + pos[0]}
	}
	return nil
}

// listTokens prints every API token (of one college's accounts with inst),
// with its holder, so that the operator can revoke what should not be live.
func listTokens(ctx context.Context, as *account.Service, by account.User, inst string, asJSON bool, out io.Writer) error {
	us, err := as.Users(ctx, by, account.UserFilter{InstitutionID: inst})
	if err != nil {
		return err
	}
	ts, err := as.ManagedTokens(ctx, by)
	if err != nil {
		return err
	}
	holders := make(map[string]account.User, len(us))
	for _, u := range us {
		holders[u.ID] = u
	}
	type row struct {
		ID, Login, Institution, Label string
		Scopes                        []account.Scope
		Created, Expires, Revoked     string
	}
	var rows []row
	for _, t := range ts {
		u, ok := holders[t.UserID]
		if !ok {
			continue // another college's, when inst filters
		}
		r := row{ID: t.ID, Login: u.Name, Institution: u.InstitutionID, Label: t.Label, Scopes: t.Scopes, Created: t.CreatedAt.Format(time.RFC3339)}
		if !t.ExpiresAt.IsZero() {
			r.Expires = t.ExpiresAt.Format(time.RFC3339)
		}
		if !t.RevokedAt.IsZero() {
			r.Revoked = t.RevokedAt.Format(time.RFC3339)
		}
		rows = append(rows, r)
	}
	if asJSON {
		return writeJSON(out, rows)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "令牌 TOKEN\t登录名 LOGIN\t院校 COLLEGE\t名称 LABEL\t有效期至 EXPIRES\t状态 STATUS")
	for _, r := range rows {
		st := "有效 active"
		if r.Revoked != "" {
			st = "已吊销 revoked " + r.Revoked
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Login, r.Institution, r.Label, r.Expires, st)
	}
	return tw.Flush()
}

// seedDemoAccounts creates the demo's console accounts and prints their
// generated passwords once.
func seedDemoAccounts(ctx context.Context, e *env, out io.Writer, inst string) error {
	as, err := e.accounts()
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "  控制台账号（密码仅显示这一次） / console accounts (passwords shown only now):")
	for _, nu := range []account.NewUser{
		{Name: "admin", DisplayName: "主管部门管理员", Role: account.AuthorityAdmin},
		{Name: "demo.admin", DisplayName: "演示院校管理员", Role: account.CollegeAdmin, InstitutionID: inst},
		{Name: "demo.operator", DisplayName: "演示院校经办人", Role: account.CollegeOperator, InstitutionID: inst},
	} {
		u, pw, err := as.Create(ctx, cliUser(), nu)
		if err != nil {
			return err
		}
		printCredentials(out, u, pw)
	}
	fmt.Fprintln(out, "  主管部门管理员 admin 首次登录须先修改密码，再用手机身份验证器App（TOTP，如 Microsoft Authenticator、Google Authenticator）扫码启用两步验证；")
	fmt.Fprintln(out, "  手边没有手机时，可用页面上显示的密钥运行 `certd totp-code 密钥` 得到当前验证码（仅供演示）。")
	fmt.Fprintln(out, "  the authority administrator admin must change the password at first login, then set up two-step sign-in with an")
	fmt.Fprintln(out, "  authenticator app (TOTP); without a phone, `certd totp-code KEY` prints the current code for the key the page shows (demo only).")
	return nil
}

// mountConsole adds the web console and its API to the app.
func mountConsole(app *fiber.App, e *env) error {
	as, err := e.accounts()
	if err != nil {
		return err
	}
	// Roster uploads in progress go to disk next to the database, not to
	// a /tmp that may be memory.
	d := console.Deps{Service: e.svc, Accounts: as, KEK: e.svc.KEK, Log: e.log,
		PublicURL: e.cfg.PublicURL, TrustedProxies: strings.Split(e.cfg.TrustedProxies, ","), UploadDir: filepath.Join(e.cfg.Data, "uploads")}
	if rt := e.publog; rt != nil {
		d.PublicLog = rt.institutionLog
	}
	_, err = console.Mount(app, d)
	return err
}

// cmdTOTPCode prints the current code for a TOTP key as the set-up page
// shows it: for a demo or a test without a phone. It reads no data: the key
// is the secret, and whoever typed it here already has it.
func cmdTOTPCode(_ context.Context, args []string, out io.Writer) error {
	key := strings.Join(args, "")
	if key == "" || strings.HasPrefix(key, "-") {
		return usageError{"usage: certd totp-code KEY   (the key the two-step set-up page shows, spaces allowed)"}
	}
	code, err := account.TOTPCode(key, time.Now())
	if err != nil {
		return usageError{"密钥无效 / not a valid key: " + err.Error()}
	}
	fmt.Fprintln(out, code)
	return nil
}
