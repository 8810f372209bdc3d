package storeutil

import (
	"strings"

	"certd/issuer/ident"
)

// NameLike is the LIKE pattern (with \ as the escape character) of a ledger
// name search: the name normalised as stored names are (ident.NormalizeName:
// full-width letters folded, look-alike dots unified), every space removed,
// lower-cased, and wrapped in % so that any part of a name matches. Both
// backends compare it with the stored name with its spaces removed and
// lower-cased, so "张 三", "张三" and "三" all find 张三, and "smith" finds
// "John SMITH". "" when nothing is left to search for.
func NameLike(name string) string {
	n := strings.ToLower(strings.ReplaceAll(ident.NormalizeName(name), " ", ""))
	if n == "" {
		return ""
	}
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(n) + "%"
}
