package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	stddraw "image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"sync"

	xdraw "golang.org/x/image/draw"
)

// Limits for uploaded seals and photos. 2 MB and 4000 px are far above what
// a 25×35 mm photo or a 40 mm seal needs at 600 dpi, and low enough that a
// decoded image (4000×4000×4 bytes) cannot exhaust memory.
const (
	MaxImageBytes = 2 << 20
	MaxImagePixel = 4000
	minImagePixel = 16
)

type imageKind uint8 // a byte of the image cache key

const (
	photoImage imageKind = iota
	sealImage
)

func (k imageKind) names() (string, string) {
	if k == sealImage {
		return "印章图片", "seal image"
	}
	return "照片", "photo"
}

// Longest side after normalisation: 1-inch photo 25×35 mm and a 40 mm seal
// at about 400 dpi. Bigger uploads are scaled down so that a batch of 1,000
// certificates stays a sensible size.
func (k imageKind) maxSide() int {
	if k == sealImage {
		return 640
	}
	return 560
}

// normImage is an image ready for gofpdf: JPEG or opaque 8-bit RGB PNG.
// Both are embedded by gofpdf without re-compression, which matters
// because gofpdf parses images again for every document.
type normImage struct {
	name string // content hash, so a seal shared by a batch is embedded once
	typ  string // "JPG" or "PNG"
	data []byte
	w, h int
}

// CheckImage validates an uploaded seal or photo before it is stored: a
// decodable PNG or JPEG within the size limits. what names the image in the
// error, e.g. "照片/photo" or "印章/seal".
func CheckImage(b []byte, what string) error {
	_, _, err := decodeImage(b, what, what, true)
	return err
}

// decodeImage validates b. With full it also decodes the pixels; without,
// a JPEG that can be embedded as is is only checked structurally (header
// and end-of-image marker), because decoding it would be a quarter of the
// cost of a certificate and gofpdf embeds the bytes untouched anyway.
func decodeImage(b []byte, zh, en string, full bool) (image.Image, image.Config, error) {
	bad := func(z, e string, cause error) error {
		return newError(ErrImage, zh+z, en+": "+e, cause)
	}
	if len(b) == 0 {
		return nil, image.Config{}, bad("为空", "empty", nil)
	}
	if len(b) > MaxImageBytes {
		return nil, image.Config{}, bad(fmt.Sprintf("过大（%.1f MB，上限 %d MB）", float64(len(b))/(1<<20), MaxImageBytes>>20),
			fmt.Sprintf("too large (%.1f MB, limit %d MB)", float64(len(b))/(1<<20), MaxImageBytes>>20), nil)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, image.Config{}, bad("不是可识别的 PNG 或 JPEG 图片", "is not a readable PNG or JPEG image", err)
	}
	if format != "png" && format != "jpeg" {
		return nil, image.Config{}, bad("格式为 "+format+"，只接受 PNG 或 JPEG", "is "+format+"; only PNG and JPEG are accepted", nil)
	}
	if cfg.Width > MaxImagePixel || cfg.Height > MaxImagePixel {
		return nil, image.Config{}, bad(fmt.Sprintf("尺寸过大（%d×%d 像素，上限 %d）", cfg.Width, cfg.Height, MaxImagePixel),
			fmt.Sprintf("too large (%d×%d px, limit %d)", cfg.Width, cfg.Height, MaxImagePixel), nil)
	}
	if cfg.Width < minImagePixel || cfg.Height < minImagePixel {
		return nil, image.Config{}, bad(fmt.Sprintf("尺寸过小（%d×%d 像素）", cfg.Width, cfg.Height),
			fmt.Sprintf("too small (%d×%d px)", cfg.Width, cfg.Height), nil)
	}
	// A truncated file passes DecodeConfig but would print as a grey block
	// or break gofpdf.
	if !full && format == "jpeg" && (cfg.ColorModel == color.YCbCrModel || cfg.ColorModel == color.GrayModel) {
		if !bytes.HasSuffix(bytes.TrimRight(b, "\x00\r\n "), []byte{0xFF, 0xD9}) {
			return nil, cfg, bad("已损坏（JPEG 不完整）", "is damaged (truncated JPEG)", nil)
		}
		return nil, cfg, nil
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, cfg, bad("已损坏，无法解码", "is damaged and cannot be decoded", err)
	}
	return img, cfg, nil
}

// normalize flattens onto white, scales down oversized images and picks
// an encoding gofpdf embeds as is.
func normalize(b []byte, kind imageKind) (*normImage, error) {
	zh, en := kind.names()
	img, cfg, err := decodeImage(b, zh, en, false)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	n := &normImage{name: "img" + hex.EncodeToString(sum[:12])}
	if img == nil && max(cfg.Width, cfg.Height) <= kind.maxSide() {
		n.typ, n.data, n.w, n.h = "JPG", b, cfg.Width, cfg.Height
		return n, nil
	}
	if img == nil {
		if img, _, err = decodeImage(b, zh, en, true); err != nil {
			return nil, err
		}
	}
	bnd := img.Bounds()
	w, h := bnd.Dx(), bnd.Dy()
	if s := kind.maxSide(); max(w, h) > s {
		if w >= h {
			w, h = s, max(1, h*s/bnd.Dx())
		} else {
			w, h = max(1, w*s/bnd.Dy()), s
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	stddraw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, stddraw.Src)
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), img, bnd, xdraw.Over, nil)
	var buf bytes.Buffer
	if kind == photoImage {
		err = jpeg.Encode(&buf, dst, &jpeg.Options{Quality: 88})
		n.typ = "JPG"
	} else {
		// PNG keeps the seal's crisp edges; opaque RGBA encodes as 8-bit RGB.
		err = (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, dst)
		n.typ = "PNG"
	}
	if err != nil {
		return nil, newError(ErrImage, zh+"转换失败", en+": re-encoding failed", err)
	}
	n.data, n.w, n.h = buf.Bytes(), w, h
	return n, nil
}

// imageCache keeps normalised seals: every certificate of a college carries
// the same seal, so it is decoded once per process, not once per PDF.
type imageCache struct {
	mu sync.Mutex
	m  map[[32]byte]*normImage
}

const imageCacheMax = 64

func (c *imageCache) get(b []byte, kind imageKind) (*normImage, error) {
	if kind == photoImage {
		return normalize(b, kind) // photos differ per certificate; caching them only costs memory
	}
	key := sha256.Sum256(append([]byte{byte(kind)}, b...))
	c.mu.Lock()
	n, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return n, nil
	}
	n, err := normalize(b, kind)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= imageCacheMax {
		c.m = map[[32]byte]*normImage{}
	}
	c.m[key] = n
	c.mu.Unlock()
	return n, nil
}

func newReader(b []byte) io.Reader { return bytes.NewReader(b) }
