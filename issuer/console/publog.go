package console

import (
	"github.com/gofiber/fiber/v2"

	"certd/issuer/publog"
)

// logPageMax bounds the entries the page lists (newest first); the counts
// and the warning cover every entry.
const logPageMax = 500

type logPageData struct {
	Institution string
	Enabled     bool
	Log         *publog.InstitutionLog
	Shown       []publog.InstitutionEntry
	Err         string
}

// logPage shows a college the public log's entries under its id, and warns
// about every one that certd did not write for it (signed under its name
// elsewhere, or its record deleted). The authority picks a college with
// ?institution=.
func (c *Console) logPage(fc *fiber.Ctx, rc *reqCtx) error {
	id := rc.actor.InstitutionID
	if rc.actor.Authority {
		id = fc.Query("institution")
	}
	d := logPageData{Institution: id, Enabled: c.d.PublicLog != nil}
	if id == "" || !d.Enabled {
		return c.render(fc, rc, "publog", d)
	}
	// Reading an institution: the same rule as its certificates.
	if _, err := c.svc.Institution(fc.UserContext(), rc.actor, id); err != nil {
		return c.fail(fc, rc, err)
	}
	l, err := c.d.PublicLog(fc.UserContext(), id)
	if err != nil {
		c.log.Error("console: reading the public log", "error", err)
		d.Err = tr(rc.en, "无法读取或核对公开日志：", "The public log cannot be read or does not check out: ") + err.Error()
		return c.renderStatus(fc, rc, fiber.StatusServiceUnavailable, "publog", d)
	}
	d.Log = l
	for i := len(l.Entries) - 1; i >= 0 && len(d.Shown) < logPageMax; i-- {
		d.Shown = append(d.Shown, l.Entries[i])
	}
	return c.render(fc, rc, "publog", d)
}

func tr(en bool, zh, eng string) string {
	if en {
		return eng
	}
	return zh
}
