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
		"王五,居民身份证," + rid("22010220040101003") + ",4-04-05-05,3,毕业年度学生,2026-06-20," + strings.Repeat("注", maxOtherCellRunes) + "\n" +
		"赵六,居民身份证," + rid("22010220040101004") + ",4-04-05-05,3,毕业年度学生,2026-06-20," + strings.Repeat("注", maxOtherCellRunes+1) + "\n"
	r, err := Parse([]byte(data), "r.csv", today)
	must(t, err)
	if len(r.Problems) != 2 {
		t.Fatalf("problems: %d, want 2 (the huge cell of row 3, the long one of row 5)", len(r.Problems))
	}
	// The huge cell was cut when it was read (more than MaxCellBytes, any
	// column); the long one is over the limit of a column certd does not read.
	hp, lp := r.Problems[0], r.Problems[1]
	if hp.Row != 3 || hp.Col != 7 || hp.Code != "cell_too_long" || !strings.Contains(hp.Zh, "最多4096字节") || !strings.Contains(hp.En, "at most 4096") {
		t.Fatalf("huge cell: problem %+v", hp)
	}
	if lp.Row != 5 || lp.Col != 7 || lp.Code != "too_long" || !strings.Contains(lp.Zh, "最多500个") || !strings.Contains(lp.En, "at most 500") {
		t.Fatalf("long cell: problem %+v", lp)
	}
	for _, p := range r.Problems {
		if n := utf8.RuneCountInString(p.Value); n > maxValueEcho+1 {
			t.Fatalf("the problem echoes %d characters of the cell", n)
		}
		if n := utf8.RuneCountInString(p.Column); n > maxValueEcho+1 {
			t.Fatalf("the problem echoes %d characters of the header", n)
		}
	}
	if len(r.Entries) != 2 {
		t.Fatalf("entries: %d, want the two good rows", len(r.Entries))
	}
}
