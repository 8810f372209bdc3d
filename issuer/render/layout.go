package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"certd/assets"
)

// Layout is the parsed template JSON (assets/render/full.json,
// preprinted.json). Geometry is in millimetres from the top-left corner of
// the page, font sizes in points. For text, Y is the baseline.
type Layout struct {
	Mode       string    `json:"mode"` // "full" or "preprinted"
	PageW      float64   `json:"pageW"`
	PageH      float64   `json:"pageH"`
	Color      [3]int    `json:"color"`
	LabelColor [3]int    `json:"labelColor"`
	EnColor    [3]int    `json:"enColor"`
	Elements   []Element `json:"elements"`
}

// Element is one thing drawn on the page.
//
//	rect      frame X,Y,W,H with LineWidth and Color
//	text      static Text in the box X..X+W at baseline Y; En under it
//	field     Label (+LabelEn) at X, the value of Key at X+LabelW, within W
//	paragraph Text with {placeholders}, wrapped to W; En paragraph after it
//	photo     1-inch frame X,Y,W,H; the photo is fitted inside
//	qr        square symbol at X,Y with side W (quiet zone included)
//	seal      image centred on X,Y, W wide
type Element struct {
	Kind       string  `json:"kind"`
	Key        string  `json:"key,omitempty"`
	Text       string  `json:"text,omitempty"`
	En         string  `json:"en,omitempty"`
	Label      string  `json:"label,omitempty"`
	LabelEn    string  `json:"labelEn,omitempty"`
	X          float64 `json:"x"`
	Y          float64 `json:"y"`
	W          float64 `json:"w,omitempty"`
	H          float64 `json:"h,omitempty"`
	LabelW     float64 `json:"labelW,omitempty"`
	Size       float64 `json:"size,omitempty"`
	MinSize    float64 `json:"minSize,omitempty"`
	LabelSize  float64 `json:"labelSize,omitempty"`
	EnSize     float64 `json:"enSize,omitempty"`
	EnDY       float64 `json:"enDY,omitempty"`
	LineHeight float64 `json:"lineHeight,omitempty"`
	Indent     float64 `json:"indent,omitempty"` // first-line indent in em
	MaxLines   int     `json:"maxLines,omitempty"`
	Align      string  `json:"align,omitempty"` // L, C, R
	LineWidth  float64 `json:"lineWidth,omitempty"`
	Color      *[3]int `json:"color,omitempty"`
}

// Field keys a template may print.
var fieldKeys = map[string]bool{
	"name": true, "docType": true, "docNumber": true, "occupation": true,
	"specialty": true, "level": true, "number": true, "institution": true,
	"issuedOn": true, "verifyCode": true, "verifyURL": true,
}

// What 人社鉴发〔2021〕1号 requires on every certificate. A college's
// override of the full layout is rejected if it drops any of it.
var (
	mandatoryFields = []string{"name", "docType", "docNumber", "occupation", "specialty", "level", "number", "institution", "issuedOn"}
	mandatoryTexts  = []string{"职业技能等级证书", "http://jndj.osta.org.cn", "http://pjjg.osta.org.cn"}
)

const (
	// Title text mandated verbatim by 人社鉴发〔2021〕1号.
	certTitle = "职业技能等级证书"
	// Below this the QR no longer scans reliably from a phone at arm's length.
	minQRSize = 25.0
)

func embeddedLayout(name string) ([]byte, error) {
	return assets.Render.ReadFile("render/" + name + ".json")
}

func parseLayout(b []byte, wantMode string) (*Layout, error) {
	bad := func(zh, en string, cause error) error {
		return newError(ErrTemplate, "版式模板无效："+zh, "invalid layout template: "+en, cause)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var l Layout
	if err := dec.Decode(&l); err != nil {
		return nil, bad("JSON 解析失败", "cannot parse JSON", err)
	}
	if l.Mode != wantMode {
		return nil, bad(fmt.Sprintf("模式为 %q，应为 %q", l.Mode, wantMode), fmt.Sprintf("mode is %q, want %q", l.Mode, wantMode), nil)
	}
	if l.PageW < 50 || l.PageH < 50 || l.PageW > 1000 || l.PageH > 1000 {
		return nil, bad("页面尺寸不合理", "unreasonable page size", nil)
	}
	fields := map[string]bool{}
	var texts []string
	var hasQR, hasPhoto bool
	for i := range l.Elements {
		e := &l.Elements[i]
		where := fmt.Sprintf("#%d (%s %s)", i, e.Kind, e.Key)
		fail := func(zh, en string) error { return bad("元素 "+where+" "+zh, "element "+where+" "+en, nil) }
		if e.X < 0 || e.Y < 0 || e.X+e.W > l.PageW || e.Y+e.H > l.PageH || e.W < 0 || e.H < 0 {
			return nil, fail("超出页面", "lies outside the page")
		}
		if e.Size == 0 {
			e.Size = 12 // 小四号, the size the 2021 notice prescribes for filled-in text
		}
		if e.MinSize == 0 || e.MinSize > e.Size {
			e.MinSize = e.Size
		}
		if e.LabelSize == 0 {
			e.LabelSize = e.Size
		}
		if e.EnSize == 0 {
			e.EnSize = 7
		}
		if e.EnDY == 0 {
			e.EnDY = 4.2
		}
		if e.Align == "" {
			e.Align = "L"
		}
		if e.Size < 3 || e.Size > 96 || e.MinSize < 3 {
			return nil, fail("字号不合理", "has an unreasonable font size")
		}
		if !strings.Contains("LCR", e.Align) || len(e.Align) != 1 {
			return nil, fail("对齐方式应为 L/C/R", "align must be L, C or R")
		}
		switch e.Kind {
		case "rect":
			if e.W <= 0 || e.H <= 0 {
				return nil, fail("缺少宽高", "needs w and h")
			}
		case "text":
			if e.Text == "" || e.W <= 0 {
				return nil, fail("缺少文字或宽度", "needs text and w")
			}
			texts = append(texts, e.Text)
		case "field":
			if !fieldKeys[e.Key] {
				return nil, fail("字段名未知", "has an unknown key")
			}
			if e.W <= e.LabelW {
				return nil, fail("宽度必须大于标签宽度", "needs w > labelW")
			}
			fields[e.Key] = true
		case "paragraph":
			if e.Text == "" || e.W <= 0 {
				return nil, fail("缺少文字或宽度", "needs text and w")
			}
			if e.LineHeight == 0 {
				e.LineHeight = e.Size * ptToMM * 1.6
			}
		case "photo":
			if e.W <= 0 || e.H <= 0 {
				return nil, fail("缺少宽高", "needs w and h")
			}
			hasPhoto = true
		case "qr":
			if e.W < minQRSize {
				return nil, fail(fmt.Sprintf("二维码宽度至少 %.0f 毫米", minQRSize), fmt.Sprintf("QR must be at least %.0f mm wide", minQRSize))
			}
			e.H = e.W
			if e.X+e.W > l.PageW || e.Y+e.H > l.PageH {
				return nil, fail("超出页面", "lies outside the page")
			}
			hasQR = true
		case "seal":
			if e.W <= 0 {
				return nil, fail("缺少宽度", "needs w")
			}
		default:
			return nil, fail("类型未知", "has an unknown kind")
		}
	}
	if !hasQR {
		return nil, bad("缺少二维码", "has no qr element", nil)
	}
	required := mandatoryFields
	if l.Mode == "full" {
		all := strings.Join(texts, "\n")
		for _, t := range mandatoryTexts {
			if !strings.Contains(all, t) {
				return nil, bad("缺少必印内容 "+t, "lacks mandatory text "+t, nil)
			}
		}
		if !hasPhoto {
			return nil, bad("缺少持证人照片框", "has no photo frame", nil)
		}
		title := false
		for _, t := range texts {
			title = title || t == certTitle
		}
		if !title {
			return nil, bad("证书名称必须为「职业技能等级证书」", "title must be exactly 职业技能等级证书", nil)
		}
	}
	for _, k := range required {
		if !fields[k] {
			return nil, bad("缺少必印字段 "+k, "lacks mandatory field "+k, nil)
		}
	}
	return &l, nil
}

// staticText is every fixed string of the layout, which goes into every
// font subset.
func (l *Layout) staticText(english bool) string {
	var sb strings.Builder
	for _, e := range l.Elements {
		sb.WriteString(e.Text)
		sb.WriteString(e.Label)
		if english {
			sb.WriteString(e.En)
			sb.WriteString(e.LabelEn)
		}
	}
	return sb.String()
}
