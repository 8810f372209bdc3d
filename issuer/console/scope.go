package console

import (
	"sort"
	"strings"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
	"certd/issuer/occupation"
)

// The scope editor. The catalogue has hundreds of (occupation, 工种, level)
// lines, so the form groups them by 大类 (the code's first digit), filters
// them by a search (name, 工种 or code), and offers "whole level"
// shortcuts; lines the search hides but the registration has travel as
// hidden fields, so a narrowed form never drops them. Pages run no script
// (the console's CSP), so search and shortcuts are plain form fields. A
// change is saved only after a page listing what it adds and removes.

// majorGroups name the 大类 of the 2022 职业分类大典.
var majorGroups = map[string][2]string{
	"1": {"党的机关、国家机关、群众团体和社会组织、企事业单位负责人", "heads of Party and state organs, mass organisations and enterprises"},
	"2": {"专业技术人员", "professional and technical personnel"},
	"3": {"办事人员和有关人员", "clerical and related personnel"},
	"4": {"社会生产服务和生活服务人员", "social production and life service personnel"},
	"5": {"农、林、牧、渔业生产及辅助人员", "agriculture, forestry, animal husbandry and fishery"},
	"6": {"生产制造及有关人员", "production, manufacturing and related personnel"},
	"7": {"军队人员", "military personnel"},
	"8": {"不便分类的其他从业人员", "other workers"},
}

// scopeGroup is one 大类 of the editor.
type scopeGroup struct {
	Code, Zh, En  string
	Rows          []scopeRow
	Chosen, Total int // level boxes ticked and shown
	Open          bool
	Levels        []occupation.Level // levels some row of the group defines, for its shortcuts
}

type scopeForm struct {
	Q      string
	Groups []scopeGroup
	Hidden []string // chosen lines the search hides
	Chosen int      // lines chosen in all
	Shown  int      // level boxes shown
}

func scopeKey(code, spec string, l occupation.Level) string {
	return code + "|" + spec + "|" + l.String()
}

// matches reports whether a catalogue line fits the search q.
func matches(q, code, name, spec string) bool {
	if q == "" {
		return true
	}
	q = strings.ToLower(q)
	return strings.Contains(code, q) || strings.Contains(strings.ToLower(name), q) || (spec != "" && strings.Contains(strings.ToLower(spec), q))
}

// buildScopeForm lays the catalogue out for the editor, with chosen ticked.
func buildScopeForm(occ []occupation.Occupation, chosen map[string]bool, q string) scopeForm {
	f := scopeForm{Q: q}
	groups := map[string]*scopeGroup{}
	shownKeys := map[string]bool{}
	for _, o := range occ {
		add := func(spec string, levels []occupation.Level) {
			if !matches(q, o.Code, o.Name, spec) {
				return
			}
			g := groups[o.Code[:1]]
			if g == nil {
				n := majorGroups[o.Code[:1]]
				g = &scopeGroup{Code: o.Code[:1], Zh: n[0], En: n[1]}
				groups[g.Code] = g
			}
			r := scopeRow{Code: o.Code, Name: o.Name, Specialty: spec}
			for _, l := range levels {
				k := scopeKey(o.Code, spec, l)
				shownKeys[k] = true
				r.Levels = append(r.Levels, scopeLevel{Level: l, Value: k, Checked: chosen[k]})
				g.Total++
				f.Shown++
				if chosen[k] {
					g.Chosen++
				}
				if !containsLevel(g.Levels, l) {
					g.Levels = append(g.Levels, l)
				}
			}
			g.Rows = append(g.Rows, r)
		}
		add("", o.Levels)
		for _, s := range o.Specialties {
			add(s.Name, s.Levels)
		}
	}
	for k := range chosen {
		f.Chosen++
		if !shownKeys[k] {
			f.Hidden = append(f.Hidden, k)
		}
	}
	sort.Strings(f.Hidden)
	for _, g := range groups {
		// A group opens when it has something ticked or a search narrowed
		// the list; otherwise the page would be hundreds of lines long.
		g.Open = g.Chosen > 0 || q != ""
		sort.Slice(g.Levels, func(i, j int) bool { return g.Levels[i] > g.Levels[j] })
		f.Groups = append(f.Groups, *g)
	}
	sort.Slice(f.Groups, func(i, j int) bool { return f.Groups[i].Code < f.Groups[j].Code })
	return f
}

func containsLevel(ls []occupation.Level, l occupation.Level) bool {
	for _, x := range ls {
		if x == l {
			return true
		}
	}
	return false
}

// applyShortcuts adds (all_level, group_level "大类|level") or removes
// (none_level) whole levels across the lines the search q shows.
func applyShortcuts(fc *fiber.Ctx, occ []occupation.Occupation, chosen map[string]bool, q string) {
	all, none, group := formValues(fc, "all_level"), formValues(fc, "none_level"), formValues(fc, "group_level")
	if len(all)+len(none)+len(group) == 0 {
		return
	}
	has := func(vs []string, v string) bool {
		for _, x := range vs {
			if x == v {
				return true
			}
		}
		return false
	}
	for _, o := range occ {
		each := func(spec string, levels []occupation.Level) {
			if !matches(q, o.Code, o.Name, spec) {
				return
			}
			for _, l := range levels {
				k := scopeKey(o.Code, spec, l)
				switch {
				case has(none, l.String()):
					delete(chosen, k)
				case has(all, l.String()) || has(group, o.Code[:1]+"|"+l.String()):
					chosen[k] = true
				}
			}
		}
		each("", o.Levels)
		for _, s := range o.Specialties {
			each(s.Name, s.Levels)
		}
	}
}

// formValues returns every value of a repeated form field.
func formValues(fc *fiber.Ctx, name string) []string {
	var out []string
	for _, v := range fc.Context().PostArgs().PeekMulti(name) {
		out = append(out, string(v))
	}
	if form, err := fc.MultipartForm(); err == nil {
		out = append(out, form.Value[name]...)
	}
	return out
}

// scopeSpecs turns chosen lines into the spec's scope, in catalogue order.
func scopeSpecs(occ []occupation.Occupation, chosen map[string]bool) []issuer.ScopeSpec {
	var out []issuer.ScopeSpec
	known := map[string]bool{}
	for _, o := range occ {
		each := func(spec string, levels []occupation.Level) {
			var ls []string
			for _, l := range levels {
				k := scopeKey(o.Code, spec, l)
				known[k] = true
				if chosen[k] {
					ls = append(ls, l.String())
				}
			}
			if len(ls) > 0 {
				out = append(out, issuer.ScopeSpec{Occupation: o.Code, Specialty: spec, Levels: ls})
			}
		}
		each("", o.Levels)
		for _, s := range o.Specialties {
			each(s.Name, s.Levels)
		}
	}
	// A line the catalogue does not have (a forged form, or a catalogue
	// changed meanwhile) goes to the service, which refuses it by name.
	var unknown []string
	for k := range chosen {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		p := strings.Split(k, "|")
		out = append(out, issuer.ScopeSpec{Occupation: p[0], Specialty: p[1], Levels: []string{p[2]}})
	}
	return out
}

// scopeChange is one line of the confirmation: an occupation (工种) and the
// levels added or removed.
type scopeChange struct {
	Code, Name, Specialty string
	Levels                []occupation.Level
}

// scopeDiff lists what next adds to and removes from cur, by occupation.
func scopeDiff(occ []occupation.Occupation, cur, next []issuer.ScopeEntry) (added, removed []scopeChange) {
	set := func(s []issuer.ScopeEntry) map[string]bool {
		m := map[string]bool{}
		for _, e := range s {
			for _, l := range e.Levels {
				m[scopeKey(e.Occupation, e.Specialty, l)] = true
			}
		}
		return m
	}
	a, b := set(cur), set(next)
	names := map[string]string{}
	for _, o := range occ {
		names[o.Code] = o.Name
	}
	collect := func(from []issuer.ScopeEntry, other map[string]bool) []scopeChange {
		var out []scopeChange
		for _, e := range from {
			c := scopeChange{Code: e.Occupation, Name: names[e.Occupation], Specialty: e.Specialty}
			for _, l := range e.Levels {
				if !other[scopeKey(e.Occupation, e.Specialty, l)] {
					c.Levels = append(c.Levels, l)
				}
			}
			if len(c.Levels) > 0 {
				sort.Slice(c.Levels, func(i, j int) bool { return c.Levels[i] > c.Levels[j] })
				out = append(out, c)
			}
		}
		sort.Slice(out, func(i, j int) bool {
			if out[i].Code != out[j].Code {
				return out[i].Code < out[j].Code
			}
			return out[i].Specialty < out[j].Specialty
		})
		return out
	}
	return collect(next, a), collect(cur, b)
}
