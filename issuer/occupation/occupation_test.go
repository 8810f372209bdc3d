package occupation

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseLevel(t *testing.T) {
	cases := []struct {
		in   string
		want Level // 0: refused
	}{
		{"3", 3},
		{" 5 ", 5},
		{"三级", 3},
		{"3级", 3},
		{"五", 5},
		{"高级工", 3},
		{"高级", 3},
		{"初级工", 5},
		{"中级", 4},
		{"技师", 2},
		{"高级技师", 1},
		{"三级/高级工", 3},
		{"三级／高级工", 3},
		{"三级（高级工）", 3},
		{"三级(高级工)", 3},
		{"一级/高级技师", 1},
		{"Level 3", 3},
		{"level4", 4},
		{"3/3", 3},
		// Refused: empty, out of range, halves that disagree, unknown words.
		{"", 0},
		{"  ", 0},
		{"/", 0},
		{"0", 0},
		{"6", 0},
		{"-3", 0},
		{"六级", 0},
		{"三级/中级工", 0},
		{"3/4", 0},
		{"特级", 0},
		{"Level", 0},
		{"高级工人", 0},
	}
	for _, c := range cases {
		got, ok := ParseLevel(c.in)
		if ok != (c.want != 0) || got != c.want {
			t.Errorf("ParseLevel(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.want != 0)
		}
	}
}

func TestLevelNames(t *testing.T) {
	cases := []struct {
		l            Level
		valid        bool
		zh, en, text string
		student      bool // at most StudentMax: a college may certify its students at it
	}{
		{5, true, "五级/初级工", "Level 5 / Junior Worker", "5", true},
		{4, true, "四级/中级工", "Level 4 / Intermediate Worker", "4", true},
		{3, true, "三级/高级工", "Level 3 / Senior Worker", "3", true},
		{2, true, "二级/技师", "Level 2 / Technician", "2", false},
		{1, true, "一级/高级技师", "Level 1 / Senior Technician", "1", false},
		{0, false, "", "", "0", false},
		{6, false, "", "", "6", false},
	}
	for _, c := range cases {
		if got := c.l.Valid(); got != c.valid {
			t.Errorf("Level(%d).Valid() = %v", c.l, got)
		}
		if got := c.l.Chinese(); got != c.zh {
			t.Errorf("Level(%d).Chinese() = %q, want %q", c.l, got, c.zh)
		}
		if got := c.l.English(); got != c.en {
			t.Errorf("Level(%d).English() = %q, want %q", c.l, got, c.en)
		}
		if got := c.l.String(); got != c.text {
			t.Errorf("Level(%d).String() = %q", c.l, got)
		}
		if got := c.l.AtMost(StudentMax); c.valid && got != c.student {
			t.Errorf("Level(%d).AtMost(StudentMax) = %v, want %v", c.l, got, c.student)
		}
		// The printed Chinese name reads back as the same level.
		if c.valid {
			if back, ok := ParseLevel(c.zh); !ok || back != c.l {
				t.Errorf("ParseLevel(%q) = %d, %v; want %d", c.zh, back, ok, c.l)
			}
		}
	}
}

func TestCodes(t *testing.T) {
	cases := []struct {
		in, norm string
		valid    bool // ValidCode(norm)
	}{
		{"6-18-02-04", "6-18-02-04", true},
		{" 6-18-02-04 ", "6-18-02-04", true},
		{"6180204", "6-18-02-04", true},
		{"61802 04", "6-18-02-04", true},
		{"6－18－02－04", "6-18-02-04", true},
		{"６-１８-０２-０４", "6-18-02-04", true},
		{"6.18.02.04", "6-18-02-04", true},
		{"9-18-02-04", "9-18-02-04", false}, // the 大典 has eight major groups
		{"0-18-02-04", "0-18-02-04", false},
		{"6-18-02", "6-18-02", false},
		{" 6-18-02-041 ", "6-18-02-041", false},
		{"焊工", "焊工", false},
		{"", "", false},
	}
	for _, c := range cases {
		norm := NormalizeCode(c.in)
		if norm != c.norm {
			t.Errorf("NormalizeCode(%q) = %q, want %q", c.in, norm, c.norm)
		}
		if got := ValidCode(norm); got != c.valid {
			t.Errorf("ValidCode(%q) = %v, want %v", norm, got, c.valid)
		}
	}
	if ValidCode("6180204") {
		t.Error("ValidCode accepts a code without dashes; only NormalizeCode should")
	}
}

func welder() Occupation {
	return Occupation{Code: "6-18-02-04", Name: "焊工", Edition: "2022", Levels: []Level{5, 4, 3, 2, 1},
		Specialties: []Specialty{{Name: "电焊工", Levels: []Level{5, 4, 3, 2, 1}}, {Name: "气焊工", Levels: []Level{5, 4, 3}}, {Name: "钎焊工"}}}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Occupation)
		want string // error substring; empty: valid
	}{
		{"valid", func(*Occupation) {}, ""},
		{"no specialties", func(o *Occupation) { o.Specialties = nil }, ""},
		{"bad code", func(o *Occupation) { o.Code = "6180204" }, `code "6180204" is not of the form`},
		{"no name", func(o *Occupation) { o.Name = "  " }, "has no name"},
		{"no edition", func(o *Occupation) { o.Edition = "" }, "no 大典 edition"},
		{"no levels", func(o *Occupation) { o.Levels = nil }, "lists no levels"},
		{"level 0", func(o *Occupation) { o.Levels = []Level{5, 0} }, "invalid level 0"},
		{"level 6", func(o *Occupation) { o.Levels = []Level{6} }, "invalid level 6"},
		{"unnamed specialty", func(o *Occupation) { o.Specialties[1].Name = "" }, "unnamed 工种"},
		{"placeholder specialty", func(o *Occupation) { o.Specialties[1].Name = "--" }, "unnamed 工种"},
		{"specialty twice", func(o *Occupation) { o.Specialties[2].Name = "电焊工" }, "lists 工种 电焊工 twice"},
		{"specialty level", func(o *Occupation) { o.Specialties[1].Levels = []Level{3, 9} }, "工种 气焊工 has invalid level 9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := welder()
			c.mod(&o)
			err := o.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestLevelsFor(t *testing.T) {
	o := welder()
	cases := []struct {
		specialty string
		levels    []Level
		known     bool
		level     Level
		has       bool
	}{
		{"", []Level{5, 4, 3, 2, 1}, true, 1, true},
		{"电焊工", []Level{5, 4, 3, 2, 1}, true, 2, true},
		{"气焊工", []Level{5, 4, 3}, true, 3, true},
		{"气焊工", []Level{5, 4, 3}, true, 2, false},
		{"钎焊工", []Level{5, 4, 3, 2, 1}, true, 1, true}, // a 工种 without levels of its own takes the occupation's
		{"激光焊工", nil, false, 5, false},
	}
	for _, c := range cases {
		ls, ok := o.LevelsFor(c.specialty)
		if ok != c.known || !reflect.DeepEqual(ls, c.levels) {
			t.Errorf("LevelsFor(%q) = %v, %v; want %v, %v", c.specialty, ls, ok, c.levels, c.known)
		}
		if got := o.HasLevel(c.specialty, c.level); got != c.has {
			t.Errorf("HasLevel(%q, %d) = %v, want %v", c.specialty, c.level, got, c.has)
		}
	}
}

func TestParse(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "catalogue.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := []Occupation{
		{Code: "6-18-02-04", Name: "焊工", Edition: "2022", Levels: []Level{5, 4, 3, 2, 1}, Regulated: true,
			Specialties: []Specialty{{Name: "电焊工", Levels: []Level{5, 4, 3, 2, 1}}, {Name: "气焊工", Levels: []Level{5, 4, 3}}, {Name: "钎焊工"}}},
		// Full-width dashes and digits are normalised; the document's
		// edition fills in, an entry's own edition wins.
		{Code: "4-04-05-04", Name: "信息安全测试员", Edition: "2022", Marks: "S", Levels: []Level{4, 3}},
		{Code: "4-10-01-05", Name: "养老护理员", Edition: "2015", Levels: []Level{5, 4, 3, 2, 1}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse(catalogue.json):\n got  %+v\n want %+v", got, want)
	}

	bad := []struct {
		file, want string
	}{
		{"duplicate.json", "catalogue lists 6-18-02-04 twice"},
		{"bad-level.json", "catalogue entry 2: occupation 4-10-01-05 has invalid level 6"},
		{"no-edition.json", "catalogue entry 1: occupation 6-18-02-04 has no 大典 edition"},
		{"truncated.json", "catalogue is not valid JSON"},
		{"level-as-text.json", "catalogue is not valid JSON"},
	}
	for _, c := range bad {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			occ, err := Parse(raw)
			if err == nil || !strings.Contains(err.Error(), c.want) || occ != nil {
				t.Fatalf("Parse(%s) = %d entries, %v; want no entries and an error containing %q", c.file, len(occ), err, c.want)
			}
		})
	}
}

// TestDefault checks the catalogue certd ships: it parses, and the entries
// the rest of the code and the demo rely on are there as expected.
func TestDefault(t *testing.T) {
	occ := Default()
	if len(occ) < 50 {
		t.Fatalf("default catalogue has %d entries", len(occ))
	}
	cat := make(Catalogue, len(occ))
	for _, o := range occ {
		cat[o.Code] = o
	}
	if len(cat) != len(occ) {
		t.Fatalf("default catalogue has duplicate codes")
	}
	w, ok := cat["6-18-02-04"]
	if !ok || w.Name != "焊工" || !w.Regulated || w.Edition != "2022" {
		t.Fatalf("6-18-02-04 = %+v, want 焊工 (regulated, 2022 edition)", w)
	}
	if !w.HasLevel("气焊工", 3) || w.HasLevel("气焊工", 2) {
		t.Fatalf("气焊工 levels = %v, want 5 to 3", w.Specialties)
	}
	for _, o := range occ {
		for _, l := range o.Levels {
			if l.Chinese() == "" || l.English() == "" {
				t.Errorf("%s level %d has no printed name", o.Code, l)
			}
		}
	}
}
