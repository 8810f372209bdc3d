package render

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"

	_ "image/jpeg" // photos and seals may be JPEG

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// MaxPreviewScale bounds a preview's resolution (pixels per millimetre):
// an A4 page at 6 px/mm is 1260×1782 pixels, 9 MB of RGBA while it is drawn.
const MaxPreviewScale = 6

// PreviewPNG draws c as a PNG image, scale pixels a millimetre, from the
// same layout, fonts and measures the PDF uses: rules, texts, fields,
// paragraphs, the photo frame, the QR code and the seal, which is
// multiplied over what lies under it as in the PDF. It is a picture of the
// page for a browser to show (a seal before it is saved), not the
// certificate: no signed record, no text to copy, no offsets.
func (r *Renderer) PreviewPNG(c Certificate, scale float64) ([]byte, error) {
	scale = math.Max(1, math.Min(scale, MaxPreviewScale))
	p, err := r.prepare(c, false)
	if err != nil {
		return nil, err
	}
	l := r.layout
	img := image.NewRGBA(image.Rect(0, 0, int(l.PageW*scale), int(l.PageH*scale)))
	xdraw.Draw(img, img.Bounds(), image.White, image.Point{}, xdraw.Src)
	pv := &previewer{r: r, img: img, k: scale, faces: map[previewFaceKey]font.Face{}}
	defer pv.close()
	v := values(&p.c)
	var seals []*Element
	for i := range l.Elements {
		e := &l.Elements[i]
		switch e.Kind {
		case "rect":
			pv.rect(e.X, e.Y, e.W, e.H, math.Max(e.LineWidth, 0.1), colorOr(e.Color, l.Color))
		case "text":
			size, _ := r.fit(e.Text, e.W, e.Size, e.MinSize)
			pv.text(r.aligned(e, e.X, e.W, e.Text, size), e.Y, size, e.Text, colorOr(e.Color, l.Color))
			if r.cfg.English && e.En != "" {
				es, _ := r.fit(e.En, e.W, e.EnSize, 4)
				pv.text(r.aligned(e, e.X, e.W, e.En, es), e.Y+e.EnDY, es, e.En, l.EnColor)
			}
		case "field":
			if e.Label != "" {
				pv.text(e.X, e.Y, e.LabelSize, e.Label, l.LabelColor)
			}
			val, x, w := v[e.Key], e.X+e.LabelW, e.W-e.LabelW
			if size, ok := r.fit(val, w, e.Size, e.MinSize); ok {
				pv.text(r.aligned(e, x, w, val, size), e.Y, size, val, colorOr(e.Color, l.Color))
			} else if lines, size, ok := r.fitLines(val, w, e, 0); ok {
				lh := e.LineHeight
				if lh == 0 {
					lh = size * ptToMM * 1.3
				}
				for i, ln := range lines {
					pv.text(r.aligned(e, x, w, ln, size), e.Y+float64(i)*lh, size, ln, colorOr(e.Color, l.Color))
				}
			}
		case "paragraph":
			text := expand(e.Text, v, &p.c)
			if lines, size, ok := r.fitLines(text, e.W, e, e.Indent); ok {
				y, lh := e.Y, e.LineHeight*size/e.Size
				for i, ln := range lines {
					x := e.X
					if i == 0 {
						x += e.Indent * size * ptToMM
					}
					pv.text(x, y, size, ln, colorOr(e.Color, l.Color))
					y += lh
				}
			}
		case "photo":
			if p.photo != nil {
				if ph, err := decodeNorm(p.photo); err == nil {
					pv.image(ph, e.X, e.Y, e.W, e.H, false)
				}
			}
			pv.rect(e.X, e.Y, e.W, e.H, 0.3, [3]int{120, 120, 120})
		case "qr":
			n := float64(len(p.qr))
			for y, row := range p.qr {
				for x, dark := range row {
					if dark {
						pv.fill(e.X+float64(x)*e.W/n, e.Y+float64(y)*e.W/n, e.W/n, e.W/n, [3]int{0, 0, 0})
					}
				}
			}
		case "seal":
			seals = append(seals, e)
		}
	}
	if p.seal != nil {
		seal, err := decodeNorm(p.seal)
		if err != nil {
			return nil, err
		}
		for _, e := range seals {
			w := e.W
			h := w * float64(seal.Bounds().Dy()) / float64(seal.Bounds().Dx())
			pv.image(seal, e.X-w/2, e.Y-h/2, w, h, true)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func decodeNorm(n *normImage) (image.Image, error) {
	img, _, err := image.Decode(bytes.NewReader(n.data))
	return img, err
}

type previewFaceKey struct {
	face int
	size float64
}

// previewer draws on an RGBA page in millimetres.
type previewer struct {
	r     *Renderer
	img   *image.RGBA
	k     float64 // pixels per millimetre
	faces map[previewFaceKey]font.Face
}

func (pv *previewer) close() {
	for _, f := range pv.faces {
		_ = f.Close()
	}
}

func rgba(c [3]int) color.RGBA {
	return color.RGBA{uint8(c[0]), uint8(c[1]), uint8(c[2]), 255} // #nosec G115 -- layout colours are 0..255
}

func (pv *previewer) px(mm float64) int { return int(math.Round(mm * pv.k)) }

func (pv *previewer) fill(x, y, w, h float64, c [3]int) {
	r := image.Rect(pv.px(x), pv.px(y), pv.px(x+w), pv.px(y+h))
	xdraw.Draw(pv.img, r, image.NewUniform(rgba(c)), image.Point{}, xdraw.Src)
}

func (pv *previewer) rect(x, y, w, h, lw float64, c [3]int) {
	lw = math.Max(lw, 1/pv.k)
	pv.fill(x-lw/2, y-lw/2, w+lw, lw, c)
	pv.fill(x-lw/2, y+h-lw/2, w+lw, lw, c)
	pv.fill(x-lw/2, y-lw/2, lw, h+lw, c)
	pv.fill(x+w-lw/2, y-lw/2, lw, h+lw, c)
}

// text draws s with its left end at x and baseline y (mm), size in points,
// each character from the first font that has it, advanced by the width
// the PDF gives it.
func (pv *previewer) text(x, y, size float64, s string, c [3]int) {
	src := image.NewUniform(rgba(c))
	for _, ch := range s {
		i, _ := pv.r.faceOf(ch)
		if i >= 0 {
			if f := pv.face(i, size); f != nil {
				d := font.Drawer{Dst: pv.img, Src: src, Face: f, Dot: fixed.Point26_6{X: fixed.Int26_6(x * pv.k * 64), Y: fixed.Int26_6(y * pv.k * 64)}}
				d.DrawString(string(ch))
			}
		}
		x += pv.r.glyphWidth(ch) * size / 1000 * ptToMM
	}
}

func (pv *previewer) face(i int, size float64) font.Face {
	key := previewFaceKey{i, size}
	if f, ok := pv.faces[key]; ok {
		return f
	}
	// size pt at k px/mm: DPI = 25.4 k.
	f, err := opentype.NewFace(pv.r.faces[i].font, &opentype.FaceOptions{Size: size, DPI: 25.4 * pv.k, Hinting: font.HintingNone})
	if err != nil {
		f = nil
	}
	pv.faces[key] = f
	return f
}

// image places img in the box x,y,w,h (mm), fitted inside and centred;
// multiply blends it with the page as ink does (the seal), else it covers.
func (pv *previewer) image(img image.Image, x, y, w, h float64, multiply bool) {
	b := img.Bounds()
	if fh := w * float64(b.Dy()) / float64(b.Dx()); fh > h {
		nw := h * float64(b.Dx()) / float64(b.Dy())
		x, w = x+(w-nw)/2, nw
	} else {
		y, h = y+(h-fh)/2, fh
	}
	dst := image.Rect(pv.px(x), pv.px(y), pv.px(x+w), pv.px(y+h))
	// Only the part on the page is scaled: an image of an extreme shape
	// (a 2×640 seal is 320 times as tall as wide) would otherwise be
	// scaled, in memory, to metres of page.
	vis := dst.Intersect(pv.img.Rect)
	if vis.Empty() {
		return
	}
	scaled := image.NewRGBA(vis)
	xdraw.CatmullRom.Scale(scaled, dst, img, b, xdraw.Src, nil)
	if !multiply {
		xdraw.Draw(pv.img, vis, scaled, vis.Min, xdraw.Over)
		return
	}
	for ty := vis.Min.Y; ty < vis.Max.Y; ty++ {
		for tx := vis.Min.X; tx < vis.Max.X; tx++ {
			s := scaled.RGBAAt(tx, ty) // premultiplied
			d := pv.img.RGBAAt(tx, ty)
			// Multiply with alpha: out = d * (1 - a + s), s premultiplied.
			mul := func(dc, sc uint8) uint8 {
				return uint8((int(dc) * (255 - int(s.A) + int(sc))) / 255) // #nosec G115 -- 0..255
			}
			pv.img.SetRGBA(tx, ty, color.RGBA{mul(d.R, s.R), mul(d.G, s.G), mul(d.B, s.B), 255})
		}
	}
}
