package console

import (
	"context"
	"slices"
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
	noticeTarget
	Active, Suspended int
	Withdrawn         int
	Expiring          int // active registrations ending within 90 days
	DaysLeft          int // to the end of Year; negative once past
	Issuing           int // active colleges of the target's kinds that have issued at least one certificate
	// Against the expected list (zero without one): how many colleges of
	// the target's kinds are expected and how many of them registered, now
	// and at the end of each month of the trend.
	Expected, Registered, Pct int
	Missing                   int
	Trend                     []trendPoint
	MonthsLeft                int
	PerMonth                  int // registrations a month still needed to meet the target (rounded up)
}

type trendPoint struct {
	Label           string
	Registered, Pct int
}

// noticeTarget is one of the targets of 吉人社联〔2026〕9号 (一、工作目标),
// in the notice's words, and the kinds of college it is about.
type noticeTarget struct {
	Zh, En  string
	Year    int
	Kinds   []string
	Quote   string // the notice's sentence
	QuoteEn string
}

// NoticeTargets are the three targets of 吉人社联〔2026〕9号. The notice
// covers 高等学校 (本科 and 高职); it sets no target for 中职 or 技师学院.
var NoticeTargets = []noticeTarget{
	{"高职", "higher vocational colleges", 2026, []string{"高职"},
		"2026年底前，实现省内高等职业学校职业技能等级认定工作全覆盖", "by the end of 2026, every higher vocational college of the province certifies skills"},
	{"应用型本科", "applied undergraduate universities", 2027, []string{"应用型本科"},
		"2027年底前，完成具备资质条件的省内应用型普通本科学校职业技能等级认定工作全覆盖", "by the end of 2027, every qualified applied undergraduate university of the province does"},
	{"全部高等学校", "all higher-education institutions", 2028, []string{"高职", "应用型本科", "本科"},
		"2028年底前，全面实现省内高等学校职业技能等级认定工作全覆盖", "by the end of 2028, every higher-education institution of the province does"},
}

// NoticeCitation names the notice the targets come from.
const NoticeCitation = "《吉林省人力资源和社会保障厅 吉林省教育厅关于全面推进吉林省高等学校职业技能等级认定工作的通知》（吉人社联〔2026〕9号，2026年3月20日）“一、工作目标”"

// dashCollege is one college's line: its registration and its ledger.
type dashCollege struct {
	ID, Name, City, Kind       string
	Status                     issuer.InstitutionStatus
	Since                      time.Time
	Valid, Revoked, Superseded int
	LastIssued                 time.Time
}

// dashMonth is one calendar month (China time) of the trend.
type dashMonth struct {
	Label             string
	Issued, Revoked   int
	Registered        int // colleges whose registration began that month
	IssuedBar, RevBar int // bar widths in percent of the busiest month
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
	Colleges    []dashCollege
	Months      []dashMonth
	// Cov is the expected list matched to the registrations: the
	// denominators (Cov.Has is false without a list).
	Cov coverage
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
	for _, t := range NoticeTargets {
		d.Targets = append(d.Targets, dashTarget{noticeTarget: t})
	}
	soon := issuer.Day(c.now()).AddDate(0, 0, 90)
	today := issuer.Day(c.now())
	for i := range d.Targets {
		end := time.Date(d.Targets[i].Year+1, 1, 1, 0, 0, 0, 0, issuer.ChinaTime)
		d.Targets[i].DaysLeft = int(end.Sub(today).Hours() / 24)
	}
	// The trend covers the last 12 months, this one included.
	var months []time.Time
	first := time.Date(today.In(issuer.ChinaTime).Year(), today.In(issuer.ChinaTime).Month(), 1, 0, 0, 0, 0, issuer.ChinaTime).AddDate(0, -11, 0)
	for i := 0; i < 12; i++ {
		m := first.AddDate(0, i, 0)
		months = append(months, m)
		d.Months = append(d.Months, dashMonth{Label: m.Format("2006-01")})
	}
	monthOf := func(t time.Time) int {
		if t.IsZero() {
			return -1
		}
		t = t.In(issuer.ChinaTime)
		for i := len(months) - 1; i >= 0; i-- {
			if !t.Before(months[i]) {
				if i == len(months)-1 && t.After(months[i].AddDate(0, 1, 0)) {
					return -1
				}
				return i
			}
		}
		return -1
	}
	colleges := map[string]*dashCollege{}
	for _, in := range all {
		dc := &dashCollege{ID: in.ID, Name: in.Name, City: in.City, Kind: kindOf(in.Kind), Status: in.Status, Since: in.ValidFrom}
		colleges[in.ID] = dc
		if i := monthOf(in.ValidFrom); i >= 0 {
			d.Months[i].Registered++
		}
	}
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
		switch in.Status {
		case issuer.Active:
			r.Cells[ki].Active++
			r.Total++
		case issuer.Suspended:
			r.Cells[ki].Suspended++
		case issuer.Withdrawn:
			r.Cells[ki].Withdrawn++
		}
		for i := range d.Targets {
			t := &d.Targets[i]
			if !slices.Contains(t.Kinds, kindOf(in.Kind)) {
				continue
			}
			switch in.Status {
			case issuer.Active:
				t.Active++
				if in.ValidUntil.Before(soon) {
					t.Expiring++
				}
			case issuer.Suspended:
				t.Suspended++
			case issuer.Withdrawn:
				t.Withdrawn++
			}
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
			if dc := colleges[ct.InstitutionID]; dc != nil {
				switch ct.Status {
				case issuer.Valid:
					dc.Valid++
				case issuer.Revoked:
					dc.Revoked++
				case issuer.Superseded:
					dc.Superseded++
				}
				if ct.IssuedOn.After(dc.LastIssued) {
					dc.LastIssued = ct.IssuedOn
				}
			}
			if i := monthOf(ct.IssuedOn); i >= 0 {
				d.Months[i].Issued++
			}
			if ct.Revocation != nil {
				if i := monthOf(ct.Revocation.At); i >= 0 {
					d.Months[i].Revoked++
				}
			}
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
	for _, dc := range colleges {
		d.Colleges = append(d.Colleges, *dc)
		if dc.Status == issuer.Active && !dc.LastIssued.IsZero() {
			for i := range d.Targets {
				if slices.Contains(d.Targets[i].Kinds, dc.Kind) {
					d.Targets[i].Issuing++
				}
			}
		}
	}
	cv, err := c.matchExpected(ctx, actor, all)
	if err != nil && !issuer.Is(err, issuer.ErrUnavailable) {
		return nil, err
	}
	d.Cov = cv
	addTrends(d, cv, all, months, today)
	sort.Slice(d.Colleges, func(i, j int) bool {
		a, b := d.Colleges[i], d.Colleges[j]
		if a.City != b.City {
			return cityOrder(a.City) < cityOrder(b.City)
		}
		return a.Name < b.Name
	})
	busiest := 1
	for _, m := range d.Months {
		busiest = max(busiest, m.Issued, m.Revoked)
	}
	for i := range d.Months {
		d.Months[i].IssuedBar = d.Months[i].Issued * 100 / busiest
		d.Months[i].RevBar = d.Months[i].Revoked * 100 / busiest
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

// dashView is the page: the figures, and the not-yet-registered list as
// its filter (city, kind) asks.
type dashView struct {
	*dashboard
	City, Kind   string
	Unregistered []expectedRow
	Cities       []string
	Kinds        []issuer.CollegeKind
	Citation     string
}

func (c *Console) dashboardPage(fc *fiber.Ctx, rc *reqCtx) error {
	d, err := c.dashboardData(fc.UserContext(), rc.actor)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	v := dashView{dashboard: d, City: fc.Query("city"), Kind: fc.Query("kind"), Cities: Cities, Kinds: Kinds, Citation: NoticeCitation}
	v.Unregistered = unregistered(d.Cov, v.City, v.Kind)
	return c.render(fc, rc, "dashboard", v)
}

// cityOrder sorts cities as the registration form lists them.
func cityOrder(c string) int {
	for i, x := range Cities {
		if x == c {
			return i
		}
	}
	return len(Cities)
}
