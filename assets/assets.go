// Package assets holds the files certd ships inside its binary: the
// occupation catalogue, the printed level names, templates and styles.
// It has no logic; other packages parse what it embeds.
package assets

import "embed"

// Data holds the reference data under data/: occupations.json (the 2022
// 职业分类大典 skill occupations certd knows out of the box) and levels.json
// (printed level names in Chinese and English).
//
//go:embed data
var Data embed.FS

// Render holds the certificate layout templates under render/: full.json
// (whole certificate on plain A4) and preprinted.json (only the variable
// fields, for pre-printed certificate stock). Package issuer/render parses
// them; a college may supply its own file instead.
//
//go:embed render
var Render embed.FS

// Templates holds the public verification pages under templates/
// (html/template files, parsed by package verify) and Static their style
// sheet and share image under static/. The style sheet is inlined into each
// page so that a phone on a weak connection needs one request.
//
//go:embed templates
var Templates embed.FS

// Static: see Templates.
//
//go:embed static
var Static embed.FS

// Console holds the web console's page templates and style sheet under
// console/ (html/template files, parsed by package issuer/console).
//
//go:embed console
var Console embed.FS

// Holder holds the holder pages' templates (我的证书, /me) under holder/,
// parsed by package holder; they use the public pages' style sheet.
//
//go:embed holder
var Holder embed.FS
