package roster

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A cell of a column certd does not read (备注, remarks) is bounded like
// every other: a huge one is a row problem naming the cell, with the value
// echoed shortened, and the header's text is echoed shortened too.
func TestHugeCellIsARowProblem(t *testing.T) {
	longHeader := "备注" + strings.Repeat("注", 5000)
	head := "姓名,证件类型,证件号码,职业编码,等级,考生类别,考核日期," + longHeader + "\n"
	ok := "张三,居民身份证," + rid("22010220040101001") + ",4-04-05-05,3,毕业年度学生,2026-06-20,"
	huge := strings.Repeat("备", 4<<20) // 12 MiB of text in one cell
	data := head + ok + "按时参加\n" + "李四,居民身份证," + rid("22010220040101002") + ",4-04-05-05,3,毕业年度学生,2026-06-20," + huge + "\n" +
		"王五,居民身份证," + rid("22010220040101003") + ",4-04-05-05,3,毕业年度学生,2026-06-20," + strings.Repeat("注", maxOtherCellRunes) + "\n"
	r, err := Parse([]byte(data), "r.csv", today)
	must(t, err)
	if len(r.Problems) != 1 {
		t.Fatalf("problems: %d, want 1 (the huge cell of row 3)", len(r.Problems))
	}
	p := r.Problems[0]
	if p.Row != 3 || p.Col != 7 || p.Code != "too_long" || !strings.Contains(p.Zh, "最多500个") || !strings.Contains(p.En, "at most 500") {
		t.Fatalf("problem %+v", p)
	}
	if n := utf8.RuneCountInString(p.Value); n > maxValueEcho+1 {
		t.Fatalf("the problem echoes %d characters of the cell", n)
	}
	if n := utf8.RuneCountInString(p.Column); n > maxValueEcho+1 {
		t.Fatalf("the problem echoes %d characters of the header", n)
	}
	if len(r.Entries) != 2 {
		t.Fatalf("entries: %d, want the two good rows", len(r.Entries))
	}
}
