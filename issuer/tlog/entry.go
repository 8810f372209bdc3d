package tlog

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// EntryHeader is the first line of every entry. A later format gets a new
// header; a decoder never guesses.
const EntryHeader = "certd.tlog.entry/v1"

// MaxEntrySize bounds an encoded entry. The longest v1 entry (a reissue) is
// about 330 bytes; the bound keeps entry bundles small for monitors.
const MaxEntrySize = 1024

// Kind is what happened.
type Kind string

// The kinds of event certd logs.
const (
	Issued       Kind = "issued"       // a certificate was signed
	Revoked      Kind = "revoked"      // a certificate was revoked
	Reissued     Kind = "reissued"     // a correction: a new certificate superseding Replaces
	Registration Kind = "registration" // the authority signed a version of an institution's registration
	KeyAdded     Kind = "key-added"    // an institution key entered a registration
	KeyRetired   Kind = "key-retired"  // an institution key's window was closed
)

// Kinds lists every kind in a fixed order (reports use it).
var Kinds = []Kind{Issued, Revoked, Reissued, Registration, KeyAdded, KeyRetired}

// Certificate reports whether entries of this kind describe a certificate
// (and so carry occupation, level and the number commitment).
func (k Kind) Certificate() bool { return k == Issued || k == Revoked || k == Reissued }

// Hash is a SHA-256 commitment.
type Hash [sha256.Size]byte

// IsZero reports whether h is unset.
func (h Hash) IsZero() bool { return h == Hash{} }

func (h Hash) String() string { return base64.StdEncoding.EncodeToString(h[:]) }

// Entry is one logged event. It holds no personal data: the certificate
// number appears only salted and hashed, and the signed record only hashed.
//
// Which fields a kind carries is fixed by the format (see fieldsOf); a field
// the kind does not carry must be left zero.
type Entry struct {
	Kind        Kind
	Institution string // registered institution ID, e.g. "jlvtc"
	// KeyID is an RFC 7638 thumbprint: for certificate kinds the institution
	// key that signed the record, for Registration the authority key that
	// signed it, for key events the key added or retired.
	KeyID      string
	Occupation string // 大典 code "d-dd-dd-dd" (certificate kinds)
	Level      int    // 1 (高级技师) to 5 (初级工) (certificate kinds)
	Day        string // civil date of the event in China Standard Time, YYYY-MM-DD
	Number     Hash   // CommitNumber of the certificate number (certificate kinds)
	Replaces   Hash   // Reissued only: the Number commitment of the superseded certificate
	Record     Hash   // CommitRecord of the signed record (certificate or registration token)
}

// field names, in the order they are written.
const (
	fKind = iota
	fInstitution
	fKey
	fOccupation
	fLevel
	fDay
	fNumber
	fReplaces
	fRecord
	nFields
)

var fieldNames = [nFields]string{"kind", "institution", "key", "occupation", "level", "day", "number", "replaces", "record"}

// fieldsOf says which fields a kind carries. Every listed field is required.
func fieldsOf(k Kind) ([nFields]bool, bool) {
	var f [nFields]bool
	set := func(ids ...int) {
		for _, i := range ids {
			f[i] = true
		}
	}
	switch k {
	case Issued, Revoked:
		set(fKind, fInstitution, fKey, fOccupation, fLevel, fDay, fNumber, fRecord)
	case Reissued:
		set(fKind, fInstitution, fKey, fOccupation, fLevel, fDay, fNumber, fReplaces, fRecord)
	case Registration, KeyAdded, KeyRetired:
		set(fKind, fInstitution, fKey, fDay, fRecord)
	default:
		return f, false
	}
	return f, true
}

var (
	institutionPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,31}$`)
	occupationPattern  = regexp.MustCompile(`^[1-8]-[0-9]{2}-[0-9]{2}-[0-9]{2}$`)
	keyIDPattern       = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
)

// Validate checks e against the v1 format: the right fields for its kind,
// each well formed, and nothing else.
func (e Entry) Validate() error {
	want, ok := fieldsOf(e.Kind)
	if !ok {
		return entryErr("未知的条目类型 %q / unknown entry kind %q", e.Kind, e.Kind)
	}
	have := e.present()
	for i := range nFields {
		if want[i] && !have[i] {
			return entryErr("%s 条目缺少字段 %s / %s entry lacks field %s", e.Kind, fieldNames[i], e.Kind, fieldNames[i])
		}
		if !want[i] && have[i] {
			return entryErr("%s 条目不应有字段 %s / %s entry must not carry field %s", e.Kind, fieldNames[i], e.Kind, fieldNames[i])
		}
	}
	if !institutionPattern.MatchString(e.Institution) {
		return entryErr("机构标识格式错误 / malformed institution id %q", e.Institution)
	}
	if !validKeyID(e.KeyID) {
		return entryErr("密钥标识格式错误 / malformed key id %q", e.KeyID)
	}
	if want[fOccupation] && !occupationPattern.MatchString(e.Occupation) {
		return entryErr("职业编码格式错误 / malformed occupation code %q", e.Occupation)
	}
	if want[fLevel] && (e.Level < 1 || e.Level > 5) {
		return entryErr("等级应为1至5 / level must be 1 to 5, got %d", e.Level)
	}
	if d, err := time.Parse(time.DateOnly, e.Day); err != nil || d.Format(time.DateOnly) != e.Day {
		return entryErr("日期格式错误 / malformed day %q", e.Day)
	}
	return nil
}

func (e Entry) present() [nFields]bool {
	return [nFields]bool{
		fKind:        e.Kind != "",
		fInstitution: e.Institution != "",
		fKey:         e.KeyID != "",
		fOccupation:  e.Occupation != "",
		fLevel:       e.Level != 0,
		fDay:         e.Day != "",
		fNumber:      !e.Number.IsZero(),
		fReplaces:    !e.Replaces.IsZero(),
		fRecord:      !e.Record.IsZero(),
	}
}

func validKeyID(s string) bool {
	if !keyIDPattern.MatchString(s) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// Encode returns the canonical v1 serialisation: the header line, then one
// "name value" line per field the kind carries, in the fixed order kind,
// institution, key, occupation, level, day, number, replaces, record. Hashes
// are standard padded base64. Every line ends in a newline. Two equal entries
// always encode to the same bytes, and Decode accepts only those bytes.
func (e Entry) Encode() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	want, _ := fieldsOf(e.Kind)
	values := [nFields]string{
		fKind:        string(e.Kind),
		fInstitution: e.Institution,
		fKey:         e.KeyID,
		fOccupation:  e.Occupation,
		fLevel:       strconv.Itoa(e.Level),
		fDay:         e.Day,
		fNumber:      e.Number.String(),
		fReplaces:    e.Replaces.String(),
		fRecord:      e.Record.String(),
	}
	var b bytes.Buffer
	b.WriteString(EntryHeader + "\n")
	for i := range nFields {
		if want[i] {
			b.WriteString(fieldNames[i] + " " + values[i] + "\n")
		}
	}
	return b.Bytes(), nil
}

// DecodeEntry parses a canonical v1 entry. Anything Encode would not have
// produced (other order, extra spaces, unpadded base64, a field the kind does
// not carry) is refused, so an entry has exactly one byte form.
func DecodeEntry(b []byte) (Entry, error) {
	if len(b) > MaxEntrySize {
		return Entry{}, entryErr("条目过长 / entry longer than %d bytes", MaxEntrySize)
	}
	text, ok := strings.CutSuffix(string(b), "\n")
	if !ok {
		return Entry{}, entryErr("条目应以换行结尾 / entry must end with a newline")
	}
	lines := strings.Split(text, "\n")
	if lines[0] != EntryHeader {
		return Entry{}, entryErr("条目格式版本未知 / unknown entry format %q", lines[0])
	}
	var e Entry
	var seen [nFields]bool
	last := -1
	for _, line := range lines[1:] {
		name, value, ok := strings.Cut(line, " ")
		if !ok || value == "" {
			return Entry{}, entryErr("条目行格式错误 / malformed entry line %q", line)
		}
		i := fieldIndex(name)
		if i < 0 || i <= last {
			return Entry{}, entryErr("条目字段未知或顺序错误 / unknown or misplaced field %q", name)
		}
		last, seen[i] = i, true
		var err error
		switch i {
		case fKind:
			e.Kind = Kind(value)
		case fInstitution:
			e.Institution = value
		case fKey:
			e.KeyID = value
		case fOccupation:
			e.Occupation = value
		case fLevel:
			e.Level, err = strconv.Atoi(value)
			if err != nil || strconv.Itoa(e.Level) != value {
				return Entry{}, entryErr("等级格式错误 / malformed level %q", value)
			}
		case fDay:
			e.Day = value
		case fNumber:
			e.Number, err = parseHash(value)
		case fReplaces:
			e.Replaces, err = parseHash(value)
		case fRecord:
			e.Record, err = parseHash(value)
		}
		if err != nil {
			return Entry{}, err
		}
	}
	if err := e.Validate(); err != nil {
		return Entry{}, err
	}
	// A zero hash or level written out explicitly would decode to "absent";
	// re-encoding catches that and any other second spelling.
	if again, _ := e.Encode(); !bytes.Equal(again, b) {
		return Entry{}, entryErr("条目不是规范形式 / entry is not in canonical form")
	}
	return e, nil
}

func fieldIndex(name string) int {
	for i, n := range fieldNames {
		if n == name {
			return i
		}
	}
	return -1
}

func parseHash(s string) (Hash, error) {
	var h Hash
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, entryErr("哈希格式错误 / malformed hash %q", s)
	}
	copy(h[:], b)
	return h, nil
}

func entryErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformedEntry}, args...)...)
}

// SaltSize is the length of the per-certificate salt of CommitNumber.
const SaltSize = 32

// NewSalt returns a fresh random salt for CommitNumber. certd keeps it with
// the certificate and reveals it only in that certificate's proof.
func NewSalt() ([]byte, error) {
	s := make([]byte, SaltSize)
	if _, err := rand.Read(s); err != nil {
		return nil, err
	}
	return s, nil
}

// CommitNumber commits to a certificate number:
//
//	SHA-256("certd.tlog.number/v1" || 0x00 || salt || number)
//
// The 32-byte random salt makes the commitment useless for guessing numbers
// (which follow a public pattern) unless the salt is revealed.
func CommitNumber(salt []byte, number string) (Hash, error) {
	if len(salt) != SaltSize {
		return Hash{}, fmt.Errorf("盐值应为%d字节 / salt must be %d bytes, got %d", SaltSize, SaltSize, len(salt))
	}
	if number == "" {
		return Hash{}, fmt.Errorf("证书编号为空 / empty certificate number")
	}
	h := sha256.New()
	h.Write([]byte("certd.tlog.number/v1\x00"))
	h.Write(salt)
	h.Write([]byte(number))
	return Hash(h.Sum(nil)), nil
}

var strictB64URL = base64.RawURLEncoding.Strict()

// CommitRecord commits to what a compact JWS signs, independent of how the
// base64url was spelled:
//
//	SHA-256("certd.tlog.record/v1" || 0x00 || uint64be(len(header)) || header || payload)
//
// where header and payload are the decoded bytes of the first two segments.
// Decoding is strict (no padding, no stray bits), so a token whose segments
// could be re-encoded differently is refused rather than committed to twice.
// The signature is not covered: the commitment is to what was signed.
func CommitRecord(jws string) (Hash, error) {
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return Hash{}, fmt.Errorf("%w: 不是紧凑JWS（需要三段） / not a compact JWS (want 3 segments)", ErrMalformedRecord)
	}
	var seg [3][]byte
	for i, p := range parts {
		b, err := strictB64URL.DecodeString(p)
		if err != nil || len(b) == 0 {
			return Hash{}, fmt.Errorf("%w: 第%d段不是严格的base64url / segment %d is not strict base64url", ErrMalformedRecord, i+1, i+1)
		}
		seg[i] = b
	}
	h := sha256.New()
	h.Write([]byte("certd.tlog.record/v1\x00"))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(seg[0]))))
	h.Write(seg[0])
	h.Write(seg[1])
	return Hash(h.Sum(nil)), nil
}

// DayOf is the civil date of t in China Standard Time, as entries carry it.
func DayOf(t time.Time) string {
	return t.In(chinaTime).Format(time.DateOnly)
}

var chinaTime = time.FixedZone("CST", 8*3600)
