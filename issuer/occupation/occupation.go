// Package occupation models the national occupation catalogue (职业分类大典)
// and skill levels (职业技能等级).
//
// A catalogue entry is an occupation code such as 6-18-02-04 (焊工) with its
// name, the 大典 edition it comes from, the levels its national standard
// defines, and optionally its 工种 (specialties), each with levels of its own.
// The default catalogue ships in assets/data/occupations.json; the authority
// extends or corrects it (certd catalogue import), and the store keeps the
// result.
package occupation

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"certd/assets"
)

// Level is a skill level digit as used in certificate numbers: 5 (五级/初级工)
// up to 1 (一级/高级技师). A lower digit is a higher level.
type Level int

// StudentMax is the highest level a college may certify its students at under
// 吉人社联〔2026〕9号 (高级工及以下).
const StudentMax Level = 3

type levelName struct {
	Digit Level  `json:"digit"`
	Zh    string `json:"zh"`
	En    string `json:"en"`
}

var levelNames = mustLevelNames()

func mustLevelNames() map[Level]levelName {
	raw, err := assets.Data.ReadFile("data/levels.json")
	if err != nil {
		panic(err)
	}
	var doc struct {
		Levels []levelName `json:"levels"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		panic(fmt.Sprintf("assets/data/levels.json: %v", err))
	}
	m := make(map[Level]levelName, len(doc.Levels))
	for _, l := range doc.Levels {
		m[l.Digit] = l
	}
	return m
}

// Valid reports whether l is one of the five national levels.
func (l Level) Valid() bool { return l >= 1 && l <= 5 }

// Chinese is the printed form required by 人社鉴发〔2021〕1号, e.g. "三级/高级工".
func (l Level) Chinese() string { return levelNames[l].Zh }

// English is the configured English rendering, e.g. "Level 3 / Senior Worker".
func (l Level) English() string { return levelNames[l].En }

func (l Level) String() string { return strconv.Itoa(int(l)) }

// AtMost reports whether l is at or below max in seniority (5 is the lowest
// level, so "at most 三级" means digit >= 3).
func (l Level) AtMost(max Level) bool { return l >= max }

var chineseDigits = map[string]Level{"一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
var gradeNames = map[string]Level{"初级工": 5, "初级": 5, "中级工": 4, "中级": 4, "高级工": 3, "高级": 3, "技师": 2, "高级技师": 1}

// ParseLevel accepts the forms colleges write in rosters: "3", "三级",
// "高级工", "三级/高级工", "三级（高级工）", "Level 3". Both halves of a combined
// form must agree.
func ParseLevel(s string) (Level, bool) {
	s = strings.TrimSpace(s)
	s = strings.NewReplacer("（", "/", "）", "", "(", "/", ")", "", "／", "/", " ", "").Replace(s)
	if s == "" {
		return 0, false
	}
	var found Level
	for _, part := range strings.Split(s, "/") {
		if part == "" {
			continue
		}
		l, ok := parseLevelPart(part)
		if !ok || (found != 0 && l != found) {
			return 0, false
		}
		found = l
	}
	return found, found != 0
}

func parseLevelPart(p string) (Level, bool) {
	lp := strings.ToLower(p)
	lp = strings.TrimPrefix(lp, "level")
	if n, err := strconv.Atoi(lp); err == nil {
		l := Level(n)
		return l, l.Valid()
	}
	if l, ok := gradeNames[p]; ok {
		return l, true
	}
	if d, ok := strings.CutSuffix(p, "级"); ok {
		if l, ok := chineseDigits[d]; ok {
			return l, true
		}
		if n, err := strconv.Atoi(d); err == nil && Level(n).Valid() {
			return Level(n), true
		}
	}
	if l, ok := chineseDigits[p]; ok {
		return l, true
	}
	return 0, false
}

// Specialty is a 工种 (or 职业方向) of an occupation, with the levels its
// standard defines.
type Specialty struct {
	Name   string  `json:"name"`
	Levels []Level `json:"levels"`
}

// Occupation is one catalogue entry.
type Occupation struct {
	Code        string      `json:"code"`
	Name        string      `json:"name"`
	Edition     string      `json:"edition"`
	Area        string      `json:"area,omitempty"`
	Marks       string      `json:"marks,omitempty"` // 大典 marks: S (digital), L (green)
	Levels      []Level     `json:"levels"`          // levels defined by the national standard
	Specialties []Specialty `json:"specialties,omitempty"`
	Regulated   bool        `json:"regulated,omitempty"` // 准入类 in the 国家职业资格目录 (informative)
}

var codePattern = regexp.MustCompile(`^[1-8]-\d{2}-\d{2}-\d{2}$`)

// ValidCode reports whether s has the 大典 code shape "d-dd-dd-dd".
func ValidCode(s string) bool { return codePattern.MatchString(s) }

// NormalizeCode accepts codes typed with full-width or other dashes, or with
// no separators at all (61802 04 → 6-18-02-04).
func NormalizeCode(s string) string {
	var digits []rune
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits = append(digits, r)
		case r >= '０' && r <= '９':
			digits = append(digits, r-0xFEE0)
		}
	}
	if len(digits) != 7 {
		return strings.TrimSpace(s)
	}
	d := string(digits)
	return d[0:1] + "-" + d[1:3] + "-" + d[3:5] + "-" + d[5:7]
}

// Validate checks an entry's shape before it enters the catalogue.
func (o Occupation) Validate() error {
	if !ValidCode(o.Code) {
		return fmt.Errorf("occupation code %q is not of the form d-dd-dd-dd", o.Code)
	}
	if strings.TrimSpace(o.Name) == "" {
		return fmt.Errorf("occupation %s has no name", o.Code)
	}
	if o.Edition == "" {
		return fmt.Errorf("occupation %s has no 大典 edition", o.Code)
	}
	if len(o.Levels) == 0 {
		return fmt.Errorf("occupation %s lists no levels", o.Code)
	}
	for _, l := range o.Levels {
		if !l.Valid() {
			return fmt.Errorf("occupation %s has invalid level %d", o.Code, l)
		}
	}
	seen := map[string]bool{}
	for _, s := range o.Specialties {
		if strings.TrimSpace(s.Name) == "" || s.Name == "--" {
			return fmt.Errorf("occupation %s has an unnamed 工种", o.Code)
		}
		if seen[s.Name] {
			return fmt.Errorf("occupation %s lists 工种 %s twice", o.Code, s.Name)
		}
		seen[s.Name] = true
		for _, l := range s.Levels {
			if !l.Valid() {
				return fmt.Errorf("occupation %s 工种 %s has invalid level %d", o.Code, s.Name, l)
			}
		}
	}
	return nil
}

// LevelsFor returns the levels defined for the occupation, or for one of its
// 工种 when specialty is not empty. ok is false for an unknown 工种.
func (o Occupation) LevelsFor(specialty string) ([]Level, bool) {
	if specialty == "" {
		return o.Levels, true
	}
	for _, s := range o.Specialties {
		if s.Name == specialty {
			if len(s.Levels) == 0 {
				return o.Levels, true
			}
			return s.Levels, true
		}
	}
	return nil, false
}

// HasLevel reports whether level is defined for the occupation or 工种.
func (o Occupation) HasLevel(specialty string, level Level) bool {
	ls, ok := o.LevelsFor(specialty)
	return ok && slices.Contains(ls, level)
}

// Catalogue is a set of occupations keyed by code.
type Catalogue map[string]Occupation

// Parse reads a catalogue document: {"edition": "2022", "occupations": [...]}.
// An entry without an edition takes the document's.
func Parse(raw []byte) ([]Occupation, error) {
	var doc struct {
		Edition     string       `json:"edition"`
		Occupations []Occupation `json:"occupations"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("catalogue is not valid JSON: %w", err)
	}
	seen := map[string]bool{}
	for i := range doc.Occupations {
		o := &doc.Occupations[i]
		if o.Edition == "" {
			o.Edition = doc.Edition
		}
		o.Code = NormalizeCode(o.Code)
		if err := o.Validate(); err != nil {
			return nil, fmt.Errorf("catalogue entry %d: %w", i+1, err)
		}
		if seen[o.Code] {
			return nil, fmt.Errorf("catalogue lists %s twice", o.Code)
		}
		seen[o.Code] = true
	}
	return doc.Occupations, nil
}

// Default returns the catalogue shipped with certd.
func Default() []Occupation {
	raw, err := assets.Data.ReadFile("data/occupations.json")
	if err != nil {
		panic(err)
	}
	occ, err := Parse(raw)
	if err != nil {
		panic(fmt.Sprintf("assets/data/occupations.json: %v", err))
	}
	return occ
}
