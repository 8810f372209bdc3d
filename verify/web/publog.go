package web

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/publog"
	"certd/issuer/tlog"
)

// logFile serves a public log file (C2SP tlog-tiles): long-lived cache
// headers for tiles and entry bundles, a short one for the checkpoint.
func (h *handlers) logFile(c *fiber.Ctx) error {
	res, err := h.logFiles(c.Params("*"))
	if err != nil {
		c.Set("Cache-Control", tlog.CacheMissing)
		return c.Status(fiber.StatusNotFound).SendString(tlog.ErrNotFound.Error())
	}
	c.Set("Content-Type", res.ContentType)
	c.Set("Cache-Control", res.CacheControl)
	c.Set("Access-Control-Allow-Origin", "*")
	return c.Send(res.Body)
}

var (
	errNotLogged = &issuer.Error{Kind: issuer.ErrNotFound, Code: "not_logged",
		Zh: "公开日志中没有这张证书的签发记录", En: "the public log has no issuance entry for this certificate"}
	errNotPublished = &issuer.Error{Kind: issuer.ErrUnavailable, Code: "not_yet_published",
		Zh: "证书刚刚签发，尚未进入见证人联署的检查点，请几秒后再试", En: "just issued: not yet in a witnessed checkpoint; try again in a few seconds"}
)

// proof serves a certificate's C2SP tlog-proof (text/plain), which
// `certd verify --trust` checks offline against the bundle's logPolicy.
func (h *handlers) proof(c *fiber.Ctx) error {
	number, _, _, err := certParams(c)
	if err != nil {
		return h.failWith(c, err)
	}
	p, err := h.proofs.Proof(c.UserContext(), number)
	switch {
	case errors.Is(err, publog.ErrNotLogged):
		return h.fail(c, errNotLogged)
	case errors.Is(err, tlog.ErrNotPublished):
		c.Set("Retry-After", "2")
		return h.fail(c, errNotPublished)
	case err != nil:
		return h.unavailable(c, err)
	}
	c.Set("Content-Type", "text/plain; charset=utf-8")
	// A proof is built on the first checkpoint that covered the entry: it
	// does not change, but a trust bundle change may call for a new one.
	c.Set("Cache-Control", "public, max-age=3600")
	c.Set("Content-Length", strconv.Itoa(len(p)))
	return c.Send(p)
}
