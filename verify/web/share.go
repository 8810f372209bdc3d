package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/skip2/go-qrcode"

	"certd/issuer"
	"certd/verify"
	"certd/verify/cache"
)

// Share links (/s/TOKEN): a page a holder made to show one certificate for
// a while, with the ID number hidden or masked as they chose. It is the
// verification page of the number (same verdict, same checks, read through
// the same cache) with a band saying who shared it, until when, and that
// they can withdraw it. The link never upgrades the verdict: a revoked or
// superseded certificate shows as such.
//
// A link's state is read from the store after the certificate's cached
// view was obtained and is kept with that view: every change to a link
// (made, extended, ended) appends an audit event on the certificate's
// number, which the lookup service's tail turns into an invalidation of
// the view, so the next view of the link reads it again. A withdrawn link
// is therefore answered as withdrawn by every instance within the same
// second as a revocation. While the instance cannot vouch for its view
// (stale), the link is read from the store on every view.
//
// Views are counted in memory and added to the store every few seconds;
// nothing about the viewer is kept.

// shareState is a link as last read, with the view it was read after and
// its rendered pages (Chinese, English).
type shareState struct {
	link  issuer.ShareLink
	entry *cache.Entry
	pages [2]atomic.Pointer[cache.Blob]
	views atomic.Int64
	last  atomic.Int64 // unix seconds of the last counted view
}

// maxShareStates bounds the links an instance keeps; past it the map is
// flushed and started again.
const maxShareStates = 50_000

// shareFlushEvery is how often counted views go to the store.
const shareFlushEvery = 2 * time.Second

type shares struct {
	store verify.Store
	log   interface{ Warn(string, ...any) }
	mu    sync.RWMutex
	m     map[string]*shareState
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func newShares(st verify.Store, log interface{ Warn(string, ...any) }) *shares {
	s := &shares{store: st, log: log, m: map[string]*shareState{}, stop: make(chan struct{}), done: make(chan struct{})}
	go s.flushLoop()
	return s
}

func (s *shares) get(th string) *shareState {
	s.mu.RLock()
	st := s.m[th]
	s.mu.RUnlock()
	return st
}

// put keeps st, carrying over the views counted on the state it replaces.
func (s *shares) put(th string, st *shareState) {
	s.mu.Lock()
	if old := s.m[th]; old != nil {
		st.views.Add(old.views.Swap(0))
		st.last.Store(max(st.last.Load(), old.last.Load()))
	}
	var pending []issuer.ShareView
	if len(s.m) >= maxShareStates {
		pending = collect(s.m)
		s.m = map[string]*shareState{}
	}
	s.m[th] = st
	s.mu.Unlock()
	if len(pending) > 0 {
		go s.write(pending)
	}
}

func collect(m map[string]*shareState) []issuer.ShareView {
	var out []issuer.ShareView
	for th, st := range m {
		if n := st.views.Swap(0); n > 0 {
			out = append(out, issuer.ShareView{TokenHash: th, N: n, At: time.Unix(st.last.Load(), 0).UTC()})
		}
	}
	return out
}

func (s *shares) flush() {
	s.mu.RLock()
	pending := collect(s.m)
	s.mu.RUnlock()
	s.write(pending)
}

func (s *shares) write(pending []issuer.ShareView) {
	if len(pending) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.store.AddShareViews(ctx, pending); err != nil {
		// The counts are lost rather than retried without bound: a view
		// count is information for the holder, not a record.
		s.log.Warn("share link views not stored", "links", len(pending), "error", err)
	}
}

func (s *shares) flushLoop() {
	defer close(s.done)
	t := time.NewTicker(shareFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.flush()
		case <-s.stop:
			s.flush()
			return
		}
	}
}

// close stores the last counts; an app shut down twice calls it twice.
func (s *shares) close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
}

// shareTokenHash checks a token's shape and returns its hash; ok is false
// for anything that cannot be a token, before any lookup.
func shareTokenHash(tok string) (string, bool) {
	if len(tok) != issuer.ShareTokenLen {
		return "", false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", false
		}
	}
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:]), true
}

// shareBand is what the band over a shared page says.
type shareBand struct {
	Name   string // the holder's name as signed; empty when the record did not verify
	Until  string // expiry, China time
	Hidden bool   // the holder chose not to show the ID number
}

// shareLookup resolves a token to its link state and the certificate's
// view. gone is set (with the link, when known) when the link does not
// show the certificate: unknown, expired or ended.
func (h *handlers) shareLookup(ctx context.Context, tok string) (st *shareState, goneWhy string, err error) {
	th, ok := shareTokenHash(tok)
	if !ok {
		return nil, "unknown", nil
	}
	st = h.shares.get(th)
	number := ""
	if st != nil {
		number = st.link.Number
	} else {
		l, err := h.store.ShareLink(ctx, th)
		if issuer.Is(err, issuer.ErrNotFound) {
			return nil, "unknown", nil
		}
		if err != nil {
			return nil, "", err
		}
		number = l.Number
	}
	e, err := h.svc.Lookup(ctx, number)
	if err != nil {
		return nil, "", err
	}
	if st == nil || st.entry != e || e.Record().Verdict == verify.Stale {
		// Read after the view: a change to the link after this read
		// invalidates the view, and with it this state.
		l, err := h.store.ShareLink(ctx, th)
		if issuer.Is(err, issuer.ErrNotFound) {
			return nil, "unknown", nil
		}
		if err != nil {
			return nil, "", err
		}
		st = &shareState{link: l, entry: e}
		h.shares.put(th, st)
	}
	now := time.Now()
	switch {
	case !st.link.EndedAt.IsZero():
		return st, "ended", nil
	case !now.Before(st.link.ExpiresAt):
		return st, "expired", nil
	}
	return st, "", nil
}

// sharePage serves /s/:token.
func (h *handlers) sharePage(c *fiber.Ctx) error {
	en := wantsEnglish(c)
	st, gone, err := h.shareLookup(c.UserContext(), c.Params("token"))
	if err != nil {
		return h.unavailable(c, err)
	}
	if gone != "" {
		return h.shareGone(c, en, gone)
	}
	if c.Method() == fiber.MethodGet {
		st.views.Add(1)
		st.last.Store(time.Now().Unix())
	}
	slot := boolInt(en)
	b := st.pages[slot].Load()
	if b == nil {
		body := h.buildShare(c, st, en)
		if body == nil {
			return fiber.ErrInternalServerError
		}
		b = cache.NewBlob(body)
		st.pages[slot].Store(b)
	}
	rec := st.entry.Record()
	h.m.verdicts.WithLabelValues(string(rec.Verdict), "share").Inc()
	// Personal data: never in a shared cache, and revalidated on every
	// view, so a withdrawn link shows as withdrawn on the next reload.
	return h.sendBlob(c, b, fiber.MIMETextHTMLCharsetUTF8, ccPrivate)
}

func (h *handlers) buildShare(c *fiber.Ctx, st *shareState, en bool) []byte {
	rec := st.entry.Record()
	v := rec.For(verify.Holder)
	v.Conclude(false, false, nil)
	v.Checks = failuresFirst(v.Checks)
	hidden := st.link.Reveal != issuer.RevealMasked
	band := &shareBand{Until: st.link.ExpiresAt.In(issuer.ChinaTime).Format("2006-01-02 15:04"), Hidden: hidden}
	if cv := v.Certificate; cv != nil {
		band.Name = cv.HolderName
		if hidden {
			cv.DocMasked = ""
		}
	}
	// The page's own address is the share link: the token is the holder's
	// to hand on, and a forwarded page must stay the shared one.
	d := h.pageData(c, "/s/"+c.Params("token"), en, shareTitle(en, v), shareDesc(en, v))
	d.V, d.Explain, d.Full, d.Share = v, explain(en, v), true, band
	b, err := h.renderBytes("verify", d)
	if err != nil {
		h.log.Error("render share page", "error", err)
		return nil
	}
	return b
}

// shareTitle is the share card's title (WeChat shows it): the verdict, so
// that a chat shows 有效 or 已撤销 before anyone opens the link; never the
// name.
func shareTitle(en bool, v *verify.View) string {
	if en {
		return "Shared skill certificate: " + v.VerdictEn
	}
	return "持证人分享的职业技能等级证书：" + v.VerdictZh
}

// shareGone answers a link that does not show the certificate, with
// nothing about it.
func (h *handlers) shareGone(c *fiber.Ctx, en bool, why string) error {
	status, title, msg := fiber.StatusNotFound, t(en, "分享链接无效", "Share link not valid"),
		t(en, "该分享链接不存在或不完整，请向分享人核对链接。", "This share link does not exist or is incomplete; check the link with whoever sent it.")
	switch why {
	case "ended":
		status, title, msg = fiber.StatusGone, t(en, "分享链接已被撤回", "Share link withdrawn"),
			t(en, "持证人已撤回该分享链接，页面不再显示证书信息。如需核验，请向持证人索取新的链接，或扫描纸质证书上的二维码。",
				"The holder has withdrawn this share link, so it no longer shows the certificate. To check it, ask the holder for a new link or scan the QR code on the paper certificate.")
	case "expired":
		status, title, msg = fiber.StatusGone, t(en, "分享链接已过期", "Share link expired"),
			t(en, "该分享链接已超过持证人设定的有效期，页面不再显示证书信息。如需核验，请向持证人索取新的链接。",
				"This share link has passed the validity the holder set, so it no longer shows the certificate. To check it, ask the holder for a new link.")
	}
	c.Set("Cache-Control", "no-store")
	d := h.pageData(c, "/", en, title, msg)
	d.Message = msg
	d.Advice = t(en, "这不表示证书无效：分享链接只是持证人展示证书的一种方式。", "This does not mean the certificate is invalid: a share link is only one way for a holder to show it.")
	return h.renderPage(c, status, "error", d)
}

// shareQR serves the QR code of a live share link as PNG or SVG, for a
// résumé; an unknown, expired or withdrawn link has none.
func (h *handlers) shareQR(c *fiber.Ctx) error {
	tok := c.Params("token")
	st, gone, err := h.shareLookup(c.UserContext(), tok)
	if err != nil {
		return h.unavailable(c, err)
	}
	if gone != "" {
		return h.shareGone(c, wantsEnglish(c), gone)
	}
	_ = st
	q, err := qrcode.New(h.base+"/s/"+tok, qrcode.Medium)
	if err != nil {
		return h.failWith(c, err)
	}
	c.Set("Cache-Control", "private, no-cache")
	if strings.HasSuffix(c.Path(), ".svg") {
		c.Set(fiber.HeaderContentType, "image/svg+xml")
		return c.Send(qrSVG(q.Bitmap()))
	}
	png, err := q.PNG(512)
	if err != nil {
		return h.failWith(c, err)
	}
	c.Set(fiber.HeaderContentType, "image/png")
	return c.Send(png)
}

// qrSVG draws a QR bitmap (quiet zone included) as one SVG path.
func qrSVG(bm [][]bool) []byte {
	var b bytes.Buffer
	n := len(bm)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n, n, n)
	for y, row := range bm {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", start, y, x-start, x-start)
		}
	}
	b.WriteString(`"/></svg>`)
	return b.Bytes()
}
