package roster_test

import (
	"fmt"
	"time"

	"certd/issuer/roster"
)

func ExampleParse() {
	csv := "2026年合格人员名单\n" +
		"姓名,证件号码（必填）,职业编码,等级,考生类别,考核日期\n" +
		"欧阳娜娜,220102200401010011,6-18-02-04,三级/高级工,毕业年度学生,2026/6/30\n" +
		"阿卜杜热合曼·买买提,2.20102E+17,6-18-02-04,四级,在校生,46203\n"
	today := time.Date(2026, 7, 15, 0, 0, 0, 0, time.UTC)
	r, err := roster.Parse([]byte(csv), "名单.csv", today)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Format, len(r.Entries), r.Entries[0].Level.Chinese(), r.Entries[0].AssessedOn.Format("2006-01-02"))
	fmt.Print(r.ProblemsText())
	// Output:
	// csv-utf8 1 三级/高级工 2026-06-30
	// 第4行 证件号码（必填） “2.20102E+17”：该单元格被Excel当作数字保存，末尾数字已丢失（Excel只保留15位有效数字）；请把这一列设置为“文本”格式后重新输入 / row 4, column 证件号码（必填）: Excel stored this cell as a number and lost its trailing digits (Excel keeps only 15 significant digits); format the column as Text and type the number again
}
