package web

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/verify/cache"
)

// Codes that need an HTTP status of their own; every other error is
// answered by its kind (statusOf).
const (
	codeTooLarge       = "too_large"              // 413
	codeRateLimited    = "rate_limited"           // 429
	codeConfirmLimited = "confirm_limited"        // 429
	codeMediaType      = "unsupported_media_type" // 415
)

// The errors the handlers answer with themselves. The lookup service and
// the parsers of package verify bring their own.
var (
	errBadCode = issuer.Errorf(issuer.ErrInvalid, "verification_code",
		"验证码格式不正确（应为16位字母或数字）", "malformed verification code (16 letters or digits)")
	errNoName        = issuer.Errorf(issuer.ErrInvalid, "name_missing", "请填写姓名", "enter the holder's name")
	errRateLimited   = issuer.Errorf(issuer.ErrForbidden, codeRateLimited, "请求过于频繁，请稍后再试", "too many requests; try again later")
	errNoInstitution = issuer.Errorf(issuer.ErrNotFound, "institution_not_found", "没有该认定机构", "no such institution")
	errMediaType     = issuer.Errorf(issuer.ErrInvalid, codeMediaType,
		"不支持的内容类型：请发送 JSON、JWS 文本或 PDF", "unsupported content type: send JSON, a JWS as text, or a PDF")
	errNoPDFField    = issuer.Errorf(issuer.ErrInvalid, "file_missing", "请以 file 字段上传PDF文件", `upload the PDF as the multipart field "file"`)
	errNoSheet       = issuer.Errorf(issuer.ErrInvalid, "file_missing", "请选择要上传的文件", "choose a file to upload")
	errTokenTooLarge = issuer.Errorf(issuer.ErrInvalid, codeTooLarge, "签名记录过大", "token too large")
	// errInternal has no kind: it is a fault of certd's, a 500.
	errInternal = &issuer.Error{Code: "internal", Zh: "服务器内部错误", En: "internal error"}
)

// statusOf maps an error to its HTTP status: by its kind, and by its code
// where the kind alone does not say it. This is the only place a
// verification error becomes a status.
func statusOf(e *issuer.Error) int {
	switch e.Code {
	case codeTooLarge:
		return fiber.StatusRequestEntityTooLarge
	case codeRateLimited, codeConfirmLimited:
		return fiber.StatusTooManyRequests
	case codeMediaType:
		return fiber.StatusUnsupportedMediaType
	}
	switch e.Kind {
	case issuer.ErrInvalid:
		return fiber.StatusBadRequest
	case issuer.ErrNotFound:
		return fiber.StatusNotFound
	case issuer.ErrConflict:
		return fiber.StatusConflict
	case issuer.ErrForbidden:
		return fiber.StatusForbidden
	case issuer.ErrUnavailable:
		return fiber.StatusServiceUnavailable
	}
	return fiber.StatusInternalServerError
}

// reasonOf is the API error's machine-readable class of a status.
func reasonOf(status int) string {
	switch status {
	case fiber.StatusBadRequest:
		return "bad_request"
	case fiber.StatusNotFound:
		return "not_found"
	case fiber.StatusRequestEntityTooLarge:
		return "too_large"
	case fiber.StatusTooManyRequests:
		return "rate_limited"
	case fiber.StatusServiceUnavailable:
		return "unavailable"
	case fiber.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	}
	return "error"
}

// apiError is the body of every API error.
type apiError struct {
	Error  string `json:"error"`  // Chinese / English
	Reason string `json:"reason"` // the class of the status (reasonOf)
	Code   string `json:"code,omitempty"`
}

// fail answers e in the form the route speaks: JSON under /api and for the
// machine documents, a page elsewhere.
func (h *handlers) fail(c *fiber.Ctx, e *issuer.Error) error {
	status := statusOf(e)
	c.Set("Cache-Control", "no-store")
	p := c.Path()
	if strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/status/") || strings.HasSuffix(p, ".json") {
		return c.Status(status).JSON(apiError{Error: e.Error(), Reason: reasonOf(status), Code: e.Code})
	}
	en := wantsEnglish(c)
	title := t(en, "无法处理", "Cannot process")
	var advice string
	switch status {
	case fiber.StatusServiceUnavailable:
		// An employer reading this must not take it for a verdict.
		title = t(en, "暂不可用", "Unavailable")
		advice = t(en, "这不表示证书无效或不存在：核验系统暂时无法读取证书登记册。请稍后刷新本页。",
			"This does not mean the certificate is invalid or unknown: the register cannot be read right now. Reload this page shortly.")
	case fiber.StatusTooManyRequests:
		advice = t(en, "这不表示证书无效或不存在：来自您网络的查询过于频繁。请稍后再试。",
			"This does not mean the certificate is invalid or unknown: too many requests came from your network. Try again later.")
	}
	msg := t(en, e.Zh, e.En)
	d := h.pageData(c, "/", en, title, msg)
	d.Message, d.Advice = msg, advice
	return h.renderPage(c, status, "error", d)
}

// failWith answers an error from another package: its own bilingual
// message when it is an issuer.Error, otherwise a logged internal error.
func (h *handlers) failWith(c *fiber.Ctx, err error) error {
	if e, ok := issuer.AsError(err); ok {
		return h.fail(c, e)
	}
	h.log.Error("public request failed", "error", err, "route", routeOf(c))
	return h.fail(c, errInternal)
}

// unavailable answers a lookup that could not be made. Only the lookup
// service's own "unavailable" is expected; anything else is logged.
func (h *handlers) unavailable(c *fiber.Ctx, err error) error {
	if !errors.Is(err, issuer.ErrUnavailable) {
		h.log.Error("verification failed", "error", err)
	}
	c.Set("Retry-After", "2")
	return h.fail(c, cache.ErrUnavailable)
}

func (h *handlers) limited(c *fiber.Ctx) error {
	h.m.limited.Inc()
	c.Set("Retry-After", "60")
	return h.fail(c, errRateLimited)
}
