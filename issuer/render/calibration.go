package render

import (
	"bytes"
	"fmt"
	"time"
)

// CalibrationPage prints a ruler sheet for the active layout: millimetre
// scales along the edges, crosshairs at known positions and a dashed box
// with the field name wherever the layout prints something, all shifted by
// the configured offsets. Laid over a sheet of preprinted stock against a
// window, it shows how far OffsetX/OffsetY must move the print.
func (r *Renderer) CalibrationPage() (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, newError(ErrRender, "校准页生成时发生内部错误", fmt.Sprintf("calibration page panicked: %v", p), nil)
		}
	}()
	l := r.layout
	title := "套打校准页 Calibration page"
	info := fmt.Sprintf("版式 layout=%s  偏移 offset X=%+.1f mm  Y=%+.1f mm", r.cfg.Layout, r.cfg.OffsetX, r.cfg.OffsetY)
	hint := "将本页与预印证书纸重叠透光比对，调整偏移量使虚线框对准预印位置。Overlay on preprinted stock; adjust offsets until boxes match."
	texts := []string{title, info, hint}
	for _, e := range l.Elements {
		texts = append(texts, e.Kind+" "+e.Key)
	}
	pdf, err := r.docFor(texts)
	if err != nil {
		return nil, err
	}
	pdf.SetCreationDate(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	pdf.SetModificationDate(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	pdf.SetTitle(title, true)
	pdf.AddPage()
	black := [3]int{0, 0, 0}
	pdf.SetDrawColor(0, 0, 0)
	// Rulers are drawn without offset: they measure the paper itself.
	for mm := 0; mm <= int(l.PageW); mm++ {
		tick := 2.0
		if mm%10 == 0 {
			tick = 6
		} else if mm%5 == 0 {
			tick = 4
		}
		pdf.SetLineWidth(0.1)
		pdf.Line(float64(mm), 0, float64(mm), tick)
		if mm%10 == 0 && mm > 0 && mm < int(l.PageW) {
			if err := r.drawText(pdf, float64(mm)+0.5, 9, 6, fmt.Sprint(mm), black); err != nil {
				return nil, err
			}
		}
	}
	for mm := 0; mm <= int(l.PageH); mm++ {
		tick := 2.0
		if mm%10 == 0 {
			tick = 6
		} else if mm%5 == 0 {
			tick = 4
		}
		pdf.Line(0, float64(mm), tick, float64(mm))
		if mm%10 == 0 && mm > 0 && mm < int(l.PageH) {
			if err := r.drawText(pdf, 7, float64(mm)+1, 6, fmt.Sprint(mm), black); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range [][2]float64{{20, 20}, {l.PageW - 20, 20}, {20, l.PageH - 20}, {l.PageW - 20, l.PageH - 20}} {
		x, y := r.tx(p[0]), r.ty(p[1])
		pdf.SetLineWidth(0.2)
		pdf.Line(x-5, y, x+5, y)
		pdf.Line(x, y-5, x, y+5)
		pdf.Circle(x, y, 2, "D")
	}
	if err := r.drawText(pdf, 30, 40, 16, title, black); err != nil {
		return nil, err
	}
	if err := r.drawText(pdf, 30, 48, 10, info, black); err != nil {
		return nil, err
	}
	for i, ln := range r.wrap(hint, 150, 8, 0) {
		if err := r.drawText(pdf, 30, 54+float64(i)*4, 8, ln, black); err != nil {
			return nil, err
		}
	}
	pdf.SetDashPattern([]float64{1, 1}, 0)
	pdf.SetDrawColor(200, 0, 0)
	red := [3]int{200, 0, 0}
	for _, e := range l.Elements {
		x, y, w, h := r.tx(e.X), r.ty(e.Y), e.W, e.H
		if e.Kind == "field" || e.Kind == "text" || e.Kind == "paragraph" {
			// Box from cap height to descender around the baseline.
			h = e.Size * ptToMM * 1.2
			y -= e.Size * ptToMM * 0.9
		}
		if e.Kind == "seal" {
			x, y, h = x-w/2, y-w/2, w
		}
		if w <= 0 || h <= 0 {
			continue
		}
		pdf.Rect(x, y, w, h, "D")
		if err := r.drawText(pdf, x+0.5, y+2.5, 6, e.Kind+" "+e.Key, red); err != nil {
			return nil, err
		}
	}
	pdf.SetDashPattern(nil, 0)
	if err := pdf.Error(); err != nil {
		return nil, newError(ErrRender, "校准页生成失败", "calibration page failed", err)
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, newError(ErrRender, "校准页生成失败", "calibration page failed", err)
	}
	return buf.Bytes(), nil
}
