package console

import (
	"context"
	"sort"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/occupation"
)

type dashCell struct {
	Active, Suspended, Withdrawn int
}

type dashRow struct {
	City  string
	Cells []dashCell // per kind, in Kinds order
	Total int
}

type dashOcc struct {
	Code, Name string
	ByLevel    [6]int // index = level digit
	Total      int
}

type dashTarget struct {
	Zh, En            string
	Year              int
	Active, Suspended int
	Withdrawn         int
	Expiring          int // active registrations ending within 90 days
}

type dashboard struct {
	Generated   time.Time
	Rows        []dashRow
	Targets     []dashTarget
	Occupations []dashOcc
	Valid       int
	Revoked     int
	Superseded  int
	Levels      []occupation.Level
}

// dashboardData is computed at most once a minute: it reads the whole
// ledger.
func (c *Console) dashboardData(ctx context.Context, actor issuer.Actor) (*dashboard, error) {
	c.dashMu.Lock()
	defer c.dashMu.Unlock()
	if c.dashData != nil && c.now().Sub(c.dashAt) < time.Minute {
		return c.dashData, nil
	}
	all, err := c.svc.Institutions(ctx, actor)
	if err != nil {
		return nil, err
	}
	d := &dashboard{Generated: c.now(), Levels: []occupation.Level{5, 4, 3, 2, 1}}
	rows := map[string]*dashRow{}
	for _, k := range Kinds {
		d.Targets = append(d.Targets, dashTarget{Zh: k.Zh, En: k.En, Year: k.Year})
	}
	soon := issuer.Day(c.now()).AddDate(0, 0, 90)
	for _, in := range all {
		city := in.City
		if city == "" {
			city = "未填写"
		}
		r := rows[city]
		if r == nil {
			r = &dashRow{City: city, Cells: make([]dashCell, len(Kinds))}
			rows[city] = r
		}
		ki := len(Kinds) - 1
		for i, k := range Kinds {
			if kindOf(in.Kind) == k.Zh {
				ki = i
			}
		}
		t := &d.Targets[ki]
		switch in.Status {
		case issuer.Active:
			r.Cells[ki].Active++
			r.Total++
			t.Active++
			if in.ValidUntil.Before(soon) {
				t.Expiring++
			}
		case issuer.Suspended:
			r.Cells[ki].Suspended++
			t.Suspended++
		case issuer.Withdrawn:
			r.Cells[ki].Withdrawn++
			t.Withdrawn++
		}
	}
	for _, city := range append(append([]string{}, Cities...), "未填写") {
		if r := rows[city]; r != nil {
			d.Rows = append(d.Rows, *r)
			delete(rows, city)
		} else if city != "未填写" {
			d.Rows = append(d.Rows, dashRow{City: city, Cells: make([]dashCell, len(Kinds))})
		}
	}
	for _, r := range rows {
		d.Rows = append(d.Rows, *r)
	}
	occ := map[string]*dashOcc{}
	f := issuer.CertificateFilter{Limit: 5000}
	for {
		page, err := c.svc.Certificates(ctx, actor, f)
		if err != nil {
			return nil, err
		}
		for _, ct := range page {
			switch ct.Status {
			case issuer.Valid:
				d.Valid++
			case issuer.Revoked:
				d.Revoked++
			case issuer.Superseded:
				d.Superseded++
			}
			if ct.Status != issuer.Valid {
				continue
			}
			o := occ[ct.Occupation]
			if o == nil {
				o = &dashOcc{Code: ct.Occupation, Name: ct.OccupationName}
				occ[ct.Occupation] = o
			}
			if ct.Level >= 1 && ct.Level <= 5 {
				o.ByLevel[ct.Level]++
			}
			o.Total++
		}
		if len(page) < f.Limit {
			break
		}
		f.After = page[len(page)-1].Number
	}
	for _, o := range occ {
		d.Occupations = append(d.Occupations, *o)
	}
	sort.Slice(d.Occupations, func(i, j int) bool {
		if d.Occupations[i].Total != d.Occupations[j].Total {
			return d.Occupations[i].Total > d.Occupations[j].Total
		}
		return d.Occupations[i].Code < d.Occupations[j].Code
	})
	c.dashData, c.dashAt = d, c.now()
	return d, nil
}

func (c *Console) dashboardPage(fc *fiber.Ctx, rc *reqCtx) error {
	d, err := c.dashboardData(fc.UserContext(), rc.actor)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	return c.render(fc, rc, "dashboard", d)
}
