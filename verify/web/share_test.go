package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/verify/internal/verifytest"
)

// A share link shows the verification page with its band and what the
// holder chose (ID hidden or masked); a forged, truncated or unknown token
// gets "not valid", an expired or withdrawn one says so; none of these
// shows anything about the certificate. Ending a link on one instance is
// seen by another within a second; a revoked certificate's link shows it
// revoked. Views are counted.
func TestShareLinks(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 2)
	a1, a2 := newApp(t, st, Deps{}), newApp(t, st, Deps{})
	c := w.Certs[0]
	h := issuer.HolderActor(c.Number)
	hidden, _, err := w.Iss.CreateShareLink(w.Ctx, h, c.Number, issuer.ShareSpec{Label: "某公司招聘", Days: 7, Reveal: issuer.RevealHidden})
	if err != nil {
		t.Fatal(err)
	}
	masked, ml, err := w.Iss.CreateShareLink(w.Ctx, h, c.Number, issuer.ShareSpec{Days: 30, Reveal: issuer.RevealMasked})
	if err != nil {
		t.Fatal(err)
	}
	docMasked := c.Holder.DocNumber[:6] + "********" + c.Holder.DocNumber[14:]
	res, body := a1.do(t, "GET", "/s/"+hidden, nil, "Accept-Language", "zh-CN")
	if res.StatusCode != 200 || !strings.Contains(body, c.Holder.Name) || !strings.Contains(body, "share-band") || !strings.Contains(body, "有效期至") {
		t.Fatalf("hidden link: %d\n%s", res.StatusCode, body)
	}
	if strings.Contains(body, c.Holder.DocNumber[:6]) || strings.Contains(body, "某公司") || strings.Contains(body, hidden[:0]+"action=\"/v/") {
		t.Fatalf("hidden link shows the ID number, the label or the confirm form:\n%s", body)
	}
	if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "private") {
		t.Fatalf("Cache-Control %q", cc)
	}
	if !strings.Contains(body, `og:title" content="持证人分享的职业技能等级证书：有效"`) {
		t.Fatalf("share card title lacks the verdict:\n%s", body)
	}
	_, body = a1.do(t, "GET", "/s/"+masked, nil, "Accept-Language", "zh-CN")
	if !strings.Contains(body, docMasked) && !strings.Contains(body, c.Holder.DocNumber[:6]) {
		t.Fatalf("masked link does not show the masked ID number:\n%s", body)
	}
	if strings.Contains(body, c.Holder.DocNumber) {
		t.Fatal("masked link shows the whole ID number")
	}
	_, en := a1.do(t, "GET", "/s/"+masked+"?lang=en", nil)
	if !strings.Contains(en, "Shared by the holder") {
		t.Fatalf("English band missing:\n%s", en)
	}
	for _, qr := range []string{"/qr.png", "/qr.svg"} {
		res, body := a1.do(t, "GET", "/s/"+masked+qr, nil)
		if res.StatusCode != 200 || len(body) < 100 {
			t.Fatalf("%s: %d", qr, res.StatusCode)
		}
	}

	bad := []struct{ name, path string }{
		{"truncated", "/s/" + hidden[:len(hidden)-1]},
		{"forged", "/s/" + strings.Repeat("A", issuer.ShareTokenLen)},
		{"bad characters", "/s/" + strings.Repeat("%2F", 8)},
		{"too long", "/s/" + hidden + "A"},
		{"qr of forged", "/s/" + strings.Repeat("B", issuer.ShareTokenLen) + "/qr.png"},
	}
	for _, b := range bad {
		res, body := a1.do(t, "GET", b.path, nil, "Accept-Language", "zh-CN")
		if res.StatusCode != 404 || !strings.Contains(body, "分享链接无效") || strings.Contains(body, c.Holder.Name) || strings.Contains(body, c.Number) {
			t.Fatalf("%s: %d\n%s", b.name, res.StatusCode, body)
		}
	}

	// Withdrawn on one instance, seen by the other within a second.
	if _, body := a2.do(t, "GET", "/s/"+hidden, nil); !strings.Contains(body, c.Holder.Name) {
		t.Fatal("second instance does not show the link")
	}
	if err := w.Iss.EndShareLink(w.Ctx, h, c.Number, issuer.ShareTokenHash(hidden)); err != nil {
		t.Fatal(err)
	}
	took := verifytest.Eventually(t, 2*time.Second, "withdrawn link seen", func() bool {
		res, _ := a2.do(t, "GET", "/s/"+hidden, nil)
		return res.StatusCode == http.StatusGone
	})
	if took > time.Second {
		t.Fatalf("the withdrawal took %v to reach the other instance", took)
	}
	res, body = a2.do(t, "GET", "/s/"+hidden, nil, "Accept-Language", "zh-CN")
	if !strings.Contains(body, "已被撤回") || strings.Contains(body, c.Holder.Name) || strings.Contains(body, c.Number) {
		t.Fatalf("withdrawn page: %d\n%s", res.StatusCode, body)
	}
	if res, _ := a2.do(t, "GET", "/s/"+hidden+"/qr.png", nil); res.StatusCode != http.StatusGone {
		t.Fatalf("a withdrawn link still has a QR code: %d", res.StatusCode)
	}

	// Expired.
	l := ml
	l.ExpiresAt = time.Now().Add(-time.Minute)
	if err := w.Store.UpdateShareLink(w.Ctx, l, issuer.AuditEvent{At: time.Now(), Actor: "test", Action: "holder.share_extend", InstitutionID: "jlvtc", Subject: c.Number}); err != nil {
		t.Fatal(err)
	}
	verifytest.Eventually(t, 2*time.Second, "expired link", func() bool {
		res, body := a1.do(t, "GET", "/s/"+masked, nil, "Accept-Language", "zh-CN")
		return res.StatusCode == http.StatusGone && strings.Contains(body, "已过期") && !strings.Contains(body, c.Holder.Name)
	})

	// A revoked certificate's live link shows it revoked: the link never
	// upgrades the verdict.
	live, _, err := w.Iss.CreateShareLink(w.Ctx, h, c.Number, issuer.ShareSpec{Reveal: issuer.RevealHidden})
	if err != nil {
		t.Fatal(err)
	}
	a1.do(t, "GET", "/s/"+live, nil)
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, c.Number, issuer.ReasonMisconduct, ""); err != nil {
		t.Fatal(err)
	}
	verifytest.Eventually(t, 2*time.Second, "revoked through the link", func() bool {
		res, body := a1.do(t, "GET", "/s/"+live, nil, "Accept-Language", "zh-CN")
		return res.StatusCode == 200 && strings.Contains(body, "已撤销") && strings.Contains(body, "share-band")
	})

	// A superseded certificate's link shows it superseded, under the old
	// number; it does not follow to the replacement.
	c2 := w.Certs[1]
	sup, _, err := w.Iss.CreateShareLink(w.Ctx, issuer.HolderActor(c2.Number), c2.Number, issuer.ShareSpec{Reveal: issuer.RevealHidden})
	if err != nil {
		t.Fatal(err)
	}
	a1.do(t, "GET", "/s/"+sup, nil)
	nc, err := w.Iss.Reissue(w.Ctx, verifytest.Authority, c2.Number, issuer.Correction{Reason: "姓名有误", Name: "张三"})
	if err != nil {
		t.Fatal(err)
	}
	verifytest.Eventually(t, 2*time.Second, "superseded through the link", func() bool {
		res, body := a1.do(t, "GET", "/s/"+sup, nil, "Accept-Language", "zh-CN")
		return res.StatusCode == 200 && strings.Contains(body, "已更正") && strings.Contains(body, c2.Number) && !strings.Contains(body, "张三<")
	})
	if _, _, err := w.Iss.CreateShareLink(w.Ctx, issuer.HolderActor(c2.Number), c2.Number, issuer.ShareSpec{Reveal: issuer.RevealHidden}); !issuer.Is(err, issuer.ErrConflict) {
		t.Fatalf("a superseded certificate was shared anew: %v", err)
	}
	_ = nc

	// Views are counted (a1 saw the masked link three times before it
	// expired), never attributed.
	verifytest.Eventually(t, 5*time.Second, "views stored", func() bool {
		got, err := w.Store.ShareLink(w.Ctx, ml.TokenHash)
		return err == nil && got.Views >= 2 && !got.LastViewAt.IsZero()
	})
}
