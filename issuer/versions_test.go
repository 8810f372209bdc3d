package issuer_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"certd/issuer"
)

// A save that changes nothing makes no new registration version: every
// version is an authority-signed entry of the public trust bundle, and
// the bundle must not grow with clicks.
func TestUnchangedSaveMakesNoVersion(t *testing.T) {
	f := newFixture(t)
	ps := issuer.PrintSettings{Layout: "preprinted", OffsetX: 1.5}
	fees := []issuer.FeeSpec{{Occupation: "4-04-05-05", Level: "3", Amount: "120", Basis: "吉发改价〔2026〕1号"}}
	if _, err := f.svc.SetPrintSettings(f.ctx, clerk, "jlvtc", ps); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetFees(f.ctx, clerk, "jlvtc", fees); err != nil {
		t.Fatal(err)
	}
	before, _ := f.svc.InstitutionVersions(f.ctx, authority, "jlvtc")
	bundle := func() int {
		tb, err := f.svc.TrustBundle(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(tb.Registrations)
		return len(b)
	}
	size := bundle()
	for range 50 {
		f.now = f.now.Add(time.Second)
		if in, err := f.svc.SetPrintSettings(f.ctx, clerk, "jlvtc", ps); err != nil || in.Version != len(before) {
			t.Fatalf("unchanged print settings: version %d, %v", in.Version, err)
		}
		if in, err := f.svc.SetFees(f.ctx, clerk, "jlvtc", fees); err != nil || in.Version != len(before) {
			t.Fatalf("unchanged fees: version %d, %v", in.Version, err)
		}
	}
	spec := issuer.InstitutionSpec{ID: "jlvtc", Name: f.inst.Name, USCC: f.inst.USCC, Prefix: f.inst.Prefix, FilingNo: f.inst.FilingNo,
		ValidFrom: f.inst.ValidFrom.Format(issuer.DateLayout), ValidUntil: f.inst.ValidUntil.Format(issuer.DateLayout)}
	for _, sc := range f.inst.Scope {
		ss := issuer.ScopeSpec{Occupation: sc.Occupation, Specialty: sc.Specialty}
		for _, l := range sc.Levels {
			ss.Levels = append(ss.Levels, fmt.Sprint(int(l)))
		}
		spec.Scope = append(spec.Scope, ss)
	}
	if in, err := f.svc.UpdateInstitution(f.ctx, authority, spec); err != nil || in.Version != len(before) {
		t.Fatalf("an unchanged registration: version %d, %v", in.Version, err)
	}
	after, _ := f.svc.InstitutionVersions(f.ctx, authority, "jlvtc")
	if len(after) != len(before) || bundle() != size {
		t.Fatalf("unchanged saves made %d versions; the trust bundle grew from %d to %d bytes", len(after)-len(before), size, bundle())
	}
	// A real change still makes one.
	ps.OffsetY = -2
	if in, err := f.svc.SetPrintSettings(f.ctx, clerk, "jlvtc", ps); err != nil || in.Version != len(before)+1 {
		t.Fatalf("a real change: version %d, %v", in.Version, err)
	}
}

// A college may change its record (and so add to the trust bundle) at most
// issuer.MaxCollegeVersionsPerHour times an hour and MaxCollegeVersionsPerDay
// a day; the authority is not limited.
func TestCollegeVersionRate(t *testing.T) {
	f := newFixture(t)
	f.now = f.now.Add(25 * time.Hour) // the registration itself is a day old
	i := 0
	change := func(actor issuer.Actor) error {
		i++
		_, err := f.svc.SetPrintSettings(f.ctx, actor, "jlvtc", issuer.PrintSettings{Layout: "full", OffsetX: float64(i%20) / 10, OffsetY: float64(i / 20)})
		return err
	}
	code := func(err error) string {
		if e, ok := issuer.AsError(err); ok {
			return e.Code
		}
		return fmt.Sprint(err)
	}
	for n := range issuer.MaxCollegeVersionsPerHour {
		f.now = f.now.Add(time.Minute)
		if err := change(clerk); err != nil {
			t.Fatalf("change %d: %v", n+1, err)
		}
	}
	err := change(clerk)
	if e, ok := issuer.AsError(err); !ok || e.Code != "versions_rate" || e.Kind != issuer.ErrConflict || e.Zh == "" || e.En == "" {
		t.Fatalf("one change too many within the hour: %v, want versions_rate", err)
	}
	for range 3 {
		if err := change(authority); err != nil {
			t.Fatalf("the authority is not limited: %v", err)
		}
	}
	// Hour by hour, the college reaches the daily cap (the authority's
	// three versions count towards it: they are in the bundle too) and no
	// more within the day.
	made := issuer.MaxCollegeVersionsPerHour + 3
	for range 22 {
		f.now = f.now.Add(61 * time.Minute)
		for range issuer.MaxCollegeVersionsPerHour + 1 {
			err := change(clerk)
			if err == nil {
				made++
				continue
			}
			if code(err) != "versions_rate" {
				t.Fatal(err)
			}
			break
		}
	}
	if made != issuer.MaxCollegeVersionsPerDay {
		t.Fatalf("%d versions within a day, want the cap %d", made, issuer.MaxCollegeVersionsPerDay)
	}
}
