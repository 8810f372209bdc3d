package issuer

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"certd/issuer/certno"
	"certd/issuer/credential"
	"certd/issuer/ident"
	"certd/issuer/keys"
	"certd/issuer/occupation"
)

// Key purposes bound into sealed private keys.
const (
	purposeAuthority   = "authority"
	purposeInstitution = "institution"
)

// RegistrationYears is the default validity of a registration (备案有效期3年).
const RegistrationYears = 3

// Every version of an institution is an authority-signed entry that the
// public trust bundle carries for ever, so a college's own changes (print
// settings, fees) make at most this many versions an hour and a day. Every
// version of the institution made in the window counts; the authority's
// own changes are not limited.
const (
	MaxCollegeVersionsPerHour = 10
	MaxCollegeVersionsPerDay  = 30
)

// Init creates the deployment's authority with a fresh key, and loads the
// shipped occupation catalogue when the store has none. It fails with
// ErrConflict when the store already has an authority.
func (s *Service) Init(ctx context.Context, actor Actor, name string) (Authority, error) {
	if err := actor.mayAdminister(); err != nil {
		return Authority{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return Authority{}, Errorf(ErrInvalid, "authority_name", "认定主管部门名称不能为空", "the authority's name is empty")
	}
	pub, priv, err := keys.Generate()
	if err != nil {
		return Authority{}, err
	}
	kid := credential.KID(pub)
	sealed, err := s.KEK.Seal(priv, purposeAuthority, kid)
	if err != nil {
		return Authority{}, err
	}
	a := Authority{Name: name, KID: kid, PublicKey: pub, Sealed: sealed, CreatedAt: s.now()}
	if err := s.store.CreateAuthority(ctx, a, s.event(actor, "authority.create", "", kid, map[string]any{"name": name})); err != nil {
		return Authority{}, err
	}
	occ, err := s.store.Occupations(ctx)
	if err != nil {
		return Authority{}, err
	}
	if len(occ) == 0 {
		if err := s.store.PutOccupations(ctx, occupation.Default(), s.event(actor, "catalogue.load", "", "default", map[string]any{"entries": len(occupation.Default())})); err != nil {
			return Authority{}, err
		}
	}
	return a, nil
}

// authorityKey opens the authority's private key. A wrong KEK shows here
// first, so the error says so plainly.
func (s *Service) authorityKey(ctx context.Context) (Authority, ed25519.PrivateKey, error) {
	a, err := s.store.Authority(ctx)
	if err != nil {
		if Is(err, ErrNotFound) {
			return a, nil, Errorf(ErrNotFound, "no_authority", "尚未初始化：请先运行 certd init", "not initialised: run certd init first")
		}
		return a, nil, err
	}
	priv, err := s.KEK.Open(a.Sealed, purposeAuthority, a.KID)
	if err != nil {
		return a, nil, &Error{Kind: ErrUnavailable, Code: "wrong_kek", Zh: "无法解开主管部门私钥：密钥加密密钥（KEK）不正确", En: "cannot open the authority key: wrong key-encryption key", Err: err}
	}
	return a, priv, nil
}

// InstitutionSpec is what the authority enters to register an institution
// (certd institution add reads it from JSON or YAML).
type InstitutionSpec struct {
	ID         string      `json:"id" yaml:"id"`
	Name       string      `json:"name" yaml:"name"`
	USCC       string      `json:"uscc" yaml:"uscc"`
	Prefix     string      `json:"prefix" yaml:"prefix"`
	FilingNo   string      `json:"filing_no" yaml:"filing_no"`
	ValidFrom  string      `json:"valid_from" yaml:"valid_from"`   // YYYY-MM-DD; default today
	ValidUntil string      `json:"valid_until" yaml:"valid_until"` // default ValidFrom + 3 years - 1 day
	Contact    string      `json:"contact" yaml:"contact"`
	City       string      `json:"city" yaml:"city"`
	Kind       string      `json:"kind" yaml:"kind"`
	Scope      []ScopeSpec `json:"scope" yaml:"scope"`
	Fees       []FeeSpec   `json:"fees" yaml:"fees"`
}

// ScopeSpec is one scope line as entered. Levels take digits or Chinese forms.
type ScopeSpec struct {
	Occupation string   `json:"occupation" yaml:"occupation"`
	Specialty  string   `json:"specialty" yaml:"specialty"`
	Levels     []string `json:"levels" yaml:"levels"`
}

// FeeSpec is one fee line as entered; Amount is in yuan ("120", "85.50").
type FeeSpec struct {
	Occupation string `json:"occupation" yaml:"occupation"`
	Level      string `json:"level" yaml:"level"`
	Amount     string `json:"amount" yaml:"amount"`
	Basis      string `json:"basis" yaml:"basis"`
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,31}$`)

// parseDate reads YYYY-MM-DD.
func parseDate(s string) (time.Time, bool) {
	t, err := time.Parse(DateLayout, strings.TrimSpace(s))
	return t, err == nil
}

// FieldProblem is one problem of a submitted record, tied to the field it
// is about (the form's input name: "id", "name", "uscc", "prefix",
// "filing_no", "valid_from", "valid_until", "city", "kind", "contact",
// "scope", "fees"), so that a form can say it beside that field.
type FieldProblem struct{ Field, Zh, En string }

// FieldsError is every problem of a record at once. It wraps the *Error
// that lists them all, a line each (what the command line prints), and
// keeps them by field for the console's form.
type FieldsError struct {
	Err    *Error
	Fields []FieldProblem
}

func (f *FieldsError) Error() string { return f.Err.Error() }
func (f *FieldsError) Unwrap() error { return f.Err }

// FieldsOf returns the problems of err by field, nil when err carries none.
func FieldsOf(err error) []FieldProblem {
	var fe *FieldsError
	if errors.As(err, &fe) {
		return fe.Fields
	}
	return nil
}

// fieldOrder is the order of the registration form's fields.
var fieldOrder = []string{"id", "prefix", "name", "uscc", "filing_no", "valid_from", "valid_until", "city", "kind", "contact", "scope", "fees"}

func fieldRank(f string) int {
	if i := slices.Index(fieldOrder, f); i >= 0 {
		return i
	}
	return len(fieldOrder)
}

// fieldErrors collects every problem in a spec so the authority fixes all
// of them at once, each with the field it is about.
type fieldErrors struct {
	list []FieldProblem
	// conflicts counts the problems that clash with what is stored (an id
	// or prefix already taken) rather than break a rule.
	conflicts int
	// byRow keeps the problems in the order found (a sheet's, row by
	// row) instead of the form's order of fields.
	byRow bool
}

func (f *fieldErrors) add(zh, en string, args ...any) { f.addTo("", zh, en, args...) }

func (f *fieldErrors) addTo(field, zh, en string, args ...any) {
	f.list = append(f.list, FieldProblem{field, fmt.Sprintf(zh, args...), fmt.Sprintf(en, args...)})
}

// err is nil without problems, else one error listing them, a line each;
// ErrConflict when every problem is a clash with what is stored.
func (f *fieldErrors) err(code string) error {
	if len(f.list) == 0 {
		return nil
	}
	// In the order of the form, so the list above it reads top to bottom.
	if !f.byRow {
		slices.SortStableFunc(f.list, func(a, b FieldProblem) int { return fieldRank(a.Field) - fieldRank(b.Field) })
	}
	var zh, en []string
	for _, p := range f.list {
		zh, en = append(zh, p.Zh), append(en, p.En)
	}
	kind := ErrInvalid
	if f.conflicts == len(f.list) {
		kind = ErrConflict
	}
	return &FieldsError{Err: &Error{Kind: kind, Code: code, Zh: "机构信息有误：\n  " + strings.Join(zh, "\n  "), En: "the institution record has problems:\n  " + strings.Join(en, "\n  ")},
		Fields: slices.Clone(f.list)}
}

// AddInstitution registers a new institution with a fresh signing key.
func (s *Service) AddInstitution(ctx context.Context, actor Actor, spec InstitutionSpec) (Institution, error) {
	if err := actor.mayAdminister(); err != nil {
		return Institution{}, err
	}
	in, err := s.buildNew(ctx, spec)
	if err != nil {
		return Institution{}, err
	}
	now := s.now()
	pub, priv, err := keys.Generate()
	if err != nil {
		return Institution{}, err
	}
	kid := credential.KID(pub)
	sealed, err := s.KEK.Seal(priv, purposeInstitution, kid)
	if err != nil {
		return Institution{}, err
	}
	in.Version = 1
	in.Status = Active
	in.Keys = []InstitutionKey{{KID: kid, PublicKey: pub, NotBefore: now}}
	sk := SigningKey{InstitutionID: in.ID, KID: kid, PublicKey: pub, Sealed: sealed, CreatedAt: now}
	return s.putVersion(ctx, actor, nil, in, []SigningKey{sk}, "institution.register", map[string]any{"name": in.Name, "prefix": in.Prefix, "scope": len(in.Scope)})
}

func (s *Service) buildInstitution(ctx context.Context, spec InstitutionSpec) (Institution, error) {
	in, fe, err := s.build(ctx, spec)
	if err != nil {
		return in, err
	}
	return in, fe.err("institution_invalid")
}

// Field bounds of a registration (runes).
const (
	maxInstNameRunes   = 100
	maxFilingNoRunes   = 100
	maxContactRunes    = 100
	maxCityOrKindRunes = 20
)

// build reads spec into an institution and collects every problem of it,
// each with its field; err is only for a failure to read the catalogue.
// The messages say what to enter, never what a check character should be:
// a code that fails its check is compared with the original document.
func (s *Service) build(ctx context.Context, spec InstitutionSpec) (Institution, *fieldErrors, error) {
	fe := &fieldErrors{}
	in := Institution{
		ID: strings.TrimSpace(spec.ID), Name: strings.TrimSpace(spec.Name), USCC: strings.ToUpper(strings.TrimSpace(spec.USCC)),
		Prefix: strings.TrimSpace(spec.Prefix), FilingNo: strings.TrimSpace(spec.FilingNo),
		Contact: strings.TrimSpace(spec.Contact), City: strings.TrimSpace(spec.City), Kind: strings.TrimSpace(spec.Kind),
	}
	switch {
	case in.ID == "":
		fe.addTo("id", "请填写机构标识（如 jlzy，用于网址和账号，备案后不能修改）", "enter an id (such as jlzy; used in addresses and accounts, it cannot change later)")
	case !idPattern.MatchString(in.ID):
		fe.addTo("id", "机构标识只能由2至32位小写字母、数字或连字符（-）组成，并以字母或数字开头，如 jlzy", "the id may only have 2-32 lower-case letters, digits or hyphens (-), starting with a letter or digit, such as jlzy")
	}
	switch n := utf8.RuneCountInString(in.Name); {
	case n == 0:
		fe.addTo("name", "请填写机构名称（与备案通知一致，将印在证书上）", "enter the registered name (as in the registration notice; it is printed on certificates)")
	case n > maxInstNameRunes:
		fe.addTo("name", "机构名称最多%d字（现为%d字）", "the registered name may have at most %d characters (it has %d)", maxInstNameRunes, n)
	}
	if in.USCC == "" {
		fe.addTo("uscc", "请填写统一社会信用代码（18位，见事业单位法人证书或营业执照）", "enter the unified social credit code (18 characters, on the legal-person certificate or business licence)")
	} else if e, ok := AsError(ident.CheckUSCC(in.USCC)); ok {
		fe.list = append(fe.list, FieldProblem{"uscc", e.Zh, e.En})
	}
	switch {
	case in.Prefix == "":
		fe.addTo("prefix", "请填写证书编号前缀（1个大写字母加12位数字，见备案通知）", "enter the certificate number prefix (a capital letter and 12 digits, from the registration notice)")
	case !certno.ValidPrefix(in.Prefix):
		fe.addTo("prefix", "证书编号前缀应为1个大写字母加12位数字（共13位，如 Y000022000001），请与备案通知核对", "the certificate number prefix is a capital letter and 12 digits (13 in all, such as Y000022000001); compare it with the registration notice")
	}
	switch n := utf8.RuneCountInString(in.FilingNo); {
	case n == 0:
		fe.addTo("filing_no", "请填写备案编号（见备案通知）", "enter the filing number (from the registration notice)")
	case n > maxFilingNoRunes:
		fe.addTo("filing_no", "备案编号最多%d字", "the filing number may have at most %d characters", maxFilingNoRunes)
	}
	if utf8.RuneCountInString(in.Contact) > maxContactRunes {
		fe.addTo("contact", "联系方式最多%d字", "the contact may have at most %d characters", maxContactRunes)
	}
	if utf8.RuneCountInString(in.City) > maxCityOrKindRunes {
		fe.addTo("city", "请选择市州", "choose the city")
	}
	if utf8.RuneCountInString(in.Kind) > maxCityOrKindRunes {
		fe.addTo("kind", "请选择类型", "choose the kind")
	}
	today := Day(s.now())
	in.ValidFrom = today
	fromOK, untilOK := true, true
	if spec.ValidFrom != "" {
		d, ok := parseDate(spec.ValidFrom)
		if !ok {
			fromOK = false
			fe.addTo("valid_from", "备案有效期起始日期应为有效日期，写作YYYY-MM-DD（如 2026-09-01）", "the start date must be a real date written YYYY-MM-DD (such as 2026-09-01)")
		}
		in.ValidFrom = d
	}
	in.ValidUntil = in.ValidFrom.AddDate(RegistrationYears, 0, -1)
	if spec.ValidUntil != "" {
		d, ok := parseDate(spec.ValidUntil)
		if !ok {
			untilOK = false
			fe.addTo("valid_until", "备案有效期截止日期应为有效日期，写作YYYY-MM-DD；留空则为起始日期起三年", "the end date must be a real date written YYYY-MM-DD; leave it empty for three years from the start")
		}
		in.ValidUntil = d
	}
	if fromOK && untilOK && in.ValidUntil.Before(in.ValidFrom) {
		fe.addTo("valid_until", "备案有效期截止日期（%s）早于起始日期（%s），请与备案通知核对", "the end date (%s) is before the start date (%s); compare them with the registration notice",
			in.ValidUntil.Format(DateLayout), in.ValidFrom.Format(DateLayout))
	}
	cat, err := s.catalogue(ctx)
	if err != nil {
		return in, fe, err
	}
	seen := map[string]bool{}
	for i, sc := range spec.Scope {
		code := occupation.NormalizeCode(sc.Occupation)
		occ, ok := cat[code]
		if !ok {
			fe.addTo("scope", "认定范围第%d项：职业编码“%s”不在职业目录中，请在职业目录中核对编码", "scope line %d: occupation code %q is not in the catalogue; look it up in the catalogue", i+1, sc.Occupation)
			continue
		}
		spec := strings.TrimSpace(sc.Specialty)
		if spec == "--" {
			spec = ""
		}
		if _, ok := occ.LevelsFor(spec); !ok {
			fe.addTo("scope", "认定范围第%d项：职业目录中%s没有工种“%s”", "scope line %d: under %s the catalogue lists no 工种 %q", i+1, occ.Name, spec)
			continue
		}
		key := code + "/" + spec
		if seen[key] {
			fe.addTo("scope", "认定范围第%d项：%s重复", "scope line %d: %s is listed twice", i+1, occ.Name+specSuffix(spec))
		}
		seen[key] = true
		entry := ScopeEntry{Occupation: code, Specialty: spec}
		for _, ls := range sc.Levels {
			l, ok := occupation.ParseLevel(ls)
			if !ok || !occ.HasLevel(spec, l) {
				fe.addTo("scope", "认定范围第%d项：职业目录中%s没有等级“%s”", "scope line %d: the catalogue defines no level %q for %s", i+1, occ.Name+specSuffix(spec), ls)
				continue
			}
			if !slices.Contains(entry.Levels, l) {
				entry.Levels = append(entry.Levels, l)
			}
		}
		if len(entry.Levels) == 0 {
			fe.addTo("scope", "认定范围第%d项：%s未选等级", "scope line %d: no level is chosen for %s", i+1, occ.Name+specSuffix(spec))
		}
		slices.Sort(entry.Levels)
		in.Scope = append(in.Scope, entry)
	}
	if len(spec.Scope) == 0 {
		fe.addTo("scope", "请至少选择一个职业（工种）及其等级", "choose at least one occupation (or 工种) and its levels")
	}
	for i, f := range spec.Fees {
		code := occupation.NormalizeCode(f.Occupation)
		l, ok := occupation.ParseLevel(f.Level)
		fen, okAmt := parseYuan(f.Amount)
		if !ok || !okAmt || !ValidCodeIn(cat, code) {
			fe.addTo("fees", "收费标准第%d项无效（职业、等级或金额）", "fee line %d is invalid (occupation, level or amount)", i+1)
			continue
		}
		in.Fees = append(in.Fees, Fee{Occupation: code, Level: l, AmountFen: fen, Basis: strings.TrimSpace(f.Basis)})
	}
	return in, fe, nil
}

// specSuffix names a 工种 after its occupation's name, nothing when none.
func specSuffix(spec string) string {
	if spec == "" {
		return ""
	}
	return "（" + spec + "）"
}

// ValidCodeIn reports whether code is in the catalogue.
func ValidCodeIn(cat occupation.Catalogue, code string) bool { _, ok := cat[code]; return ok }

// parseYuan reads an amount in yuan with at most two decimals into 分.
func parseYuan(s string) (int64, bool) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "元"))
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 {
		return 0, false
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 || w > 1_000_000 {
		return 0, false
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, false
	}
	return w*100 + f, true
}

// putVersion signs in as a registration and stores it as the version after
// cur (nil for a new institution). A version whose content would be cur's
// (the registration the authority signs, and the unsigned parts stored
// with it: contact, city, kind, fees, print settings) is not made: cur is
// returned as it is. Every version is an entry of the public trust bundle,
// so a save that changes nothing must not add one, and a college's changes
// are held to MaxCollegeVersionsPerHour and MaxCollegeVersionsPerDay.
func (s *Service) putVersion(ctx context.Context, actor Actor, cur *Institution, in Institution, newKeys []SigningKey, action string, detail map[string]any) (Institution, error) {
	if cur != nil && len(newKeys) == 0 && sameContent(*cur, in) {
		return *cur, nil
	}
	if cur != nil && !actor.Authority {
		if err := s.versionRate(ctx, in.ID); err != nil {
			return Institution{}, err
		}
	}
	a, apriv, err := s.authorityKey(ctx)
	if err != nil {
		return Institution{}, err
	}
	now := s.now()
	in.EffectiveAt = now
	in.RecordedBy = actor.Name
	tok, err := credential.Sign(credential.NewRegistrationClaims(RegistrationOf(in), now), credential.TypeRegistration, apriv)
	if err != nil {
		return Institution{}, err
	}
	in.Token = tok
	detail["version"] = in.Version
	ev := s.event(actor, action, in.ID, in.ID, detail)
	if _, ok := s.logStore(); ok {
		if ev.Log, err = registrationItems(in, a.KID, newKeys, now); err != nil {
			return Institution{}, err
		}
	}
	if err := s.store.PutInstitution(ctx, in, newKeys, ev); err != nil {
		return Institution{}, err
	}
	return in, nil
}

// content is what a version says, without when, by whom and as which
// version number: the registration as the authority signs it, and the
// parts stored unsigned beside it.
func content(in Institution) []byte {
	reg := RegistrationOf(in)
	reg.Version, reg.EffectiveAt = 0, 0
	fees := in.Fees
	if len(fees) == 0 {
		fees = nil // none stored and none entered say the same
	}
	b, err := json.Marshal(struct {
		Registration credential.Registration
		Contact      string
		City         string
		Kind         string
		Fees         []Fee
		Print        PrintSettings
	}{reg, in.Contact, in.City, in.Kind, fees, in.Print})
	if err != nil {
		// Plain data always marshals; should it ever not, treat it as a
		// change rather than lose one.
		return nil
	}
	return b
}

func sameContent(a, b Institution) bool {
	ca := content(a)
	return ca != nil && bytes.Equal(ca, content(b))
}

// versionRate refuses a college's change once the institution has
// MaxCollegeVersionsPerHour versions in the last hour or
// MaxCollegeVersionsPerDay in the last day.
func (s *Service) versionRate(ctx context.Context, id string) error {
	vs, err := s.store.InstitutionVersions(ctx, id)
	if err != nil {
		return notFoundInstitution(err, id)
	}
	now := s.now()
	hour, day := 0, 0
	for _, v := range vs {
		if age := now.Sub(v.EffectiveAt); age < 24*time.Hour {
			day++
			if age < time.Hour {
				hour++
			}
		}
	}
	switch {
	case hour >= MaxCollegeVersionsPerHour:
		return Errorf(ErrConflict, "versions_rate", "机构信息一小时内最多修改%d次，请一小时后再试（每次修改都会由主管部门签名并公开）",
			"the college record may change at most %d times an hour; try again in an hour (every change is signed by the authority and published)", MaxCollegeVersionsPerHour)
	case day >= MaxCollegeVersionsPerDay:
		return Errorf(ErrConflict, "versions_rate", "机构信息一天内最多修改%d次，请明天再试（每次修改都会由主管部门签名并公开）",
			"the college record may change at most %d times a day; try again tomorrow (every change is signed by the authority and published)", MaxCollegeVersionsPerDay)
	}
	return nil
}

// RegistrationOf is the public, signed form of an institution version.
func RegistrationOf(in Institution) credential.Registration {
	r := credential.Registration{
		InstitutionID: in.ID, Version: in.Version, Name: in.Name, USCC: in.USCC, Prefix: in.Prefix, FilingNo: in.FilingNo,
		ValidFrom: in.ValidFrom.Format(DateLayout), ValidUntil: in.ValidUntil.Format(DateLayout),
		Status: string(in.Status), EffectiveAt: in.EffectiveAt.Unix(),
	}
	for _, sc := range in.Scope {
		ls := make([]int, len(sc.Levels))
		for i, l := range sc.Levels {
			ls[i] = int(l)
		}
		r.Scope = append(r.Scope, credential.Scope{Occupation: sc.Occupation, Specialty: sc.Specialty, Levels: ls})
	}
	for _, k := range in.Keys {
		kw := credential.KeyWindow{JWK: credential.NewJWK(k.PublicKey), NotBefore: k.NotBefore.Unix()}
		if !k.NotAfter.IsZero() {
			kw.NotAfter = k.NotAfter.Unix()
		}
		r.Keys = append(r.Keys, kw)
	}
	return r
}

// ChangeInstitution applies change to the latest version of an institution
// and stores the result as a new signed version. It is how renewals, scope
// changes and status changes are made; concurrent changes cannot both win.
func (s *Service) changeInstitution(ctx context.Context, actor Actor, id, action string, detail map[string]any, change func(*Institution) ([]SigningKey, error)) (Institution, error) {
	if err := actor.mayAdminister(); err != nil {
		return Institution{}, err
	}
	cur, err := s.store.Institution(ctx, id)
	if err != nil {
		return Institution{}, notFoundInstitution(err, id)
	}
	in := cur.clone()
	in.Version++
	newKeys, err := change(&in)
	if err != nil {
		return Institution{}, err
	}
	return s.putVersion(ctx, actor, &cur, in, newKeys, action, detail)
}

// clone copies in deeply enough that a change to the copy leaves in as it
// was (RotateKey closes key windows in place).
func (in Institution) clone() Institution {
	out := in
	out.Scope = slices.Clone(in.Scope)
	for i := range out.Scope {
		out.Scope[i].Levels = slices.Clone(in.Scope[i].Levels)
	}
	out.Fees = slices.Clone(in.Fees)
	out.Keys = slices.Clone(in.Keys)
	return out
}

func notFoundInstitution(err error, id string) error {
	if Is(err, ErrNotFound) {
		return errUnknownInstitution(id)
	}
	return err
}

func errUnknownInstitution(id string) error {
	return Errorf(ErrNotFound, "institution_unknown", "认定机构“%s”不存在", "no institution %q", id)
}

// Institution returns the registration in force now (the latest version).
// A college actor reads its own; another college's is "not found", as one
// that does not exist.
func (s *Service) Institution(ctx context.Context, actor Actor, id string) (Institution, error) {
	if actor.MayRead(id) != nil {
		return Institution{}, errUnknownInstitution(id)
	}
	in, err := s.store.Institution(ctx, id)
	return in, notFoundInstitution(err, id)
}

// InstitutionVersions returns every version of a registration, oldest
// first, to whoever may read the institution (see Institution).
func (s *Service) InstitutionVersions(ctx context.Context, actor Actor, id string) ([]Institution, error) {
	if actor.MayRead(id) != nil {
		return nil, errUnknownInstitution(id)
	}
	vs, err := s.store.InstitutionVersions(ctx, id)
	return vs, notFoundInstitution(err, id)
}

// Institutions lists the institutions the actor may read, by ID: every
// one for the authority, its own for a college.
func (s *Service) Institutions(ctx context.Context, actor Actor) ([]Institution, error) {
	if actor.Authority {
		return s.store.Institutions(ctx)
	}
	in, err := s.Institution(ctx, actor, actor.InstitutionID)
	if Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []Institution{in}, nil
}

// SetStatus suspends, withdraws or reinstates an institution. Certificates
// issued while it was active stay valid; it cannot issue new ones.
func (s *Service) SetStatus(ctx context.Context, actor Actor, id string, st InstitutionStatus, note string) (Institution, error) {
	if st != Active && st != Suspended && st != Withdrawn {
		return Institution{}, Errorf(ErrInvalid, "status_unknown", "未知的机构状态“%s”", "unknown institution status %q", st)
	}
	return s.changeInstitution(ctx, actor, id, "institution."+string(st), map[string]any{"status": st, "note": note}, func(in *Institution) ([]SigningKey, error) {
		if in.Status == Withdrawn && st != Withdrawn {
			return nil, Errorf(ErrConflict, "withdrawn", "已撤销备案的机构不能恢复，请重新备案", "a withdrawn registration cannot be reinstated; register again")
		}
		if in.Status == st {
			return nil, &Error{Kind: ErrConflict, Code: "status_same", Zh: "机构状态已是“" + st.Chinese() + "”", En: "the institution is already " + string(st)}
		}
		in.Status = st
		return nil, nil
	})
}

// Renew extends a registration to until (default: three more years).
func (s *Service) Renew(ctx context.Context, actor Actor, id string, until string) (Institution, error) {
	return s.changeInstitution(ctx, actor, id, "institution.renew", map[string]any{"until": until}, func(in *Institution) ([]SigningKey, error) {
		end := in.ValidUntil.AddDate(RegistrationYears, 0, 0)
		if until != "" {
			d, ok := parseDate(until)
			if !ok {
				return nil, Errorf(ErrInvalid, "date_format", "日期“%s”应为YYYY-MM-DD", "date %q must be YYYY-MM-DD", until)
			}
			end = d
		}
		if !end.After(in.ValidUntil) {
			return nil, Errorf(ErrInvalid, "renew_earlier", "新的截止日期应晚于当前截止日期%s", "the new end date must be after the current one, %s", in.ValidUntil.Format(DateLayout))
		}
		in.ValidUntil = end
		return nil, nil
	})
}

// UpdateInstitution replaces the registration details (name, scope, fees,
// validity, contact) from a spec; status and keys are kept.
func (s *Service) UpdateInstitution(ctx context.Context, actor Actor, spec InstitutionSpec) (Institution, error) {
	next, err := s.buildInstitution(ctx, spec)
	if err != nil {
		return Institution{}, err
	}
	return s.changeInstitution(ctx, actor, spec.ID, "institution.update", map[string]any{"name": next.Name, "scope": len(next.Scope)}, func(in *Institution) ([]SigningKey, error) {
		if next.Prefix != in.Prefix {
			return nil, Errorf(ErrInvalid, "prefix_change", "证书编号前缀不能修改", "the certificate prefix cannot change")
		}
		// What the spec does not carry stays: status and keys are changed
		// by their own commands, print settings by the college, and fees
		// only when the spec lists some.
		next.Version, next.Status, next.Keys, next.Print = in.Version, in.Status, in.Keys, in.Print
		if len(spec.Fees) == 0 {
			next.Fees = in.Fees
		}
		*in = next
		return nil, nil
	})
}

// RotateKey retires the institution's current signing key and makes a new
// one. The retired public key stays in every later registration version
// with its signing window, so certificates it signed keep verifying.
func (s *Service) RotateKey(ctx context.Context, actor Actor, id string) (Institution, error) {
	return s.changeInstitution(ctx, actor, id, "institution.key_rotate", map[string]any{}, func(in *Institution) ([]SigningKey, error) {
		now := s.now()
		old, err := s.store.SigningKeys(ctx, id)
		if err != nil {
			return nil, err
		}
		var out []SigningKey
		for i := range in.Keys {
			if in.Keys[i].NotAfter.IsZero() {
				in.Keys[i].NotAfter = now
			}
		}
		for _, k := range old {
			if k.RetiredAt.IsZero() {
				k.RetiredAt = now
				out = append(out, k)
			}
		}
		pub, priv, err := keys.Generate()
		if err != nil {
			return nil, err
		}
		kid := credential.KID(pub)
		sealed, err := s.KEK.Seal(priv, purposeInstitution, kid)
		if err != nil {
			return nil, err
		}
		in.Keys = append(in.Keys, InstitutionKey{KID: kid, PublicKey: pub, NotBefore: now})
		return append(out, SigningKey{InstitutionID: id, KID: kid, PublicKey: pub, Sealed: sealed, CreatedAt: now}), nil
	})
}

// signingKey opens the institution's current private key.
func (s *Service) signingKey(ctx context.Context, in Institution) (InstitutionKey, ed25519.PrivateKey, error) {
	ks, err := s.store.SigningKeys(ctx, in.ID)
	if err != nil {
		return InstitutionKey{}, nil, err
	}
	now := s.now()
	pub, ok := in.KeyAt(now)
	if !ok {
		return pub, nil, Errorf(ErrConflict, "no_key", "机构没有当前有效的签名密钥", "the institution has no current signing key")
	}
	for _, k := range ks {
		if k.KID == pub.KID {
			priv, err := s.KEK.Open(k.Sealed, purposeInstitution, k.KID)
			if err != nil {
				return pub, nil, &Error{Kind: ErrUnavailable, Code: "wrong_kek", Zh: "无法解开机构签名私钥：密钥加密密钥（KEK）不正确", En: "cannot open the institution's signing key: wrong key-encryption key", Err: err}
			}
			return pub, priv, nil
		}
	}
	return pub, nil, Errorf(ErrConflict, "no_key", "找不到机构当前签名密钥", "the institution's current signing key is missing")
}

// ImportCatalogue adds or corrects catalogue entries.
func (s *Service) ImportCatalogue(ctx context.Context, actor Actor, raw []byte) (int, error) {
	if err := actor.mayAdminister(); err != nil {
		return 0, err
	}
	occ, err := occupation.Parse(raw)
	if err != nil {
		return 0, Errorf(ErrInvalid, "catalogue_invalid", "职业目录文件有误：%v", "catalogue file is invalid: %v", err)
	}
	codes := make([]string, len(occ))
	for i, o := range occ {
		codes[i] = o.Code
	}
	detail, _ := json.Marshal(map[string]any{"codes": codes})
	ev := s.event(actor, "catalogue.import", "", "catalogue", nil)
	ev.Detail = string(detail)
	return len(occ), s.store.PutOccupations(ctx, occ, ev)
}

// Occupations returns the occupation catalogue, ordered by code. It is
// public (the verification pages name occupations from it), so it takes no
// actor.
func (s *Service) Occupations(ctx context.Context) ([]occupation.Occupation, error) {
	return s.store.Occupations(ctx)
}

func (s *Service) catalogue(ctx context.Context) (occupation.Catalogue, error) {
	occ, err := s.store.Occupations(ctx)
	if err != nil {
		return nil, err
	}
	cat := make(occupation.Catalogue, len(occ))
	for _, o := range occ {
		cat[o.Code] = o
	}
	return cat, nil
}

// TrustBundle exports the authority key and every registration version.
func (s *Service) TrustBundle(ctx context.Context) (credential.TrustBundle, error) {
	a, err := s.store.Authority(ctx)
	if err != nil {
		return credential.TrustBundle{}, err
	}
	tb := credential.TrustBundle{Format: credential.TrustFormat, GeneratedAt: s.now(), LogPolicy: s.LogPolicy,
		Authority: credential.Authority{ID: credential.AuthorityID, Name: a.Name, JWK: credential.NewJWK(a.PublicKey)}}
	all, err := s.store.Institutions(ctx)
	if err != nil {
		return tb, err
	}
	for _, in := range all {
		vs, err := s.store.InstitutionVersions(ctx, in.ID)
		if err != nil {
			return tb, err
		}
		for _, v := range vs {
			tb.Registrations = append(tb.Registrations, v.Token)
		}
	}
	return tb, nil
}

// CheckKEK reports whether the service's key-encryption key opens the
// authority's key and the current signing key of every institution that
// has one. After a restore it tells a KEK that belongs to the backed-up
// deployment from one that does not: with the wrong one certd still
// verifies everything but cannot sign anything.
func (s *Service) CheckKEK(ctx context.Context) error {
	if _, _, err := s.authorityKey(ctx); err != nil {
		return err
	}
	ins, err := s.store.Institutions(ctx)
	if err != nil {
		return err
	}
	for _, in := range ins {
		if _, _, err := s.signingKey(ctx, in); err != nil && !Is(err, ErrConflict) {
			return err
		}
	}
	return nil
}

// PreviewUpdate checks spec as UpdateInstitution would and returns the
// version in force and what it would become, storing nothing: for a
// confirmation that shows the change before it is signed.
func (s *Service) PreviewUpdate(ctx context.Context, actor Actor, spec InstitutionSpec) (Institution, Institution, error) {
	if err := actor.mayAdminister(); err != nil {
		return Institution{}, Institution{}, err
	}
	cur, err := s.store.Institution(ctx, spec.ID)
	if err != nil {
		return Institution{}, Institution{}, notFoundInstitution(err, spec.ID)
	}
	next, err := s.buildInstitution(ctx, spec)
	if err != nil {
		return cur, Institution{}, err
	}
	if next.Prefix != cur.Prefix {
		return cur, Institution{}, Errorf(ErrInvalid, "prefix_change", "证书编号前缀不能修改", "the certificate prefix cannot change")
	}
	return cur, next, nil
}

// PreviewRegistration checks spec as AddInstitution would, storing nothing
// and making no key: for the confirmation before a registration.
func (s *Service) PreviewRegistration(ctx context.Context, actor Actor, spec InstitutionSpec) (Institution, error) {
	if err := actor.mayAdminister(); err != nil {
		return Institution{}, err
	}
	return s.buildNew(ctx, spec)
}

// buildNew checks a new registration: every problem of the spec, and in the
// same list an id or certificate prefix another institution already has,
// so that one submission shows them all.
func (s *Service) buildNew(ctx context.Context, spec InstitutionSpec) (Institution, error) {
	in, fe, err := s.build(ctx, spec)
	if err != nil {
		return in, err
	}
	all, err := s.store.Institutions(ctx)
	if err != nil {
		return in, err
	}
	for _, o := range all {
		if in.ID != "" && o.ID == in.ID {
			fe.addTo("id", "机构标识“%s”已由“%s”使用，请另取一个", "the id %q is already used by %s; choose another", in.ID, o.Name)
			fe.conflicts++
		}
		if in.Prefix != "" && o.Prefix == in.Prefix {
			fe.addTo("prefix", "证书编号前缀%s已由“%s”使用：每个机构的前缀不同，请与备案通知核对", "the certificate prefix %s is already used by %s: each college has its own; compare it with the registration notice", in.Prefix, o.Name)
			fe.conflicts++
		}
	}
	return in, fe.err("institution_invalid")
}
