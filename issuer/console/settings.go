package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"image/png"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/account"
)

type settingsData struct {
	In   issuer.Institution
	Fees []feeRow
	Err  *formErr
}

// own is the caller's institution; settings pages are for college
// administrators, who always act for their own college.
func (c *Console) own(fc *fiber.Ctx, rc *reqCtx) (issuer.Institution, error) {
	return c.svc.Institution(fc.UserContext(), rc.actor, rc.user.InstitutionID)
}

func (c *Console) settingsView(fc *fiber.Ctx, rc *reqCtx, status int, ferr error) error {
	in, err := c.own(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	rows, err := c.feeRows(fc, in)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	d := settingsData{In: in, Fees: rows}
	if ferr != nil {
		d.Err = c.formError(ferr)
		// Give back what was typed into the table form.
		if fc.FormValue("form") == "fees" {
			for i := range d.Fees {
				d.Fees[i].Amount = fc.FormValue("amount:" + d.Fees[i].Key)
				d.Fees[i].Basis = fc.FormValue("basis:" + d.Fees[i].Key)
			}
		}
	}
	return c.renderStatus(fc, rc, status, "settings", d)
}

func (c *Console) settingsPage(fc *fiber.Ctx, rc *reqCtx) error {
	return c.settingsView(fc, rc, fiber.StatusOK, nil)
}

func (c *Console) settingsDone(fc *fiber.Ctx, rc *reqCtx, err error, msg string) error {
	if err != nil {
		_, _, status := c.userError(err)
		return c.settingsView(fc, rc, status, err)
	}
	return c.redirect(fc, "/console/settings", msg)
}

// saved is settingsDone after a save that returned in, from the version
// before: a save that changed nothing made no version and says so.
func (c *Console) saved(fc *fiber.Ctx, rc *reqCtx, before int, in issuer.Institution, err error, msg string) error {
	if err == nil && in.Version == before {
		msg = "unchanged"
	}
	return c.settingsDone(fc, rc, err, msg)
}

func (c *Console) settingsPrint(fc *fiber.Ctx, rc *reqCtx) error {
	in, err := c.own(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	ps := in.Print
	ps.Layout = fc.FormValue("layout")
	if ps.Layout != "full" && ps.Layout != "preprinted" {
		return c.settingsDone(fc, rc, errf(issuer.ErrInvalid, "layout", "版式应为整张打印或套打", "the layout must be full or preprinted"), "")
	}
	for _, o := range []struct {
		name string
		dst  *float64
	}{{"offset_x", &ps.OffsetX}, {"offset_y", &ps.OffsetY}} {
		v := strings.TrimSpace(fc.FormValue(o.name))
		if v == "" {
			v = "0"
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < -20 || f > 20 {
			return c.settingsDone(fc, rc, errf(issuer.ErrInvalid, "offset", "打印偏移应为-20至20之间的毫米数", "print offsets must be millimetres between -20 and 20"), "")
		}
		*o.dst = f
	}
	ps.English = fc.FormValue("english") == "1"
	next, err := c.svc.SetPrintSettings(fc.UserContext(), rc.actor, in.ID, ps)
	return c.saved(fc, rc, in.Version, next, err, "saved")
}

// A seal is saved in two steps: the upload is checked and shown on a
// sample certificate, next to the seal on file, and kept here until the
// administrator confirms it (or sealTTL passes). One pending seal per
// college, at most 1 MB each, in memory. (Several certd processes behind a
// load balancer need sticky sessions for this step, as for a roster's.)
type pendingSeals struct {
	mu sync.Mutex
	m  map[string]pendingSeal // by institution
}

type pendingSeal struct {
	token string // hex SHA-256 of the image: the confirmation names it
	data  []byte
	at    time.Time
}

const sealTTL = 30 * time.Minute

func (ps *pendingSeals) put(inst string, data []byte, now time.Time) string {
	sum := sha256.Sum256(data)
	tok := hex.EncodeToString(sum[:])
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m == nil {
		ps.m = map[string]pendingSeal{}
	}
	for k, v := range ps.m {
		if now.Sub(v.at) > sealTTL {
			delete(ps.m, k)
		}
	}
	ps.m[inst] = pendingSeal{token: tok, data: data, at: now}
	return tok
}

// take returns and forgets the pending seal of inst named by token.
func (ps *pendingSeals) take(inst, token string, now time.Time) ([]byte, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.m[inst]
	if !ok || p.token != token || now.Sub(p.at) > sealTTL {
		return nil, false
	}
	delete(ps.m, inst)
	return p.data, true
}

type sealData struct {
	In            issuer.Institution
	Current, Next template.URL // data: URIs of the sample certificates
	Token         string
}

// settingsSeal checks an uploaded seal and shows it on a sample
// certificate, next to the seal on file; nothing is saved yet.
func (c *Console) settingsSeal(fc *fiber.Ctx, rc *reqCtx) error {
	in, err := c.own(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	fh, err := fc.FormFile("seal")
	if err != nil {
		return c.settingsDone(fc, rc, errf(issuer.ErrInvalid, "seal_missing", "请选择印章图片（PNG）", "choose the seal image (PNG)"), "")
	}
	b, err := readUpload(fh, 1<<20)
	if err != nil {
		return c.settingsDone(fc, rc, err, "")
	}
	if _, err := png.DecodeConfig(bytes.NewReader(b)); err != nil {
		return c.settingsDone(fc, rc, errf(issuer.ErrInvalid, "seal_png", "印章应为PNG图片（透明背景）", "the seal must be a PNG image (transparent background)"), "")
	}
	cur, next, err := c.svc.SealPreview(fc.UserContext(), rc.actor, in.ID, b)
	if err != nil {
		return c.settingsDone(fc, rc, err, "")
	}
	d := sealData{In: in, Next: pngURL(next), Token: c.seals.put(in.ID, b, c.now())}
	if cur != nil {
		d.Current = pngURL(cur)
	}
	return c.render(fc, rc, "seal_confirm", d)
}

// pngURL is a PNG as a data: URI (the console's CSP allows data: images).
func pngURL(b []byte) template.URL {
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b)) // #nosec G203 -- our own PNG, base64
}

// settingsSealConfirm saves the seal previewed.
func (c *Console) settingsSealConfirm(fc *fiber.Ctx, rc *reqCtx) error {
	in, err := c.own(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	b, ok := c.seals.take(in.ID, fc.FormValue("token"), c.now())
	if !ok {
		return c.settingsDone(fc, rc, errf(issuer.ErrInvalid, "seal_expired", "预览已过期或已保存，请重新上传印章图片", "the preview has expired or was saved already; upload the seal again"), "")
	}
	ps := in.Print
	ps.Seal = b
	next, err := c.svc.SetPrintSettings(fc.UserContext(), rc.actor, in.ID, ps)
	return c.saved(fc, rc, in.Version, next, err, "saved")
}

// settingsSealImage is the seal on file, for the settings page.
func (c *Console) settingsSealImage(fc *fiber.Ctx, rc *reqCtx) error {
	in, err := c.own(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	if len(in.Print.Seal) == 0 {
		return fc.SendStatus(fiber.StatusNoContent)
	}
	fc.Set(fiber.HeaderContentType, http.DetectContentType(in.Print.Seal))
	return fc.Send(in.Print.Seal)
}

// settingsFees reads the fee schedule as CSV lines:
// occupation code, level, amount in yuan, basis.
// settingsFees publishes the fee schedule from the table form (an amount
// per occupation and level of the scope) or from an uploaded sheet in the
// template's columns.
func (c *Console) settingsFees(fc *fiber.Ctx, rc *reqCtx) error {
	in, err := c.own(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	var specs []issuer.FeeSpec
	if fh, ferr := fc.FormFile("sheet"); ferr == nil {
		var b []byte
		if b, err = readUpload(fh, 1<<20); err == nil {
			specs, err = feesFromSheet(fc.UserContext(), fh.Filename, b)
		}
		if err != nil {
			return c.settingsDone(fc, rc, err, "")
		}
	} else {
		rows, err := c.feeRows(fc, in)
		if err != nil {
			return c.fail(fc, rc, err)
		}
		specs = feesFromForm(fc, rows)
	}
	next, err := c.svc.SetFees(fc.UserContext(), rc.actor, in.ID, specs)
	return c.saved(fc, rc, in.Version, next, err, "fees")
}

func (c *Console) settingsCalibration(fc *fiber.Ctx, rc *reqCtx) error {
	pdf, err := c.svc.Calibration(fc.UserContext(), rc.actor, rc.user.InstitutionID)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	fc.Set(fiber.HeaderContentType, "application/pdf")
	fc.Set(fiber.HeaderContentDisposition, `attachment; filename="calibration.pdf"`)
	return fc.Send(pdf)
}

type usersData struct {
	Users        []account.User
	Tokens       []userToken
	Roles        []account.Role
	Institutions []issuer.Institution
	Created      *account.User
	Password     string
	Err          *formErr
}

// userToken is an API token as the users page lists it, with its holder.
type userToken struct {
	account.Token
	Holder account.User
}

func (c *Console) usersView(fc *fiber.Ctx, rc *reqCtx, status int, d usersData) error {
	us, err := c.acc.Users(fc.UserContext(), rc.user, account.UserFilter{})
	if err != nil {
		return c.fail(fc, rc, err)
	}
	d.Users = us
	ts, err := c.acc.ManagedTokens(fc.UserContext(), rc.user)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	holders := make(map[string]account.User, len(us))
	for _, u := range us {
		holders[u.ID] = u
	}
	for _, t := range ts {
		d.Tokens = append(d.Tokens, userToken{Token: t, Holder: holders[t.UserID]})
	}
	if rc.user.Role == account.AuthorityAdmin {
		d.Roles = account.Roles
		if d.Institutions, err = c.svc.Institutions(fc.UserContext(), rc.actor); err != nil {
			return c.fail(fc, rc, err)
		}
	} else {
		d.Roles = []account.Role{account.CollegeOperator, account.CollegeAdmin, account.Auditor}
	}
	return c.renderStatus(fc, rc, status, "users", d)
}

func (c *Console) usersPage(fc *fiber.Ctx, rc *reqCtx) error {
	return c.usersView(fc, rc, fiber.StatusOK, usersData{})
}

func (c *Console) createUser(fc *fiber.Ctx, rc *reqCtx) error {
	nu := account.NewUser{Name: fc.FormValue("name"), DisplayName: fc.FormValue("display_name"), Role: account.Role(fc.FormValue("role")), InstitutionID: fc.FormValue("institution")}
	u, pw, err := c.acc.Create(fc.UserContext(), rc.user, nu)
	if err != nil {
		_, _, status := c.userError(err)
		return c.usersView(fc, rc, status, usersData{Err: c.formError(err)})
	}
	return c.usersView(fc, rc, fiber.StatusOK, usersData{Created: &u, Password: pw})
}

func (c *Console) disableUser(fc *fiber.Ctx, rc *reqCtx) error {
	if _, err := c.acc.SetDisabled(fc.UserContext(), rc.user, fc.Params("id"), true); err != nil {
		return c.fail(fc, rc, err)
	}
	return c.redirect(fc, "/console/users", "disabled")
}

func (c *Console) enableUser(fc *fiber.Ctx, rc *reqCtx) error {
	if _, err := c.acc.SetDisabled(fc.UserContext(), rc.user, fc.Params("id"), false); err != nil {
		return c.fail(fc, rc, err)
	}
	return c.redirect(fc, "/console/users", "enabled")
}

func (c *Console) resetUser(fc *fiber.Ctx, rc *reqCtx) error {
	u, err := c.acc.User(fc.UserContext(), rc.user, fc.Params("id"))
	if err != nil {
		return c.fail(fc, rc, err)
	}
	pw, err := c.acc.ResetPassword(fc.UserContext(), rc.user, u.ID)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	return c.usersView(fc, rc, fiber.StatusOK, usersData{Created: &u, Password: pw})
}

// resetUserTOTP removes the two-step sign-in of an account the caller
// manages (a lost phone); its holder sets it up again.
func (c *Console) resetUserTOTP(fc *fiber.Ctx, rc *reqCtx) error {
	if _, err := c.acc.ResetTOTP(fc.UserContext(), rc.user, fc.Params("id")); err != nil {
		return c.fail(fc, rc, err)
	}
	return c.redirect(fc, "/console/users", "totp_reset")
}

// revokeUserToken revokes an API token of an account the caller manages
// (account.Service decides which).
func (c *Console) revokeUserToken(fc *fiber.Ctx, rc *reqCtx) error {
	if err := c.acc.RevokeToken(fc.UserContext(), rc.user, fc.Params("id")); err != nil {
		return c.fail(fc, rc, err)
	}
	return c.redirect(fc, "/console/users", "token_revoked")
}
