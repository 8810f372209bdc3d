package roster

import (
	"fmt"
	"testing"

	"github.com/xuri/excelize/v2"
)

// BenchmarkParse10k parses and validates a 10,000-row workbook written the
// way Excel would: text IDs, date cells, an extra column.
func BenchmarkParse10k(b *testing.B) {
	f := excelize.NewFile()
	sw, err := f.NewStreamWriter("Sheet1")
	must(b, err)
	must(b, sw.SetRow("A1", []any{"序号", "姓名", "证件类型", "证件号码", "学号", "专业", "考生类别", "职业编码", "职业名称", "工种", "等级", "考核日期"}))
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	must(b, err)
	levels := []string{"五级/初级工", "四级", "三级/高级工", "3", "中级工"}
	for i := 0; i < 10000; i++ {
		id := rid(fmt.Sprintf("220102200%d%02d%02d%03d", 3+i%3, i%12+1, i%28+1, i%1000))
		row := []any{i + 1, "欧阳娜娜", "居民身份证", id, fmt.Sprintf("2022%06d", i), "智能焊接技术", "毕业年度学生",
			fmt.Sprintf("6-18-0%d-0%d", i%9+1, i/9%9+1), "焊工", "--", levels[i%len(levels)],
			excelize.Cell{StyleID: dateStyle, Value: date(2026, 6, 30)}}
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		must(b, sw.SetRow(cell, row))
	}
	must(b, sw.Flush())
	buf, err := f.WriteToBuffer()
	must(b, err)
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := Parse(data, "big.xlsx", today)
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Entries) != 10000 {
			b.Fatalf("%d entries, %d problems:\n%.2000s", len(r.Entries), len(r.Problems), r.ProblemsText())
		}
	}
}
