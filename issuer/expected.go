package issuer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"certd/issuer/ident"
)

// The colleges the authority expects to register: the denominators of the
// coverage figures (吉人社联〔2026〕9号 sets its targets as shares of all
// the province's colleges of a kind, so "who has not registered yet"
// needs the list of all of them). The list is the authority's working
// paper: only the authority reads it and only its administrators change it.

// ExpectedCollege is one college expected to register.
type ExpectedCollege struct {
	ID   string
	Name string
	Kind string // one of CollegeKinds
	City string
	// Code is an official code when known: the 10-digit 学校标识码 of the
	// Ministry of Education or the 18-character 统一社会信用代码. A credit
	// code matches a registered institution's; otherwise the name does.
	Code string
	// InstitutionID links the college to a registered institution by hand,
	// for names that do not match (a renamed or merged college); empty
	// means matched by code or name.
	InstitutionID string
	UpdatedAt     time.Time
}

// ExpectedStore keeps the expected colleges. Both shipped backends
// implement it (conformance suite storetest.RunExpectedColleges).
type ExpectedStore interface {
	// ExpectedColleges lists every entry, by ID.
	ExpectedColleges(ctx context.Context) ([]ExpectedCollege, error)
	// PutExpectedColleges inserts the entries or replaces them by ID, all
	// or nothing, with ev in the same transaction. Two entries may not
	// share a name (compared by CollegeNameKey) or a non-empty code:
	// ErrConflict, and nothing of the call is stored.
	PutExpectedColleges(ctx context.Context, list []ExpectedCollege, ev AuditEvent) error
	// DeleteExpectedCollege removes one entry with ev; ErrNotFound if none.
	DeleteExpectedCollege(ctx context.Context, id string, ev AuditEvent) error
}

// CollegeKind is a type of college, with the spellings a sheet may use.
type CollegeKind struct {
	Zh, En  string
	Aliases []string
}

// CollegeKinds are the types of the expected list and of registrations.
// 高职 and 应用型本科 are the first two targets of 吉人社联〔2026〕9号; 本科 is
// every other undergraduate university, which the 2028 target adds; 中职
// and 技师学院 are outside the notice (it covers 高等学校) and have no target.
var CollegeKinds = []CollegeKind{
	{"高职", "higher vocational college", []string{"高等职业学校", "高职院校", "高职专科", "高职高专", "职业技术学院", "职业本科"}},
	{"应用型本科", "applied undergraduate university", []string{"应用型普通本科", "应用型本科学校", "应用本科"}},
	{"本科", "other undergraduate university", []string{"普通本科", "本科院校", "本科学校", "普通高校"}},
	{"中职", "secondary vocational school", []string{"中等职业学校", "中专", "职业高中", "职高"}},
	{"技师学院", "technician college", []string{"技工院校", "技工学校", "高级技工学校"}},
	{"其他", "other", nil},
}

// CollegeKindOf reads a kind as a sheet or a form writes it; ok is false
// for none of them.
func CollegeKindOf(s string) (string, bool) {
	s = strings.TrimSpace(s)
	for _, k := range CollegeKinds {
		if s == k.Zh || strings.EqualFold(s, k.En) || slices.Contains(k.Aliases, s) {
			return k.Zh, true
		}
	}
	return "", false
}

// Cities are Jilin's prefecture-level divisions (市州), and the two areas
// 吉人社联〔2026〕9号 addresses beside them.
var Cities = []string{"长春市", "吉林市", "四平市", "辽源市", "通化市", "白山市", "松原市", "白城市", "延边朝鲜族自治州", "长白山管委会", "梅河口市"}

// CityOf reads a city as people write it ("长春" for 长春市, "延边州").
func CityOf(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	for _, c := range Cities {
		if s == c || strings.TrimSuffix(c, "市") == s || (strings.HasPrefix(c, "延边") && (s == "延边" || s == "延边州")) || (c == "长白山管委会" && s == "长白山") {
			return c, true
		}
	}
	return "", false
}

// CollegeNameKey is the form names are compared in: compatibility-folded
// (full-width letters and brackets become ordinary ones), without spaces
// and with one kind of bracket, so "吉林 交通职业技术学院" and
// "吉林交通职业技术学院" are one college.
func CollegeNameKey(name string) string {
	name = norm.NFKC.String(name)
	var b strings.Builder
	for _, r := range name {
		switch {
		case unicode.IsSpace(r), r == '·', r == '・':
			continue
		case r == '〔' || r == '[' || r == '【':
			r = '('
		case r == '〕' || r == ']' || r == '】':
			r = ')'
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// ExpectedSpec is one expected college as entered: a sheet row (Row is
// its number in the sheet, for the messages) or the single-entry form.
type ExpectedSpec struct {
	Row                    int
	Name, Kind, City, Code string
}

// MaxExpectedColleges bounds the list (Jilin has about 60 高等学校 and some
// 200 中职 and 技工 schools).
const MaxExpectedColleges = 2000

func (s *Service) expectedStore() (ExpectedStore, error) {
	es, ok := s.store.(ExpectedStore)
	if !ok {
		return nil, Errorf(ErrUnavailable, "expected_unsupported", "当前数据库不支持应备案院校名单", "this store does not keep the expected colleges")
	}
	return es, nil
}

// mayReadExpected: the list is the authority's (administrators and the
// province's auditors); a college sees none of it.
func (a Actor) mayReadExpected() error {
	if !a.Authority {
		return errForbidden()
	}
	return nil
}

// ExpectedColleges returns the list, to the authority only.
func (s *Service) ExpectedColleges(ctx context.Context, actor Actor) ([]ExpectedCollege, error) {
	if err := actor.mayReadExpected(); err != nil {
		return nil, err
	}
	es, err := s.expectedStore()
	if err != nil {
		return nil, err
	}
	return es.ExpectedColleges(ctx)
}

// checkExpected reads one spec, adding its problems (by column) to fe.
func checkExpected(sp ExpectedSpec, fe *fieldErrors) ExpectedCollege {
	bad := func(field, col, zh, en string) {
		if sp.Row > 0 {
			zh, en = fmt.Sprintf("第%d行“%s”列：", sp.Row, col)+zh, fmt.Sprintf("row %d, column %s: ", sp.Row, field)+en
		}
		fe.list = append(fe.list, FieldProblem{field, zh, en})
	}
	e := ExpectedCollege{Name: strings.Join(strings.Fields(sp.Name), " "), Code: strings.ToUpper(strings.Join(strings.Fields(sp.Code), ""))}
	switch n := utf8.RuneCountInString(e.Name); {
	case n == 0:
		bad("name", "院校名称", "请填写院校名称", "enter the college's name")
	case n > maxInstNameRunes:
		bad("name", "院校名称", fmt.Sprintf("院校名称最多%d字", maxInstNameRunes), fmt.Sprintf("a name may have at most %d characters", maxInstNameRunes))
	}
	var ok bool
	if e.Kind, ok = CollegeKindOf(sp.Kind); !ok {
		bad("kind", "类型", quoted(sp.Kind)+"类型应为 高职、应用型本科、本科、中职、技师学院 或 其他 之一", quotedEn(sp.Kind)+"the kind must be one of 高职, 应用型本科, 本科, 中职, 技师学院 or 其他")
	}
	if e.City, ok = CityOf(sp.City); !ok {
		bad("city", "市州", quoted(sp.City)+"市州应为吉林省的市（州）之一，如 长春市、延边朝鲜族自治州", quotedEn(sp.City)+"the city must be one of Jilin's cities or prefectures, such as 长春市 or 延边朝鲜族自治州")
	}
	switch {
	case e.Code == "":
	case len(e.Code) == 10 && strings.Trim(e.Code, "0123456789") == "":
	case len(e.Code) == 18:
		if ce, failed := AsError(ident.CheckUSCC(e.Code)); failed {
			bad("code", "官方代码", ce.Zh, ce.En)
		}
	default:
		bad("code", "官方代码", "官方代码应为10位学校标识码或18位统一社会信用代码，不知道可留空", "the official code is the 10-digit school code or the 18-character credit code; leave it empty if unknown")
	}
	return e
}

// quoted names what a cell held ("" when empty), cut to 20 characters.
func quoted(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return "未填写；"
	}
	if r := []rune(v); len(r) > 20 {
		v = string(r[:20]) + "…"
	}
	return "“" + v + "”不可用；"
}

func quotedEn(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return "empty; "
	}
	if r := []rune(v); len(r) > 20 {
		v = string(r[:20]) + "…"
	}
	return fmt.Sprintf("%q is not accepted; ", v)
}

func newExpectedID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "ec" + hex.EncodeToString(b)
}

// ImportExpected adds the rows of a sheet to the list: a row whose code,
// or else name, is already listed updates that entry (keeping a link made
// by hand), any other is added. Every problem of every row is reported at
// once (row, column, reason) and then nothing is stored.
func (s *Service) ImportExpected(ctx context.Context, actor Actor, file string, rows []ExpectedSpec) (added, updated int, err error) {
	if err := actor.mayAdminister(); err != nil {
		return 0, 0, err
	}
	es, err := s.expectedStore()
	if err != nil {
		return 0, 0, err
	}
	cur, err := es.ExpectedColleges(ctx)
	if err != nil {
		return 0, 0, err
	}
	if len(rows) == 0 {
		return 0, 0, Errorf(ErrInvalid, "expected_empty", "表格中没有院校（第1行是表头，从第2行起每行一所院校）", "the sheet lists no college (row 1 is the header, one college a row from row 2)")
	}
	byKey, byCode := map[string]ExpectedCollege{}, map[string]ExpectedCollege{}
	for _, e := range cur {
		byKey[CollegeNameKey(e.Name)] = e
		if e.Code != "" {
			byCode[e.Code] = e
		}
	}
	fe := &fieldErrors{byRow: true}
	seenKey, seenCode := map[string]int{}, map[string]int{}
	var out []ExpectedCollege
	now := s.now()
	for _, sp := range rows {
		before := len(fe.list)
		e := checkExpected(sp, fe)
		key := CollegeNameKey(e.Name)
		if n, dup := seenKey[key]; dup && e.Name != "" {
			fe.addTo("name", "第%d行“院校名称”列：与第%d行是同一所院校", "row %d, column name: the same college as row %d", sp.Row, n)
		}
		if n, dup := seenCode[e.Code]; dup && e.Code != "" {
			fe.addTo("code", "第%d行“官方代码”列：与第%d行的代码相同", "row %d, column code: the same code as row %d", sp.Row, n)
		}
		seenKey[key], seenCode[e.Code] = sp.Row, sp.Row
		if len(fe.list) > before {
			continue
		}
		old, found := ExpectedCollege{}, false
		if e.Code != "" {
			old, found = byCode[e.Code]
		}
		if !found {
			old, found = byKey[key]
			if found && old.Code != "" && e.Code != "" && old.Code != e.Code {
				fe.addTo("code", "第%d行“官方代码”列：名单中的“%s”代码为%s，与本行不同，请核对", "row %d, column code: %s is listed with the code %s, not this one; check which is right", sp.Row, old.Name, old.Code)
				continue
			}
		}
		if found {
			e.ID, e.InstitutionID = old.ID, old.InstitutionID
			if e.Code == "" {
				e.Code = old.Code
			}
			updated++
		} else {
			e.ID = newExpectedID()
			added++
		}
		e.UpdatedAt = now
		out = append(out, e)
	}
	if len(fe.list) > 0 {
		if len(fe.list) > 200 {
			n := len(fe.list)
			fe.list = append(fe.list[:200], FieldProblem{"", fmt.Sprintf("……另有%d处问题未列出", n-200), fmt.Sprintf("... and %d more problems", n-200)})
		}
		err := fe.err("expected_sheet").(*FieldsError)
		err.Err.Zh = strings.Replace(err.Err.Zh, "机构信息有误", "院校名单表格有误，未导入任何一行", 1)
		err.Err.En = strings.Replace(err.Err.En, "the institution record has problems", "the college list has problems; no row was imported", 1)
		return 0, 0, err
	}
	if len(cur)+added > MaxExpectedColleges {
		return 0, 0, Errorf(ErrInvalid, "expected_too_many", "名单最多%d所院校", "the list may have at most %d colleges", MaxExpectedColleges)
	}
	ev := s.event(actor, "expected.import", "", file, map[string]any{"rows": len(out), "added": added, "updated": updated})
	if err := es.PutExpectedColleges(ctx, out, ev); err != nil {
		return 0, 0, err
	}
	return added, updated, nil
}

// SaveExpected adds one college (id empty) or corrects one; problems come
// by field, all at once.
func (s *Service) SaveExpected(ctx context.Context, actor Actor, id string, sp ExpectedSpec) (ExpectedCollege, error) {
	if err := actor.mayAdminister(); err != nil {
		return ExpectedCollege{}, err
	}
	es, err := s.expectedStore()
	if err != nil {
		return ExpectedCollege{}, err
	}
	cur, err := es.ExpectedColleges(ctx)
	if err != nil {
		return ExpectedCollege{}, err
	}
	sp.Row = 0
	fe := &fieldErrors{}
	e := checkExpected(sp, fe)
	var old *ExpectedCollege
	for i := range cur {
		c := cur[i]
		if c.ID == id {
			old = &cur[i]
			continue
		}
		if e.Name != "" && CollegeNameKey(c.Name) == CollegeNameKey(e.Name) {
			fe.addTo("name", "名单中已有“%s”", "%s is already listed", c.Name)
			fe.conflicts++
		}
		if e.Code != "" && c.Code == e.Code {
			fe.addTo("code", "代码%s已属于名单中的“%s”，请核对", "the code %s belongs to %s in the list; check it", e.Code, c.Name)
			fe.conflicts++
		}
	}
	action := "expected.add"
	if id != "" {
		if old == nil {
			return ExpectedCollege{}, errExpectedUnknown
		}
		e.ID, e.InstitutionID, action = id, old.InstitutionID, "expected.update"
	} else {
		e.ID = newExpectedID()
		if len(cur) >= MaxExpectedColleges {
			fe.addTo("", "名单最多%d所院校", "the list may have at most %d colleges", MaxExpectedColleges)
		}
	}
	if err := fe.err("expected_invalid"); err != nil {
		fe2 := err.(*FieldsError)
		fe2.Err.Zh = strings.Replace(fe2.Err.Zh, "机构信息有误", "院校信息有误", 1)
		fe2.Err.En = strings.Replace(fe2.Err.En, "the institution record has problems", "the college has problems", 1)
		return e, fe2
	}
	e.UpdatedAt = s.now()
	ev := s.event(actor, action, "", e.Name, map[string]any{"kind": e.Kind, "city": e.City, "code": e.Code})
	return e, es.PutExpectedColleges(ctx, []ExpectedCollege{e}, ev)
}

// LinkExpected links an expected college to a registered institution by
// hand, or unlinks it (institutionID empty), for the names that do not
// match by themselves.
func (s *Service) LinkExpected(ctx context.Context, actor Actor, id, institutionID string) error {
	if err := actor.mayAdminister(); err != nil {
		return err
	}
	es, cur, i, err := s.expectedOne(ctx, id)
	if err != nil {
		return err
	}
	e := cur[i]
	detail := map[string]any{"institution": institutionID}
	if institutionID != "" {
		in, err := s.store.Institution(ctx, institutionID)
		if err != nil {
			return notFoundInstitution(err, institutionID)
		}
		for _, o := range cur {
			if o.InstitutionID == institutionID && o.ID != id {
				return Errorf(ErrConflict, "expected_linked", "“%s”已与名单中的“%s”关联", "%s is already linked to %s in the list", in.Name, o.Name)
			}
		}
		detail["name"] = in.Name
	}
	action := "expected.link"
	if institutionID == "" {
		if e.InstitutionID == "" {
			return nil // nothing linked by hand: nothing to undo
		}
		action, detail["institution"] = "expected.unlink", e.InstitutionID
	}
	e.InstitutionID, e.UpdatedAt = institutionID, s.now()
	ev := s.event(actor, action, institutionID, e.Name, detail)
	return es.PutExpectedColleges(ctx, []ExpectedCollege{e}, ev)
}

var errExpectedUnknown = Errorf(ErrNotFound, "expected_unknown", "名单中没有这所院校", "no such college in the list")

// expectedOne reads the list and finds college id in it.
func (s *Service) expectedOne(ctx context.Context, id string) (ExpectedStore, []ExpectedCollege, int, error) {
	es, err := s.expectedStore()
	if err != nil {
		return nil, nil, 0, err
	}
	cur, err := es.ExpectedColleges(ctx)
	if err != nil {
		return nil, nil, 0, err
	}
	i := slices.IndexFunc(cur, func(e ExpectedCollege) bool { return e.ID == id })
	if i < 0 {
		return nil, nil, 0, errExpectedUnknown
	}
	return es, cur, i, nil
}

// DeleteExpected removes one college from the list.
func (s *Service) DeleteExpected(ctx context.Context, actor Actor, id string) error {
	if err := actor.mayAdminister(); err != nil {
		return err
	}
	es, cur, i, err := s.expectedOne(ctx, id)
	if err != nil {
		return err
	}
	return es.DeleteExpectedCollege(ctx, id, s.event(actor, "expected.delete", "", cur[i].Name, map[string]any{"kind": cur[i].Kind, "city": cur[i].City}))
}

// ExpectedMatch is how an expected college was found among registrations.
type ExpectedMatch struct {
	InstitutionID string
	By            string // "link", "code", "name"; "" when not registered
}

// MatchExpected finds each expected college's registered institution: the
// link made by hand, else a credit code both have (one institution only),
// else the same name (CollegeNameKey). An institution answers for one
// expected college at most. Withdrawn registrations count as none.
func MatchExpected(expected []ExpectedCollege, ins []Institution) map[string]ExpectedMatch {
	out := map[string]ExpectedMatch{}
	taken := map[string]bool{}
	live := map[string]Institution{}
	byCode, byName := map[string][]string{}, map[string][]string{}
	for _, in := range ins {
		if in.Status == Withdrawn {
			continue
		}
		live[in.ID] = in
		if in.USCC != "" {
			byCode[in.USCC] = append(byCode[in.USCC], in.ID)
		}
		byName[CollegeNameKey(in.Name)] = append(byName[CollegeNameKey(in.Name)], in.ID)
	}
	for _, e := range expected {
		if _, ok := live[e.InstitutionID]; ok && e.InstitutionID != "" {
			out[e.ID], taken[e.InstitutionID] = ExpectedMatch{e.InstitutionID, "link"}, true
		}
	}
	pick := func(by string, index map[string][]string, key func(ExpectedCollege) string) {
		for _, e := range expected {
			if _, done := out[e.ID]; done || key(e) == "" {
				continue
			}
			var free []string
			for _, id := range index[key(e)] {
				if !taken[id] {
					free = append(free, id)
				}
			}
			if len(free) == 1 {
				out[e.ID], taken[free[0]] = ExpectedMatch{free[0], by}, true
			}
		}
	}
	pick("code", byCode, func(e ExpectedCollege) string {
		if len(e.Code) == 18 {
			return e.Code
		}
		return ""
	})
	pick("name", byName, func(e ExpectedCollege) string { return CollegeNameKey(e.Name) })
	return out
}
