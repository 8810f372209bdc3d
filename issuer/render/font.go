package render

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// face is one parsed TrueType font. ttf is the standalone font file and is
// never handed to gofpdf: gofpdf writes into the buffer it is given
// (libraries.md §1), and every document gets a freshly built subset instead.
type face struct {
	name   string
	ttf    []byte
	tables map[string][]byte
	font   *sfnt.Font

	upem        int
	numGlyphs   int
	numHMetrics int
	longLoca    bool

	bufs sync.Pool // *sfnt.Buffer; sfnt.Font is shared, Buffers are not
}

func (f *face) buffer() *sfnt.Buffer {
	if b, ok := f.bufs.Get().(*sfnt.Buffer); ok {
		return b
	}
	return new(sfnt.Buffer)
}

// glyph returns the glyph index for r, 0 when the font has none.
func (f *face) glyph(r rune) uint16 {
	b := f.buffer()
	defer f.bufs.Put(b)
	g, err := f.font.GlyphIndex(b, r)
	if err != nil {
		return 0
	}
	return uint16(g)
}

// advance is the horizontal advance of gid in font units, read straight from
// hmtx so that it equals what gofpdf measures.
func (f *face) advance(gid uint16) int {
	hmtx := f.tables["hmtx"]
	i := int(gid)
	if i >= f.numHMetrics {
		i = f.numHMetrics - 1
	}
	if 4*i+2 > len(hmtx) {
		return 0
	}
	return int(binary.BigEndian.Uint16(hmtx[4*i:]))
}

func (f *face) lsb(gid uint16) []byte {
	hmtx := f.tables["hmtx"]
	i := int(gid)
	if i < f.numHMetrics {
		if 4*i+4 <= len(hmtx) {
			return hmtx[4*i+2 : 4*i+4]
		}
		return []byte{0, 0}
	}
	off := 4*f.numHMetrics + 2*(i-f.numHMetrics)
	if off+2 <= len(hmtx) {
		return hmtx[off : off+2]
	}
	return []byte{0, 0}
}

// glyphData returns the raw glyf entry of gid (possibly empty).
func (f *face) glyphData(gid uint16) []byte {
	loca, glyf := f.tables["loca"], f.tables["glyf"]
	i := int(gid)
	var a, b int
	if f.longLoca {
		if 4*i+8 > len(loca) {
			return nil
		}
		a = int(binary.BigEndian.Uint32(loca[4*i:]))
		b = int(binary.BigEndian.Uint32(loca[4*i+4:]))
	} else {
		if 2*i+4 > len(loca) {
			return nil
		}
		a = 2 * int(binary.BigEndian.Uint16(loca[2*i:]))
		b = 2 * int(binary.BigEndian.Uint16(loca[2*i+2:]))
	}
	if a > b || b > len(glyf) {
		return nil
	}
	return glyf[a:b]
}

// Composite glyph flags (OpenType glyf spec).
const (
	argsAreWords   = 0x0001
	weHaveAScale   = 0x0008
	moreComponents = 0x0020
	xAndYScale     = 0x0040
	twoByTwo       = 0x0080
)

// components walks a composite glyph, calling fn with the byte offset of
// each component's glyph index. It returns false on malformed data.
func components(g []byte, fn func(off int)) bool {
	// numberOfContours is signed; a negative count (top bit set) marks a composite.
	if len(g) < 10 || binary.BigEndian.Uint16(g)&0x8000 == 0 {
		return true
	}
	off := 10
	for {
		if off+4 > len(g) {
			return false
		}
		flags := binary.BigEndian.Uint16(g[off:])
		fn(off + 2)
		off += 4
		if flags&argsAreWords != 0 {
			off += 4
		} else {
			off += 2
		}
		switch {
		case flags&weHaveAScale != 0:
			off += 2
		case flags&xAndYScale != 0:
			off += 4
		case flags&twoByTwo != 0:
			off += 8
		}
		if flags&moreComponents == 0 {
			return off <= len(g)
		}
	}
}

// loadFace reads a .ttf or one face of a .ttc. faceName selects the face of
// a collection by family/full/PostScript name or by index; empty means 0.
func loadFace(path, faceName string) (*face, error) {
	raw, err := os.ReadFile(path) // #nosec G304 -- path is the operator's font setting (--font, CERTD_FONT)
	if err != nil {
		return nil, newError(ErrFont, fmt.Sprintf("无法读取字体文件 %s", path), fmt.Sprintf("cannot read font file %s", path), err)
	}
	return parseFace(raw, filepath.Base(path), faceName)
}

func parseFace(raw []byte, label, faceName string) (*face, error) {
	bad := func(zh, en string, cause error) error {
		return newError(ErrFont, fmt.Sprintf("字体 %s %s", label, zh), fmt.Sprintf("font %s: %s", label, en), cause)
	}
	if len(raw) < 12 {
		return nil, bad("不是有效的字体文件", "not a font file", nil)
	}
	ttf := raw
	switch string(raw[:4]) {
	case "ttcf":
		coll, err := sfnt.ParseCollection(raw)
		if err != nil {
			return nil, bad("无法解析字体集合（TTC）", "cannot parse TrueType collection", err)
		}
		idx, err := pickFace(coll, faceName)
		if err != nil {
			// The faces the file does have are what the operator needs.
			return nil, bad("中找不到字形名称 "+strconv.Quote(faceName)+"（"+err.Error()+"）", "has no face named "+strconv.Quote(faceName)+" ("+err.Error()+")", err)
		}
		off := binary.BigEndian.Uint32(raw[12+4*idx:])
		if ttf, err = extractFace(raw, int(off)); err != nil {
			return nil, bad("的字体集合结构损坏", "damaged collection", err)
		}
		label = fmt.Sprintf("%s#%d", label, idx)
	case "OTTO":
		return nil, bad("是 CFF（OTF）字体，证书打印需要 TrueType 字形（.ttf/.ttc）", "is a CFF (OTF) font; certificates need TrueType glyf outlines (.ttf/.ttc)", nil)
	case "\x00\x01\x00\x00", "true":
	default:
		return nil, bad("不是 TrueType 字体", "is not a TrueType font", nil)
	}
	tables, err := readTables(ttf, 0)
	if err != nil {
		return nil, bad("的表目录损坏", "has a damaged table directory", err)
	}
	for _, t := range []string{"cmap", "head", "hhea", "hmtx", "maxp", "loca", "glyf", "OS/2", "post", "name"} {
		if _, ok := tables[t]; !ok {
			return nil, bad("缺少 "+t+" 表", "lacks the "+t+" table", nil)
		}
	}
	head, hhea, maxp := tables["head"], tables["hhea"], tables["maxp"]
	if len(head) < 54 || len(hhea) < 36 || len(maxp) < 6 {
		return nil, bad("的表结构损坏", "has truncated tables", nil)
	}
	if os2 := tables["OS/2"]; len(os2) >= 10 {
		// gofpdf refuses restricted-licence fonts at Output time with a
		// printf instead of an error; catch it here with a clear message.
		if fs := binary.BigEndian.Uint16(os2[8:]); fs == 0x0002 || fs&0x0300 != 0 {
			return nil, bad("的授权禁止嵌入（fsType）", "forbids embedding (OS/2 fsType)", nil)
		}
	}
	sf, err := sfnt.Parse(ttf)
	if err != nil {
		return nil, bad("无法解析", "cannot be parsed", err)
	}
	f := &face{
		name:        label,
		ttf:         ttf,
		tables:      tables,
		font:        sf,
		upem:        int(binary.BigEndian.Uint16(head[18:])),
		numGlyphs:   int(binary.BigEndian.Uint16(maxp[4:])),
		numHMetrics: int(binary.BigEndian.Uint16(hhea[34:])),
		longLoca:    binary.BigEndian.Uint16(head[50:]) == 1,
	}
	if f.upem == 0 || f.numHMetrics == 0 {
		return nil, bad("的度量数据无效", "has invalid metrics", nil)
	}
	return f, nil
}

func pickFace(c *sfnt.Collection, want string) (int, error) {
	if want == "" {
		return 0, nil
	}
	if n, err := strconv.Atoi(want); err == nil {
		if n < 0 || n >= c.NumFonts() {
			return 0, fmt.Errorf("index %d out of range [0,%d)", n, c.NumFonts())
		}
		return n, nil
	}
	var seen []string
	var b sfnt.Buffer
	for i := 0; i < c.NumFonts(); i++ {
		f, err := c.Font(i)
		if err != nil {
			return 0, err
		}
		for _, id := range []sfnt.NameID{sfnt.NameIDFull, sfnt.NameIDPostScript, sfnt.NameIDFamily, sfnt.NameIDTypographicFamily} {
			n, err := f.Name(&b, id)
			if err != nil || n == "" {
				continue
			}
			if strings.EqualFold(n, want) {
				return i, nil
			}
			seen = append(seen, n)
		}
	}
	return 0, fmt.Errorf("faces present: %s", strings.Join(seen, ", "))
}

func readTables(b []byte, off int) (map[string][]byte, error) {
	if off+12 > len(b) {
		return nil, fmt.Errorf("truncated header")
	}
	n := int(binary.BigEndian.Uint16(b[off+4:]))
	if off+12+16*n > len(b) {
		return nil, fmt.Errorf("truncated table directory")
	}
	t := make(map[string][]byte, n)
	for i := 0; i < n; i++ {
		rec := b[off+12+16*i:]
		o := int(binary.BigEndian.Uint32(rec[8:]))
		l := int(binary.BigEndian.Uint32(rec[12:]))
		if o < 0 || l < 0 || o+l > len(b) {
			return nil, fmt.Errorf("table %q out of bounds", rec[:4])
		}
		t[string(rec[:4])] = b[o : o+l : o+l]
	}
	return t, nil
}

// extractFace turns one face of a collection into a standalone TTF, because
// gofpdf only accepts a single font file starting with 0x00010000.
func extractFace(b []byte, off int) ([]byte, error) {
	t, err := readTables(b, off)
	if err != nil {
		return nil, err
	}
	return writeSFNT(t), nil
}

// u16 and u32 store a count, length or offset in a font's 16- and 32-bit
// fields. Every caller's value is bounded already (table and glyph counts by
// the 16-bit fields they came from, lengths and offsets by the font file they
// came from), so a value that does not fit is a bug: a panic (Render recovers
// it into an error) beats writing a font whose tables point at wrong bytes.
func u16(n int) uint16 {
	if n < 0 || n > math.MaxUint16 {
		panic(fmt.Sprintf("font field value %d does not fit in 16 bits", n))
	}
	return uint16(n)
}

func u32(n int) uint32 {
	if n < 0 || int64(n) > math.MaxUint32 { // int64: the constant overflows a 32-bit int
		panic(fmt.Sprintf("font field value %d does not fit in 32 bits", n))
	}
	return uint32(n)
}

func checksum(b []byte) uint32 {
	var s uint32
	for i := 0; i < len(b); i += 4 {
		var w [4]byte
		copy(w[:], b[i:])
		s += binary.BigEndian.Uint32(w[:])
	}
	return s
}

// writeSFNT assembles tables into a TrueType file with a valid directory,
// checksums and head.checkSumAdjustment.
func writeSFNT(tables map[string][]byte) []byte {
	tags := make([]string, 0, len(tables))
	size := 12 + 16*len(tables)
	for tag, t := range tables {
		tags = append(tags, tag)
		size += (len(t) + 3) &^ 3
	}
	sort.Strings(tags)
	n := len(tags)
	es := 0
	for 1<<(es+1) <= n {
		es++
	}
	out := make([]byte, 12+16*n, size)
	binary.BigEndian.PutUint32(out, 0x00010000)
	binary.BigEndian.PutUint16(out[4:], u16(n))
	binary.BigEndian.PutUint16(out[6:], u16(16<<es))
	binary.BigEndian.PutUint16(out[8:], u16(es))
	binary.BigEndian.PutUint16(out[10:], u16(16*n-16<<es))
	headAt := -1
	for i, tag := range tags {
		t := tables[tag]
		if tag == "head" && len(t) >= 12 {
			t = bytes.Clone(t)
			binary.BigEndian.PutUint32(t[8:], 0)
			headAt = len(out)
		}
		rec := out[12+16*i:]
		copy(rec, tag)
		binary.BigEndian.PutUint32(rec[4:], checksum(t))
		binary.BigEndian.PutUint32(rec[8:], u32(len(out)))
		binary.BigEndian.PutUint32(rec[12:], u32(len(t)))
		out = append(out, t...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	if headAt >= 0 {
		binary.BigEndian.PutUint32(out[headAt+8:], 0xB1B0AFBA-checksum(out))
	}
	return out
}

// subset builds a small standalone TTF holding .notdef plus the glyphs of
// runes (BMP only; every rune must have a glyph in f). Glyph ids are
// renumbered densely and the cmap is a fresh format 4 table, which is the
// only cmap gofpdf reads. Hinting tables are kept verbatim because glyph
// programs may call functions defined in fpgm.
func (f *face) subset(runes []rune) ([]byte, error) {
	rs := append([]rune(nil), runes...)
	sort.Slice(rs, func(i, j int) bool { return rs[i] < rs[j] })
	old := []uint16{0}
	newID := map[uint16]uint16{0: 0}
	add := func(g uint16) uint16 {
		if n, ok := newID[g]; ok {
			return n
		}
		n := u16(len(old)) // old holds distinct uint16 ids, so n < 65,536
		newID[g] = n
		old = append(old, g)
		return n
	}
	cmap := make([][2]uint16, 0, len(rs))
	var prev rune = -1
	for _, r := range rs {
		if r == prev {
			continue
		}
		prev = r
		if r < 0 || r >= 0xFFFF {
			return nil, fmt.Errorf("rune %U cannot go into a format 4 cmap", r)
		}
		g := f.glyph(r)
		if g == 0 {
			return nil, fmt.Errorf("no glyph for %U", r)
		}
		cmap = append(cmap, [2]uint16{uint16(r), add(g)})
	}
	// Composite glyphs pull in their components; the list grows while we
	// walk it so nested composites are covered too.
	for i := 0; i < len(old); i++ {
		ok := components(f.glyphData(old[i]), func(off int) {
			add(binary.BigEndian.Uint16(f.glyphData(old[i])[off:]))
		})
		if !ok {
			return nil, fmt.Errorf("damaged composite glyph %d", old[i])
		}
	}
	if len(old) > 0xFFFF {
		return nil, fmt.Errorf("too many glyphs")
	}

	var glyf []byte
	loca := make([]byte, 4*(len(old)+1))
	hmtx := make([]byte, 0, 4*len(old))
	for i, g := range old {
		binary.BigEndian.PutUint32(loca[4*i:], u32(len(glyf)))
		start := len(glyf)
		glyf = append(glyf, f.glyphData(g)...)
		components(glyf[start:], func(off int) {
			p := glyf[start+off:]
			binary.BigEndian.PutUint16(p, newID[binary.BigEndian.Uint16(p)])
		})
		for len(glyf)%4 != 0 {
			glyf = append(glyf, 0)
		}
		hmtx = binary.BigEndian.AppendUint16(hmtx, u16(f.advance(g)))
		hmtx = append(hmtx, f.lsb(g)...)
	}
	binary.BigEndian.PutUint32(loca[4*len(old):], u32(len(glyf)))

	head := bytes.Clone(f.tables["head"])
	binary.BigEndian.PutUint16(head[50:], 1)
	hhea := bytes.Clone(f.tables["hhea"])
	binary.BigEndian.PutUint16(hhea[34:], u16(len(old)))
	maxp := bytes.Clone(f.tables["maxp"])
	binary.BigEndian.PutUint16(maxp[4:], u16(len(old)))
	// post version 3 drops the glyph-name array, which is large in CJK fonts
	// and would name the wrong glyphs after renumbering.
	post := make([]byte, 32)
	copy(post, f.tables["post"])
	binary.BigEndian.PutUint32(post, 0x00030000)

	out := map[string][]byte{
		"cmap": cmapFormat4(cmap),
		"glyf": glyf,
		"head": head,
		"hhea": hhea,
		"hmtx": hmtx,
		"loca": loca,
		"maxp": maxp,
		"name": f.tables["name"],
		"OS/2": f.tables["OS/2"],
		"post": post,
	}
	for _, t := range []string{"cvt ", "fpgm", "prep", "gasp"} {
		if b, ok := f.tables[t]; ok {
			out[t] = b
		}
	}
	return writeSFNT(out), nil
}

// cmapFormat4 writes a (3,1) cmap with one segment per run of consecutive
// code points whose glyph ids are also consecutive.
func cmapFormat4(m [][2]uint16) []byte {
	type seg struct{ start, end, delta uint16 }
	var segs []seg
	for _, p := range m {
		d := p[1] - p[0]
		if n := len(segs); n > 0 && segs[n-1].end+1 == p[0] && segs[n-1].delta == d {
			segs[n-1].end = p[0]
			continue
		}
		segs = append(segs, seg{p[0], p[0], d})
	}
	segs = append(segs, seg{0xFFFF, 0xFFFF, 1})
	n := len(segs)
	es := 0
	for 1<<(es+1) <= n {
		es++
	}
	sub := make([]byte, 0, 16+8*n)
	be := binary.BigEndian
	sub = be.AppendUint16(sub, 4)
	sub = be.AppendUint16(sub, u16(16+8*n))
	sub = be.AppendUint16(sub, 0)
	sub = be.AppendUint16(sub, u16(2*n))
	sub = be.AppendUint16(sub, u16(2<<es))
	sub = be.AppendUint16(sub, u16(es))
	sub = be.AppendUint16(sub, u16(2*n-2<<es))
	for _, s := range segs {
		sub = be.AppendUint16(sub, s.end)
	}
	sub = be.AppendUint16(sub, 0)
	for _, s := range segs {
		sub = be.AppendUint16(sub, s.start)
	}
	for _, s := range segs {
		sub = be.AppendUint16(sub, s.delta)
	}
	for range segs {
		sub = be.AppendUint16(sub, 0)
	}
	hdr := []byte{0, 0, 0, 1, 0, 3, 0, 1, 0, 0, 0, 12}
	return append(hdr, sub...)
}

// outline returns the glyph outline of gid in font units, y pointing down,
// as x/image/font/sfnt delivers it when ppem equals unitsPerEm.
func (f *face) outline(gid uint16) (sfnt.Segments, error) {
	b := f.buffer()
	defer f.bufs.Put(b)
	segs, err := f.font.LoadGlyph(b, sfnt.GlyphIndex(gid), fixed.I(f.upem), &sfnt.LoadGlyphOptions{})
	if err != nil {
		return nil, err
	}
	// The slice aliases the Buffer, which goes back to the pool.
	return append(sfnt.Segments(nil), segs...), nil
}
