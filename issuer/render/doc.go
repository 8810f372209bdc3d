// Package render prints vocational skill level certificates (职业技能等级证书)
// as PDF, in the form 人社鉴发〔2021〕1号 prescribes: A4, the exact title,
// body text, institution, issue date, name, 证件类型/号码, occupation,
// 工种/职业方向 ("--" when none), level as "三级/高级工", number, photo,
// QR code and the two national query addresses. It is built on
// github.com/jung-kurt/gofpdf and works around that library's known traps
// (measured in the team's libraries.md, §1).
//
// # Layout is data
//
// Positions, sizes and fixed text live in JSON templates embedded from
// assets/render (full.json for plain paper, preprinted.json for printing
// only the variable fields onto pre-printed stock). A college can supply
// its own file through Config.Template; a full layout that drops any
// mandatory item is rejected by New. Values that do not fit are shrunk to
// the element's minSize, then wrapped to maxLines, and otherwise refused
// with an error: nothing is ever printed past its box or cut off.
//
// # Why fonts are subset before gofpdf sees them
//
// gofpdf parses the whole TrueType file for every document: it walks the
// entire cmap into two maps, builds a 64K width table and re-reads hmtx and
// loca. For the 15 MB LXGW WenKai that is most of the ~20 ms a bare gofpdf
// certificate costs, and a parsed font cannot be shared between documents.
// So New parses the full font once (tables located by hand, glyph lookup
// and outlines through golang.org/x/image/font/sfnt), and each document gets
// a tiny TrueType file built on the spot: .notdef plus the glyphs of exactly
// the characters that document prints (template text, ASCII, the
// certificate's fields), renumbered densely, with a fresh format-4 cmap,
// long loca, per-glyph hmtx, and head/hhea/maxp/post patched to match.
// Composite glyphs pull in their components. Building that subset takes
// microseconds; gofpdf then parses a few hundred glyphs instead of ~30,000, and still
// performs its own final subsetting at Output, so the embedded font is as
// small as before. Batch builds one subset for the union of all its
// certificates and embeds it once.
//
// The subsetter is hand-written (font.go) after evaluating the candidates:
// github.com/go-text/typesetting has no subsetter, and
// github.com/tdewolff/font has one but only as untagged pseudo-versions
// (the module proxy refuses @latest), it rebuilds the cmap from a
// glyph→single-rune map (two code points sharing a glyph would silently lose
// one, i.e. a blank character), and Subset writes through pointers shared
// with the source font, a data race when renderers run concurrently.
//
// Because every document gets freshly built subset bytes, gofpdf's habit of
// writing into the font buffer it was given (getMetrics appends into the
// caller's hmtx) can never reach the shared font; TestFontBytesUnchanged
// hashes the font before and after concurrent renders under -race.
//
// # Characters outside the BMP
//
// gofpdf's CID font code indexes a 65,536-entry table by rune and panics on
// anything above U+FFFF, yet Chinese names do contain CJK Extension B
// characters such as 𠮷 (U+20BB7), which LXGW WenKai has. Such a character
// is never passed to gofpdf as text. drawText splits each string into runs:
// BMP runs go through gofpdf as real text (searchable, copyable, found by
// pdftotext); each non-BMP character is drawn as its glyph outline, loaded
// from the full font with sfnt.LoadGlyph at ppem = unitsPerEm (so the
// coordinates are font units), scaled to the font size, with its quadratic
// contours raised to equivalent cubic Béziers and filled with the nonzero
// rule, then the pen advances by the glyph's hmtx advance. Widths of BMP runs
// are computed with gofpdf's own rounding, so the text after an outline
// glyph lands exactly where gofpdf would have put it. The cost is that the
// outline character itself is not in the text layer; everything else is.
//
// # Never a missing or wrong character
//
// Check reports, as an ErrGlyph error naming them, every
// character that no configured font (main font, then Config.Fallbacks in
// order) can draw; roster import calls it so the row error names the
// character. Render and Batch run the same check, and validate images,
// before drawing anything. Characters missing from the main font but
// present in a fallback are printed from the fallback (a second embedded
// font, or outlines for non-BMP).
//
// # Binding and determinism
//
// Render attaches the signed record (compact JWS) as certificate.jwt and
// puts the certificate number into title, subject and keywords. Creation
// and modification dates are the issue date and the catalog is sorted, so
// identical input yields identical bytes and a stored hash can be checked
// by re-rendering.
//
// # Images
//
// Photos and seals are validated (PNG or JPEG, ≤ 2 MB, ≤ 4000 px, fully
// decodable) and normalised to forms gofpdf embeds without re-compressing:
// JPEG passes through, anything else is flattened onto white. The seal is
// drawn with the Multiply blend mode, so its white background disappears
// and the date shows through the ink as under a real stamp, without an
// alpha channel that gofpdf would split and deflate again for every PDF.
// The QR code (skip2/go-qrcode, level Medium, quiet zone kept, ≥ 25 mm) is
// drawn as vector rectangles filled in one operation.
package render
