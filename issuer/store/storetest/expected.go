package storetest

import (
	"context"
	"testing"
	"time"

	"certd/issuer"
)

// ExpectedStore is a backend that keeps the colleges expected to register,
// as both shipped backends do.
type ExpectedStore interface {
	issuer.Store
	issuer.ExpectedStore
}

// RunExpectedColleges runs the conformance suite of the expected colleges:
// entries are inserted and replaced by ID with their audit event, listed by
// ID; a name (as CollegeNameKey compares it) or a code another
// entry has is ErrConflict and nothing of that call is stored, its event
// included; a removed entry is gone, an unknown one is ErrNotFound.
func RunExpectedColleges(t *testing.T, open func(t *testing.T) ExpectedStore) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	at := time.Date(2026, 5, 10, 2, 0, 0, 0, time.UTC)
	ev := func(action, subject string) issuer.AuditEvent {
		return issuer.AuditEvent{At: at, Actor: "auth", Action: action, Subject: subject}
	}
	list, err := s.ExpectedColleges(ctx)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("a new store lists %d expected colleges", len(list))
	}
	a := issuer.ExpectedCollege{ID: "ec1", Name: "吉林交通职业技术学院", Kind: "高职", City: "长春市", Code: "4122010183", UpdatedAt: at}
	b := issuer.ExpectedCollege{ID: "ec2", Name: "吉林工程技术师范学院", Kind: "应用型本科", City: "长春市", UpdatedAt: at}
	c := issuer.ExpectedCollege{ID: "ec3", Name: "延边职业技术学院", Kind: "高职", City: "延边朝鲜族自治州", UpdatedAt: at}
	must(t, s.PutExpectedColleges(ctx, []issuer.ExpectedCollege{c, a, b}, ev("expected.import", "list.xlsx")))
	list, err = s.ExpectedColleges(ctx)
	must(t, err)
	if len(list) != 3 || list[0].ID != "ec1" || list[1].ID != "ec2" || list[2].ID != "ec3" {
		t.Fatalf("listed %+v, want ec1, ec2, ec3 (by ID)", list)
	}
	if got := list[0]; got != a {
		t.Errorf("stored %+v, read back %+v", a, got)
	}
	// Replace by ID: a link made by hand and a new city.
	a.InstitutionID, a.City = "jljt", "吉林市"
	must(t, s.PutExpectedColleges(ctx, []issuer.ExpectedCollege{a}, ev("expected.link", a.Name)))
	list, _ = s.ExpectedColleges(ctx)
	if len(list) != 3 || list[0] != a {
		t.Fatalf("after the replacement: %+v", list)
	}
	// All or nothing: a new entry and one whose name is b's with a space
	// and full-width brackets; then one with a's code.
	d := issuer.ExpectedCollege{ID: "ec4", Name: "白城职业技术学院", Kind: "高职", City: "白城市", UpdatedAt: at}
	dupName := issuer.ExpectedCollege{ID: "ec5", Name: "吉林工程 技术师范学院", Kind: "本科", City: "长春市", UpdatedAt: at}
	if err := s.PutExpectedColleges(ctx, []issuer.ExpectedCollege{d, dupName}, ev("expected.import", "bad.xlsx")); !issuer.Is(err, issuer.ErrConflict) {
		t.Fatalf("a duplicate name: %v", err)
	}
	dupCode := issuer.ExpectedCollege{ID: "ec6", Name: "另一所学院", Kind: "高职", City: "四平市", Code: "4122010183", UpdatedAt: at}
	if err := s.PutExpectedColleges(ctx, []issuer.ExpectedCollege{d, dupCode}, ev("expected.import", "bad.xlsx")); !issuer.Is(err, issuer.ErrConflict) {
		t.Fatalf("a duplicate code: %v", err)
	}
	list, _ = s.ExpectedColleges(ctx)
	if len(list) != 3 {
		t.Fatalf("a refused call stored part of itself: %+v", list)
	}
	if evs, _ := s.Audit(ctx, issuer.AuditFilter{Subject: "bad.xlsx"}); len(evs) != 0 {
		t.Errorf("a refused call left its audit event: %+v", evs)
	}
	// Two entries without a code do not clash on the empty code.
	d.Code = ""
	must(t, s.PutExpectedColleges(ctx, []issuer.ExpectedCollege{d}, ev("expected.add", d.Name)))
	must(t, s.DeleteExpectedCollege(ctx, "ec3", ev("expected.delete", c.Name)))
	if err := s.DeleteExpectedCollege(ctx, "ec3", ev("expected.delete", c.Name)); !issuer.Is(err, issuer.ErrNotFound) {
		t.Errorf("deleting a removed entry: %v", err)
	}
	list, _ = s.ExpectedColleges(ctx)
	if len(list) != 3 || list[0].ID != "ec1" || list[1].ID != "ec2" || list[2].ID != "ec4" {
		t.Fatalf("after add and delete: %+v", list)
	}
	for _, want := range []struct {
		subject string
		n       int
	}{{"list.xlsx", 1}, {a.Name, 1}, {d.Name, 1}, {c.Name, 1}} {
		if evs, _ := s.Audit(ctx, issuer.AuditFilter{Subject: want.subject}); len(evs) != want.n {
			t.Errorf("audit of %s: %d events, want %d", want.subject, len(evs), want.n)
		}
	}
}
