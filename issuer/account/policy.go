package account

import (
	"bufio"
	"bytes"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"certd/assets"
	"certd/issuer"
)

// The common-password list (assets/data/common-passwords.txt, from
// @zxcvbn-ts/language-common, MIT: see assets/data/NOTICE) is read once,
// on the first password chosen, not at start-up: most processes (the
// command line, the public verifier) never need it.
var (
	commonOnce sync.Once
	common     map[string]struct{}
)

func commonPasswords() map[string]struct{} {
	commonOnce.Do(func() {
		raw, err := assets.Data.ReadFile("data/common-passwords.txt")
		if err != nil {
			panic("account: the embedded common-password list is missing: " + err.Error())
		}
		common = make(map[string]struct{}, 50000)
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for sc.Scan() {
			if w := strings.TrimSpace(sc.Text()); w != "" {
				common[strings.ToLower(w)] = struct{}{}
			}
		}
	})
	return common
}

// isCommon reports whether pw is on the common-password list, or is one
// dressed up the way people do to pass a length rule: a common word with
// digits or symbols before or after it ("password2026!", "!!qwerty123"),
// the same word twice, or one character or one keyboard/alphabet run.
func isCommon(pw string) bool {
	list := commonPasswords()
	p := strings.ToLower(pw)
	if _, ok := list[p]; ok {
		return true
	}
	core := strings.TrimFunc(p, func(r rune) bool { return !unicode.IsLetter(r) })
	if utf8.RuneCountInString(core) >= 3 {
		if _, ok := list[core]; ok {
			return true
		}
	}
	// A common password followed or preceded by a year or a few digits.
	for _, s := range []string{strings.TrimRightFunc(p, isNotLetterOrDigit), strings.TrimLeftFunc(p, isNotLetterOrDigit)} {
		for _, t := range []string{strings.TrimRightFunc(s, unicode.IsDigit), strings.TrimLeftFunc(s, unicode.IsDigit)} {
			if utf8.RuneCountInString(t) >= 4 {
				if _, ok := list[t]; ok {
					return true
				}
			}
		}
	}
	if n := len(p); n%2 == 0 && p[:n/2] == p[n/2:] {
		if _, ok := list[p[:n/2]]; ok || isRun(p[:n/2]) {
			return true
		}
	}
	return isRun(p)
}

func isNotLetterOrDigit(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// isRun reports a password of one repeated character or one step of +1 or
// -1 through the alphabet, the digits or a keyboard row ("1234567890",
// "abcdefghij", "qwertyuiop", "zzzzzzzzzz").
func isRun(p string) bool {
	if len(p) < 2 {
		return true
	}
	rows := []string{"1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "abcdefghijklmnopqrstuvwxyz", "0987654321"}
	same, up, down := true, true, true
	for i := 1; i < len(p); i++ {
		same = same && p[i] == p[0]
		up = up && p[i] == p[i-1]+1
		down = down && p[i] == p[i-1]-1
	}
	if same || up || down {
		return true
	}
	for _, r := range rows {
		if strings.Contains(r, p) || strings.Contains(reverse(r), p) {
			return true
		}
	}
	return false
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// userWords are the things about an account a guesser tries first: the
// login name and its parts, the display name, the college's ID.
func userWords(u User) []string {
	var ws []string
	add := func(w string) {
		w = strings.ToLower(strings.TrimSpace(w))
		if utf8.RuneCountInString(w) >= 3 {
			ws = append(ws, w)
		}
	}
	add(u.Name)
	for _, part := range strings.FieldsFunc(u.Name, func(r rune) bool { return r == '.' || r == '_' || r == '-' }) {
		add(part)
	}
	add(u.DisplayName)
	if utf8.RuneCountInString(u.DisplayName) >= 2 { // a Chinese name is often 2 characters
		ws = append(ws, strings.ToLower(u.DisplayName))
	}
	add(u.InstitutionID)
	return ws
}

// checkNewPassword checks a chosen password against the policy: 10 to 128
// characters, not on the common-password list (nor a common one with digits
// added), not a run of one character or a keyboard row, and not built on
// the account's own name, display name or college. The first reason found
// is reported; each says what to do instead.
func checkNewPassword(u User, pw string) error {
	n := utf8.RuneCountInString(pw)
	if n < 10 || n > 128 {
		return issuer.Errorf(issuer.ErrInvalid, "password_length", "密码长度应为10至128个字符", "the password must be 10 to 128 characters")
	}
	lower := strings.ToLower(pw)
	for _, w := range userWords(u) {
		if strings.Contains(lower, w) {
			return issuer.Errorf(issuer.ErrInvalid, "password_personal", "密码不能包含登录名、姓名或院校代码，这些是猜测者最先尝试的",
				"the password must not contain the login name, your name or your college's ID: guessers try those first")
		}
	}
	if isCommon(pw) {
		return issuer.Errorf(issuer.ErrInvalid, "password_common", "该密码过于常见（在常用或泄露密码清单中，或只是连续、重复的字符），请换一个不易猜到的密码，例如由几个无关词语组成的短句",
			"this password is too common (it is on a list of common or breached passwords, or is only a run of characters); choose one that is hard to guess, such as a few unrelated words")
	}
	return nil
}
