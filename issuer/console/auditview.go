package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/xuri/excelize/v2"

	"certd/issuer"
	"certd/issuer/account"
	"certd/issuer/occupation"
)

// The audit log as people read it: newest first, each line a sentence in
// the reader's language ("撤销证书 Y…（原因：证书信息有误或误发；备注：…）")
// rather than an action code and a JSON object, with the raw record one
// click away for whoever needs it.

// auditRow is one event with its description.
type auditRow struct {
	issuer.AuditEvent
	Label string // the action in words
	Facts string // the details in words, "原因：…；备注：…"
	Text  string // the whole sentence: label, subject and facts
}

// detailNames name the detail keys certd writes, in display order.
var detailNames = []struct{ key, zh, en string }{
	{"reason", "原因", "reason"}, {"note", "备注", "note"}, {"supersedes", "更正的原证书", "corrects"},
	{"occupation", "职业", "occupation"}, {"level", "等级", "level"}, {"batch", "批次", "batch"},
	{"status", "状态", "status"}, {"until", "有效期至", "valid until"}, {"name", "名称", "name"},
	{"prefix", "编号前缀", "prefix"}, {"scope", "认定范围条目", "scope lines"}, {"version", "备案版本", "version"},
	{"lines", "收费项目", "fee lines"}, {"layout", "版式", "layout"}, {"role", "角色", "role"},
	{"display_name", "姓名", "person"}, {"user", "账号", "account"}, {"label", "令牌名称", "label"},
	{"scopes", "权限范围", "scopes"}, {"rows", "行数", "rows"}, {"entries", "条目数", "entries"},
	{"codes", "职业数", "occupations"}, {"minutes", "锁定分钟", "minutes locked"},
	{"second_factor", "两步验证", "second factor"}, {"locked", "账号锁定中", "while locked"},
	{"disabled", "账号已停用", "while disabled"}, {"client", "来源地址", "from"},
	{"changes", "更正内容", "changes"},
	{"added", "新增", "added"}, {"updated", "更新", "updated"}, {"kind", "类型", "kind"}, {"city", "市州", "city"},
	{"code", "官方代码", "official code"}, {"institution", "备案机构", "registered institution"},
}

// changeFields names the fields a correction's "changes" detail records.
var changeFields = map[string][2]string{
	"name": {"姓名", "name"}, "doc_type": {"证件类型", "document type"}, "doc_number": {"证件号码", "document number"},
	"student_no": {"学号", "student no."}, "major": {"专业", "major"}, "occupation": {"职业", "occupation"},
	"specialty": {"工种", "工种"}, "level": {"等级", "level"}, "assessed_on": {"考核日期", "assessed"}, "issued_on": {"发证日期", "issued"},
}

// changesText words a correction's changes: 姓名 张三→张叁, …
func changesText(m map[string]any, en bool) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		name := k
		if l, ok := changeFields[k]; ok {
			name = l[0]
			if en {
				name = l[1]
			}
		}
		pair, _ := m[k].([]any)
		if len(pair) == 2 {
			parts = append(parts, fmt.Sprintf("%s %v→%v", name, pair[0], pair[1]))
		}
	}
	if en {
		return strings.Join(parts, ", ")
	}
	return strings.Join(parts, "，")
}

var institutionStatusZh = map[string][2]string{
	"active": {"正常", "active"}, "suspended": {"暂停", "suspended"}, "withdrawn": {"撤销备案", "withdrawn"},
}

// describe turns an event into a sentence. Keys it does not know are shown
// as they are, so nothing recorded is hidden.
func describe(ev issuer.AuditEvent, en bool) auditRow {
	r := auditRow{AuditEvent: ev}
	if l, ok := actionLabels[ev.Action]; ok {
		r.Label = l[0]
		if en {
			r.Label = l[1]
		}
	} else {
		r.Label = ev.Action
	}
	var d map[string]any
	_ = json.Unmarshal([]byte(ev.Detail), &d)
	var parts []string
	seen := map[string]bool{}
	for _, k := range detailNames {
		v, ok := d[k.key]
		if !ok {
			continue
		}
		seen[k.key] = true
		name := k.zh
		if en {
			name = k.en
		}
		if s := detailValue(k.key, v, en); s != "" {
			if b, isBool := v.(bool); isBool && b {
				parts = append(parts, name)
			} else {
				parts = append(parts, name+sep(en)+s)
			}
		}
	}
	var rest []string
	for k := range d {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		parts = append(parts, k+sep(en)+detailValue(k, d[k], en))
	}
	r.Text = r.Label
	if ev.Subject != "" {
		r.Text += " " + ev.Subject
	}
	if len(parts) > 0 {
		if en {
			r.Facts = strings.Join(parts, "; ")
			r.Text += " (" + r.Facts + ")"
		} else {
			r.Facts = strings.Join(parts, "；")
			r.Text += "（" + r.Facts + "）"
		}
	}
	return r
}

func sep(en bool) string {
	if en {
		return ": "
	}
	return "："
}

func detailValue(key string, v any, en bool) string {
	pick := func(p [2]string) string {
		if en {
			return p[1]
		}
		return p[0]
	}
	switch x := v.(type) {
	case string:
		switch key {
		case "reason":
			r := issuer.RevocationReason(x)
			if r.Valid() {
				if en {
					return r.English()
				}
				return r.Chinese()
			}
		case "status":
			if p, ok := institutionStatusZh[x]; ok {
				return pick(p)
			}
		case "role":
			if r := account.Role(x); r.Valid() {
				if en {
					return r.English()
				}
				return r.Chinese()
			}
		case "layout":
			return pick(map[string][2]string{"full": {"整张打印", "whole certificate"}, "preprinted": {"套打", "pre-printed stock"}}[x])
		case "second_factor":
			return "TOTP"
		}
		return x
	case float64:
		if key == "level" {
			if l := occupation.Level(x); l.Valid() {
				if en {
					return l.English()
				}
				return l.Chinese()
			}
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return pick([2]string{"是", "yes"})
		}
		return ""
	case []any:
		if key == "codes" {
			return strconv.Itoa(len(x))
		}
		var ss []string
		for _, e := range x {
			ss = append(ss, fmt.Sprint(e))
		}
		return strings.Join(ss, ", ")
	case map[string]any:
		if key == "changes" {
			return changesText(x, en)
		}
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// actionChoice is one option of the action filter.
type actionChoice struct{ Code, Label string }

func actionChoices(en bool) []actionChoice {
	var out []actionChoice
	for code, l := range actionLabels {
		lab := l[0]
		if en {
			lab = l[1]
		}
		out = append(out, actionChoice{code, lab})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

type auditData struct {
	Rows                                []auditRow
	Institution, Action, Subject, Actor string
	From, Until                         string
	Actions                             []actionChoice
	Next                                int64
	Province                            bool
	Query                               string // the filters, for the export link and the next page
	Err                                 *formErr
}

// auditFilter reads the page's filters. Dates are days in China Standard
// Time, both ends included.
func (c *Console) auditFilter(fc *fiber.Ctx, rc *reqCtx) (auditData, issuer.AuditFilter, error) {
	d := auditData{Institution: strings.TrimSpace(fc.Query("institution")), Action: strings.TrimSpace(fc.Query("action")), Subject: strings.TrimSpace(fc.Query("subject")),
		Actor: strings.ToLower(strings.TrimSpace(fc.Query("actor"))), From: strings.TrimSpace(fc.Query("from")), Until: strings.TrimSpace(fc.Query("until")),
		Province: rc.user.Authority(), Actions: actionChoices(rc.en)}
	f := issuer.AuditFilter{InstitutionID: d.Institution, Action: d.Action, Subject: d.Subject, Actor: d.Actor, Newest: true}
	for _, v := range []string{d.Institution, d.Action, d.Subject, d.Actor, d.From, d.Until} {
		if len(v) > 64 {
			return d, f, errf(issuer.ErrInvalid, "filter_long", "查询条件过长", "a filter is too long")
		}
	}
	var zh, en []string
	day := func(s, zhName, enName string) time.Time {
		if s == "" {
			return time.Time{}
		}
		t, err := time.ParseInLocation(issuer.DateLayout, s, issuer.ChinaTime)
		if err != nil {
			zh, en = append(zh, zhName+"应为日期（如 2026-05-01）"), append(en, enName+" must be a date such as 2026-05-01")
		}
		return t
	}
	if f.From = day(d.From, "开始日期", "the start date"); !f.From.IsZero() {
		f.From = f.From.UTC()
	}
	if u := day(d.Until, "结束日期", "the end date"); !u.IsZero() {
		f.Until = u.AddDate(0, 0, 1).UTC()
	}
	if !f.From.IsZero() && !f.Until.IsZero() && !f.From.Before(f.Until) {
		zh, en = append(zh, "开始日期晚于结束日期"), append(en, "the start date is after the end date")
	}
	if len(zh) > 0 {
		return d, f, &issuer.Error{Kind: issuer.ErrInvalid, Code: "filter_invalid", Zh: "查询条件有误：" + strings.Join(zh, "；"), En: "the filters are invalid: " + strings.Join(en, "; ")}
	}
	var qs []string
	for _, kv := range [][2]string{{"institution", d.Institution}, {"action", d.Action}, {"subject", d.Subject}, {"actor", d.Actor}, {"from", d.From}, {"until", d.Until}} {
		if kv[1] != "" {
			qs = append(qs, kv[0]+"="+url.QueryEscape(kv[1]))
		}
	}
	d.Query = strings.Join(qs, "&")
	return d, f, nil
}

const auditPageSize = 100

func (c *Console) auditPage(fc *fiber.Ctx, rc *reqCtx) error {
	d, f, err := c.auditFilter(fc, rc)
	if err != nil {
		d.Err = c.formError(err)
		_, _, status := c.userError(err)
		return c.renderStatus(fc, rc, status, "audit", d)
	}
	f.BeforeSeq, _ = strconv.ParseInt(fc.Query("before"), 10, 64)
	f.Limit = auditPageSize
	evs, err := c.svc.Audit(fc.UserContext(), rc.actor, f)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	for _, ev := range evs {
		d.Rows = append(d.Rows, describe(ev, rc.en))
	}
	if len(evs) == f.Limit {
		d.Next = evs[len(evs)-1].Seq
	}
	return c.render(fc, rc, "audit", d)
}

// auditExportMax bounds one export; narrower dates give the rest.
const auditExportMax = 50000

// auditExport writes the filtered log, newest first, as a workbook: the
// time in China Standard Time, who, the action in words and as its code,
// the college, the subject, the description and the raw detail.
func (c *Console) auditExport(fc *fiber.Ctx, rc *reqCtx) error {
	_, f, err := c.auditFilter(fc, rc)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	x := excelize.NewFile()
	defer x.Close()
	sheet := "审计日志"
	if err := x.SetSheetName("Sheet1", sheet); err != nil {
		return c.fail(fc, rc, err)
	}
	widths := []float64{8, 20, 18, 16, 22, 14, 26, 70, 40}
	for i, w := range widths {
		col, _ := excelize.ColumnNumberToName(i + 1)
		_ = x.SetColWidth(sheet, col, col, w)
	}
	sw, err := x.NewStreamWriter(sheet)
	if err != nil {
		return c.fail(fc, rc, err)
	}
	_ = sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"})
	header := []any{"序号 Seq", "时间（北京时间）Time (CST)", "操作人 Who", "操作 Action", "操作代码 Code", "院校 College", "对象 Subject", "说明 Description", "原始记录 Detail"}
	if err := sw.SetRow("A1", header); err != nil {
		return c.fail(fc, rc, err)
	}
	row, n := 2, 0
	f.Limit = 1000
	for n < auditExportMax {
		evs, err := c.svc.Audit(fc.UserContext(), rc.actor, f)
		if err != nil {
			return c.fail(fc, rc, err)
		}
		for _, ev := range evs {
			r := describe(ev, rc.en)
			cell, _ := excelize.CoordinatesToCellName(1, row)
			// Every text cell is written as a string: a subject or note
			// starting with "=" must not become a formula.
			if err := sw.SetRow(cell, []any{ev.Seq, ev.At.In(issuer.ChinaTime).Format("2006-01-02 15:04:05"), textCell(ev.Actor), textCell(r.Label), ev.Action,
				textCell(ev.InstitutionID), textCell(ev.Subject), textCell(r.Text), textCell(ev.Detail)}); err != nil {
				return c.fail(fc, rc, err)
			}
			row++
			n++
		}
		if len(evs) < f.Limit {
			break
		}
		f.BeforeSeq = evs[len(evs)-1].Seq
	}
	if err := sw.Flush(); err != nil {
		return c.fail(fc, rc, err)
	}
	if err := x.AutoFilter(sheet, fmt.Sprintf("A1:I%d", max(row-1, 1)), nil); err != nil {
		return c.fail(fc, rc, err)
	}
	var buf bytes.Buffer
	if err := x.Write(&buf); err != nil {
		return c.fail(fc, rc, err)
	}
	c.audit(fc, rc, "audit.export", rc.user.InstitutionID, "xlsx", map[string]any{"rows": n})
	fc.Set(fiber.HeaderContentType, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	fc.Set(fiber.HeaderContentDisposition, `attachment; filename="audit-`+c.now().In(issuer.ChinaTime).Format("20060102")+`.xlsx"`)
	return fc.Send(buf.Bytes())
}

// textCell keeps a value a string cell whatever it starts with.
func textCell(s string) excelize.Cell { return excelize.Cell{Value: s} }
