package statuslist

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Entry is the credentialStatus of a certificate record: where its
// revocation bit is. certd writes exactly these five members, with ID the
// list URL, "#" and the index.
type Entry struct {
	ID                   string `json:"id"`
	Type                 string `json:"type"`
	StatusPurpose        string `json:"statusPurpose"`
	StatusListIndex      string `json:"statusListIndex"` // base 10, as the Recommendation requires
	StatusListCredential string `json:"statusListCredential"`
}

// NewEntry is the entry for index in the list at listURL.
func NewEntry(listURL string, index int) Entry {
	i := strconv.Itoa(index)
	return Entry{
		ID: listURL + "#" + i, Type: typeEntry, StatusPurpose: PurposeRevocation,
		StatusListIndex: i, StatusListCredential: listURL,
	}
}

// maxEntryLen bounds ParseEntry's input; an entry is about 250 bytes.
const maxEntryLen = 2048

// ParseEntry decodes an entry strictly (no unknown or repeated top-level
// value, at most 2 KiB) and validates it with Validate.
func ParseEntry(b []byte, listBase string) (Entry, error) {
	var e Entry
	if len(b) > maxEntryLen {
		return e, fail(ErrTooLarge, "状态条目超过 %d 字节", "status entry is over %d bytes", maxEntryLen)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Entry{}, failCause(ErrMalformed, err, "状态条目不是有效的 JSON 对象", "status entry is not a valid JSON object")
	}
	if dec.More() {
		return Entry{}, fail(ErrMalformed, "状态条目后有多余内容", "data follows the status entry")
	}
	if _, err := e.Validate(listBase); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// Validate checks that e is a revocation entry certd could have written for
// a list under listBase (the expected institution's list address, from its
// registration, not from the record), and returns its index. The index must
// be a canonical decimal (no sign, no leading zero) below MaxBits; whether
// it is inside the list is known only from the list (Credential.Check).
// The list URL must be listBase itself or below it at a path boundary
// ("…/status/jlvtc" does not cover "…/status/jlvtc2"): ErrForeignList
// otherwise.
func (e Entry) Validate(listBase string) (int, error) {
	i, err := e.index()
	if err != nil {
		return 0, err
	}
	if err := checkURL(listBase); err != nil {
		return 0, err
	}
	if err := checkURL(e.StatusListCredential); err != nil {
		return 0, err
	}
	base := strings.TrimSuffix(listBase, "/")
	if e.StatusListCredential != base && !strings.HasPrefix(e.StatusListCredential, base+"/") {
		return 0, fail(ErrForeignList, "列表 %s 不在 %s 下", "list %s is not under %s", e.StatusListCredential, listBase)
	}
	return i, nil
}

// index checks the members that do not depend on the institution.
func (e Entry) index() (int, error) {
	if e.Type != typeEntry {
		return 0, fail(ErrMalformed, "条目类型 %q，应为 %s", "entry type %q, want %s", e.Type, typeEntry)
	}
	if e.StatusPurpose != PurposeRevocation {
		return 0, fail(ErrWrongPurpose, "用途为 %q", "purpose %q", e.StatusPurpose)
	}
	s := e.StatusListIndex
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') || strings.Trim(s, "0123456789") != "" {
		return 0, fail(ErrMalformed, "索引 %q 不是十进制非负整数", "index %q is not a decimal non-negative integer", s)
	}
	i, err := strconv.Atoi(s)
	if err != nil || i >= MaxBits {
		return 0, fail(ErrRange, "索引 %s 超出上限 %d", "index %s is above the limit of %d", s, MaxBits-1)
	}
	if e.ID != e.StatusListCredential+"#"+s {
		return 0, fail(ErrMalformed, "条目 id 应为 %s#%s", "entry id must be %s#%s", e.StatusListCredential, s)
	}
	return i, nil
}
