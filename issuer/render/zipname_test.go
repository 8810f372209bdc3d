package render

import "testing"

func TestSafeFileName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"王伟娜", "王伟娜"},
		{"2022/01\\05", "2022-01-05"},
		{`a<b>c:d"e|f?g*h`, "a-b-c-d-e-f-g-h"},
		{"S01\x00\x1f\u200bX", "S01---X"},
		{"  .hidden. ", "hidden"},
		{"CON", "_CON"},
		{"com1", "_com1"},
		{"lpt9.txt", "_lpt9.txt"},
		{"CONSOLE", "CONSOLE"},
		{"", ""},
		{"a\tb", "a b"},
	} {
		if got := SafeFileName(tc.in); got != tc.want {
			t.Errorf("SafeFileName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := ""
	for range 100 {
		long += "长"
	}
	if got := []rune(SafeFileName(long)); len(got) != maxFileNameRunes {
		t.Errorf("long name kept %d characters", len(got))
	}
}
