package roster

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
)

// ProblemsText renders the problems for an email or a log the office reads,
// one line per problem, Chinese first:
//
//	第12行 证件号码 “220102200401010013”：身份证号码校验不通过，多为某一位录入有误：请与身份证原件逐位核对（不要只改最后一位） / row 12, column 证件号码: the resident ID number fails its check, ...
func (r *Roster) ProblemsText() string {
	var b strings.Builder
	for _, p := range r.Problems {
		b.WriteString("第")
		b.WriteString(strconv.Itoa(p.Row))
		b.WriteString("行")
		if p.Column != "" {
			b.WriteString(" ")
			b.WriteString(p.Column)
		}
		if p.Value != "" {
			b.WriteString(" “")
			b.WriteString(shorten(p.Value, 40))
			b.WriteString("”")
		}
		b.WriteString("：")
		b.WriteString(p.Zh)
		b.WriteString(" / row ")
		b.WriteString(strconv.Itoa(p.Row))
		if p.Column != "" {
			b.WriteString(", column ")
			b.WriteString(p.Column)
		}
		b.WriteString(": ")
		b.WriteString(p.En)
		b.WriteString("\n")
	}
	return b.String()
}

// fingerprint hashes the entries' content. Each entry becomes one line of
// length-prefixed fields (so no value can imitate a separator); lines are
// sorted so file format, row order and column order do not matter. The row
// number is deliberately left out: a title row added or removed changes it.
func fingerprint(entries []Entry) string {
	lines := make([]string, len(entries))
	for i, e := range entries {
		var b strings.Builder
		for _, f := range []string{
			string(e.DocType), e.DocNumber, e.Name, e.CandidateType,
			e.Occupation, e.OccupationName, e.Specialty, e.Level.String(),
			e.AssessedOn.Format("2006-01-02"), e.StudentNo, e.Major,
		} {
			b.WriteString(strconv.Itoa(len(f)))
			b.WriteByte(':')
			b.WriteString(f)
			b.WriteByte(';')
		}
		lines[i] = b.String()
	}
	slices.Sort(lines)
	h := sha256.New()
	h.Write([]byte("certd-roster-v1\n"))
	for _, l := range lines {
		h.Write([]byte(l))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}
