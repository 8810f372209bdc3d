package console

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"certd/issuer"
)

// TestScopeEditorConfirms: the scope editor searches and groups the
// catalogue, keeps what a search hides, offers whole-level shortcuts, and
// saves nothing until a page listing what is added and removed is
// confirmed; suspending likewise states its consequences first. Before,
// the first POST saved (and suspended) at once, and the form was one flat
// list of every catalogue line.
func TestScopeEditorConfirms(t *testing.T) {
	w := newWorld(t, backends[0].open)
	ctx := context.Background()
	ck, csrf := w.session("auth")
	in, err := w.svc.Institution(ctx, issuer.Actor{Name: "t", Authority: true}, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	// Search: only matching occupations are listed, in their 大类 group;
	// alpha's chosen lines travel as hidden fields.
	r := w.do("GET", "/console/institutions/alpha?q=焊工", ck, nil, nil)
	if !strings.Contains(r.body, "焊工") || strings.Contains(r.body, `value="4-04-05-05||3" checked`) || !strings.Contains(r.body, `<input type="hidden" name="scope" value="4-04-05-05||3">`) ||
		!strings.Contains(r.body, "生产制造及有关人员") || strings.Contains(r.body, "人工智能训练师") {
		t.Fatalf("search page: %.3000s", r.body)
	}
	form := func(extra url.Values, scope ...string) url.Values {
		sp := specOf(in)
		v := url.Values{"_csrf": {csrf}, "id": {sp.ID}, "prefix": {sp.Prefix}, "name": {sp.Name}, "uscc": {sp.USCC}, "filing_no": {sp.FilingNo},
			"valid_from": {sp.ValidFrom}, "valid_until": {sp.ValidUntil}, "city": {sp.City}, "kind": {sp.Kind}, "contact": {sp.Contact}, "scope": scope}
		for k, x := range extra {
			v[k] = x
		}
		return v
	}
	version := func() int {
		cur, _ := w.svc.Institution(ctx, issuer.Actor{Name: "t", Authority: true}, "alpha")
		return cur.Version
	}
	v0 := version()
	// Whole level 2 for every 焊工 line, and level 3 of 4-04-05-05 dropped.
	r = w.do("POST", "/console/institutions/alpha", ck, form(url.Values{"q": {"焊工"}, "all_level": {"2"}}, "4-04-05-05||5", "4-04-05-05||4"), nil)
	if r.status != 200 || !strings.Contains(r.body, "尚未保存") || !strings.Contains(r.body, "新增") || !strings.Contains(r.body, "焊工") ||
		!strings.Contains(r.body, "移除 1 项") || !strings.Contains(r.body, "不能再按这些职业") || !strings.Contains(r.body, "已发的证书不受影响") {
		t.Fatalf("review page: %d %.3000s", r.status, r.body)
	}
	if version() != v0 {
		t.Fatal("the review saved a version")
	}
	// Confirm what the review page replays.
	var scope []string
	for _, m := range strings.Split(r.body, `<input type="hidden" name="scope" value="`)[1:] {
		scope = append(scope, m[:strings.IndexByte(m, '"')])
	}
	r = w.do("POST", "/console/institutions/alpha", ck, form(url.Values{"op": {"confirm"}}, scope...), nil)
	if r.status != 303 || version() != v0+1 {
		t.Fatalf("confirm: %d %q version %d", r.status, r.loc, version())
	}
	cur, _ := w.svc.Institution(ctx, issuer.Actor{Name: "t", Authority: true}, "alpha")
	got := chosenOf(cur.Scope)
	if got["4-04-05-05||3"] || !got["4-04-05-05||4"] || len(got) < 3 {
		t.Fatalf("saved scope: %v", got)
	}
	for k := range got {
		if !strings.HasPrefix(k, "4-04-05-05|") && !strings.HasSuffix(k, "|2") {
			t.Fatalf("the shortcut added %s", k)
		}
	}
	// The same form again changes nothing and says so.
	if r := w.do("POST", "/console/institutions/alpha", ck, form(nil, scope...), nil); r.status != 303 || !strings.Contains(r.loc, "unchanged") {
		t.Fatalf("unchanged: %d %q", r.status, r.loc)
	}
	// Suspending states its consequences and waits for the confirmation.
	r = w.do("POST", "/console/institutions/alpha/status", ck, url.Values{"_csrf": {csrf}, "status": {"suspended"}, "note": {"年检不合格"}}, nil)
	if r.status != 200 || !strings.Contains(r.body, "立即不能发证") || !strings.Contains(r.body, "已发的证书仍然有效（目前有效证书 <strong>3</strong> 张）") || !strings.Contains(r.body, `name="confirm" value="1"`) {
		t.Fatalf("suspend review: %d %.2000s", r.status, r.body)
	}
	if cur, _ := w.svc.Institution(ctx, issuer.Actor{Name: "t", Authority: true}, "alpha"); cur.Status != issuer.Active {
		t.Fatal("suspended without a confirmation")
	}
	r = w.do("POST", "/console/institutions/alpha/status", ck, url.Values{"_csrf": {csrf}, "status": {"withdrawn"}, "note": {"x"}}, nil)
	if !strings.Contains(r.body, "不可恢复") {
		t.Fatalf("withdraw review: %.1500s", r.body)
	}
	r = w.do("POST", "/console/institutions/alpha/status", ck, url.Values{"_csrf": {csrf}, "status": {"suspended"}, "note": {"年检不合格"}, "confirm": {"1"}}, nil)
	if cur, _ := w.svc.Institution(ctx, issuer.Actor{Name: "t", Authority: true}, "alpha"); r.status != 303 || cur.Status != issuer.Suspended {
		t.Fatalf("confirmed suspension: %d, status %s", r.status, cur.Status)
	}
}
