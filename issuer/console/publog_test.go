package console

import (
	"context"
	"strings"
	"testing"

	"certd/issuer/publog"
	"certd/issuer/tlog"
)

// TestPublicLogPage: a college sees its entries and a warning naming every
// entry under its id that certd did not make; another college cannot read
// them; without a log the page says so.
func TestPublicLogPage(t *testing.T) {
	w := newWorld(t, backends[0].open)
	cookie, _ := w.session("aadm")
	if r := w.do("GET", "/console/log", cookie, nil, nil); r.status != 200 || !strings.Contains(r.body, "本部署未运行公开日志") {
		t.Fatalf("without a log: %d %.300s", r.status, r.body)
	}
	asked := ""
	w.c.d.PublicLog = func(_ context.Context, id string) (*publog.InstitutionLog, error) {
		asked = id
		mine := publog.InstitutionEntry{Index: 3, Kind: tlog.Issued, Day: "2026-12-03", Occupation: "4-04-05-05", Level: 3, Subject: "J220100000001263000001", Mine: true}
		foreign := publog.InstitutionEntry{Index: 7, Kind: tlog.Issued, Day: "2025-06-01", Occupation: "6-18-02-04", Level: 4}
		return &publog.InstitutionLog{Size: 9, Entries: []publog.InstitutionEntry{mine, foreign}, Foreign: []publog.InstitutionEntry{foreign}}, nil
	}
	r := w.do("GET", "/console/log", cookie, nil, nil)
	if r.status != 200 || asked != "alpha" {
		t.Fatalf("college page: %d, asked for %q", r.status, asked)
	}
	for _, want := range []string{"警告：日志中有以本校名义、但不是本系统为本校写入的条目", "#7 issued 2025-06-01 6-18-02-04", "J220100000001263000001", "非本系统写入"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("college page lacks %q", want)
		}
	}
	// A college reads only its own: ?institution= is the authority's.
	asked = ""
	if r := w.do("GET", "/console/log?institution=beta", cookie, nil, nil); r.status != 200 || asked != "alpha" {
		t.Errorf("?institution=beta from alpha's admin: %d, asked for %q", r.status, asked)
	}
}
