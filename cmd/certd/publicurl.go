package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"certd/issuer"
)

// The public address printed in QR codes belongs to the deployment, not to
// a command line: it is recorded once (the first time a certificate is
// printed or the server starts with a real address) and used by every
// process after, so that a command run beside a server configured
// otherwise cannot print QR codes that point elsewhere (issue 13 point 5).
// It changes only deliberately, with certd public-url NEW (audited).
const publicURLKey = "public_url"

// demoKey marks a deployment serve --demo filled: its QR codes may point to
// a loopback address.
const demoKey = "demo"

// isDemo reports whether this process may print a loopback address: serve
// --demo, or any command on a data directory the demo filled.
func (e *env) isDemo(ctx context.Context) (bool, error) {
	if e.cfg.Demo {
		return true, nil
	}
	v, err := e.store.DeploymentValue(ctx, demoKey)
	return v == "true", err
}

// resolveURL is the public address this process uses: the deployment's
// recorded one when there is one (a --public-url or CERTD_PUBLIC_URL that
// differs from it is an error), else the configured one, which is then
// recorded, unless it is loopback outside the demo. strict is for
// printing: a loopback address is refused then, never printed.
func (e *env) resolveURL(ctx context.Context, strict bool) (string, error) {
	given := strings.TrimRight(e.cfg.PublicURL, "/")
	stored, err := e.store.DeploymentValue(ctx, publicURLKey)
	if err != nil {
		return "", err
	}
	demo, err := e.isDemo(ctx)
	if err != nil {
		return "", err
	}
	switch {
	case stored != "" && !e.cfg.PublicURLDefaulted && given != stored:
		return "", errURLDiffers(stored, given)
	case stored != "":
		if strict && isLoopback(stored) && !demo {
			return "", errLoopback(stored)
		}
		return stored, nil
	case isLoopback(given) && !demo:
		if strict {
			return "", errLoopback(given)
		}
		return given, nil // the server may answer there; nothing is recorded
	}
	return e.store.SetDeploymentValue(ctx, publicURLKey, given, time.Now(), nil)
}

// printURL is resolveURL for a command about to print.
func (e *env) printURL() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return e.resolveURL(ctx, true)
}

// isLoopback reports whether u names this machine: nobody else can open
// a QR code pointing there.
func isLoopback(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	h := strings.ToLower(p.Hostname())
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

func errURLDiffers(stored, given string) error {
	return issuer.Errorf(issuer.ErrConflict, "public_url_differs",
		"本部署的公开地址已登记为 %s，与这次给出的 --public-url（或 CERTD_PUBLIC_URL）%s 不符：证书二维码必须指向本部署唯一的公开地址，因此没有打印任何证书。请去掉该设置或改为 %s；如确需迁移到新地址，请运行 certd public-url 新地址（记入审计日志）",
		"this deployment's public address is recorded as %s, which differs from the --public-url (or CERTD_PUBLIC_URL) given, %s: QR codes must point to the deployment's one public address, so nothing was printed. Drop the setting or set it to %s; to move the deployment to a new address, run certd public-url NEW-ADDRESS (audited)",
		stored, given, stored)
}

func errLoopback(u string) error {
	return issuer.Errorf(issuer.ErrInvalid, "public_url_loopback",
		"公开地址 %s 是本机地址，别人扫描证书二维码无法打开，因此没有打印任何证书：请用 --public-url（或 CERTD_PUBLIC_URL）给出本部署的公开地址，如 https://cert.example.edu.cn。只有演示（certd serve --demo）可以使用本机地址",
		"the public address %s is this machine's, which nobody scanning a certificate's QR code can open, so nothing was printed: give this deployment's public address with --public-url (or CERTD_PUBLIC_URL), e.g. https://cert.example.edu.cn. Only the demo (certd serve --demo) may use a loopback address",
		u)
}

// cmdPublicURL shows the deployment's public address, or moves the
// deployment to a new one (audited): certificates printed before keep the
// old address in their QR codes, so the old address must keep answering.
func cmdPublicURL(ctx context.Context, args []string, out io.Writer) error {
	f := newFlags("public-url", false)
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError{"usage: certd public-url [NEW-ADDRESS]"}
	}
	e, err := f.cfg.open(ctx)
	if err != nil {
		return err
	}
	defer e.close()
	cur, err := e.store.DeploymentValue(ctx, publicURLKey)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		if cur == "" {
			fmt.Fprintln(out, "尚未登记公开地址：首次打印证书或启动服务时登记 --public-url / no public address recorded yet: the first print or server start records --public-url")
			return nil
		}
		fmt.Fprintf(out, "本部署的公开地址 / this deployment's public address: %s\n", cur)
		return nil
	}
	next := strings.TrimRight(pos[0], "/")
	if u, err := url.Parse(next); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Sprintf("公开地址 %q 应为 http(s):// 开头的地址 / the public address %q must be an http(s):// address", next, next)}
	}
	if isLoopback(next) {
		return errLoopback(next)
	}
	actor := authorityActor()
	detail, _ := json.Marshal(map[string]string{"from": cur, "to": next})
	ev := issuer.AuditEvent{At: time.Now(), Actor: actor.Name, Action: "deployment.public_url", Subject: publicURLKey, Detail: string(detail)}
	if _, err := e.store.SetDeploymentValue(ctx, publicURLKey, next, ev.At, &ev); err != nil {
		return err
	}
	fmt.Fprintf(out, "公开地址已改为 %s（此前打印的证书二维码仍指向 %s，请保持其可访问）/ public address set to %s (QR codes printed before still point to %s: keep it answering)\n", next, cur, next, cur)
	return nil
}
