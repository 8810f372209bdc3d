package tlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// Policy is a C2SP tlog-policy (https://c2sp.org/tlog-policy): the logs a
// verifier trusts, the witnesses, and the quorum of cosignatures a checkpoint
// needs. The trust bundle carries it; the log reads the witness URLs from it;
// `certd witness` reads the log keys from it.
//
// Build one with ParsePolicy, or fill the fields and call Validate.
type Policy struct {
	Logs      []PolicyLog
	Witnesses []PolicyWitness
	Groups    []PolicyGroup
	// Quorum names the witness or group whose cosignature a checkpoint needs,
	// or "none".
	Quorum string
}

// PolicyLog is a "log <vkey> [<url>]" line. The vkey's name is the log's
// origin line. A log listed twice with different keys (a key rotation)
// accepts checkpoints signed by either.
type PolicyLog struct {
	VKey string // signed-note verifier key, Ed25519 (type 0x01)
	URL  string // optional: where the log's tiles are served
}

// PolicyWitness is a "witness <name> <vkey> [<url>]" line.
type PolicyWitness struct {
	Name string
	VKey string // cosignature verifier key, Ed25519 cosignature/v1 (type 0x04)
	URL  string // optional: the witness's submission prefix (needed by the log)
}

// PolicyGroup is a "group <name> <k|any|all> <member>..." line: satisfied
// when at least Threshold of its members are.
type PolicyGroup struct {
	Name      string
	Threshold int
	Members   []string
}

// QuorumNone is the predefined quorum that needs no cosignature.
const QuorumNone = "none"

// Policy limits. The spec asks implementations to support at least 32 of
// each; a policy can arrive from a stranger's trust bundle, so it is bounded.
const (
	maxPolicySize    = 64 << 10
	maxPolicyEntries = 64
)

// keywords may not be used as names: tessera's parser (which the log side
// feeds) refuses them, and "none" is predefined.
var policyKeywords = map[string]bool{"log": true, "witness": true, "group": true, "quorum": true, "any": true, "all": true, "none": true}

// ParsePolicy parses the text form. Lines are separated by newlines; fields by
// spaces or tabs; blank lines and lines starting with "#" are ignored.
func ParsePolicy(b []byte) (*Policy, error) {
	if len(b) > maxPolicySize {
		return nil, policyErr("策略文件过大 / policy larger than %d bytes", maxPolicySize)
	}
	for i, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' || c == 0x7f {
			return nil, policyErr("第%d字节是不允许的控制字符 / control character at byte %d", i+1, i+1)
		}
	}
	p := &Policy{}
	quorums := 0
	defined := map[string]bool{}
	for n, line := range strings.Split(string(b), "\n") {
		fields := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' })
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		bad := func(zh, en string) error {
			return policyErr("第%d行：%s / line %d: %s", n+1, zh, n+1, en)
		}
		switch fields[0] {
		case "log":
			if len(fields) < 2 || len(fields) > 3 {
				return nil, bad("log 行格式错误", "want log <vkey> [<url>]")
			}
			l := PolicyLog{VKey: fields[1]}
			if len(fields) == 3 {
				l.URL = fields[2]
			}
			p.Logs = append(p.Logs, l)
		case "witness":
			if len(fields) < 3 || len(fields) > 4 {
				return nil, bad("witness 行格式错误", "want witness <name> <vkey> [<url>]")
			}
			w := PolicyWitness{Name: fields[1], VKey: fields[2]}
			if len(fields) == 4 {
				w.URL = fields[3]
			}
			p.Witnesses = append(p.Witnesses, w)
		case "group":
			if len(fields) < 4 {
				return nil, bad("group 行格式错误", "want group <name> <k|any|all> <member>...")
			}
			g := PolicyGroup{Name: fields[1], Members: fields[3:]}
			switch fields[2] {
			case "any":
				g.Threshold = 1
			case "all":
				g.Threshold = len(g.Members)
			default:
				k, err := strconv.Atoi(fields[2])
				if err != nil || strconv.Itoa(k) != fields[2] {
					return nil, bad("门限应为十进制数、any 或 all", "threshold must be a decimal number, any or all")
				}
				g.Threshold = k
			}
			p.Groups = append(p.Groups, g)
		case "quorum":
			if len(fields) != 2 {
				return nil, bad("quorum 行格式错误", "want quorum <name>")
			}
			quorums++
			p.Quorum = fields[1]
		default:
			return nil, bad(fmt.Sprintf("未知关键字 %q", fields[0]), fmt.Sprintf("unknown keyword %q", fields[0]))
		}
		// A group or the quorum may only name what earlier lines defined;
		// Validate below checks everything else.
		switch fields[0] {
		case "witness":
			defined[fields[1]] = true
		case "group":
			for _, m := range fields[3:] {
				if !defined[m] {
					return nil, bad(fmt.Sprintf("组引用了此前未定义的 %q", m), fmt.Sprintf("group names %q before it is defined", m))
				}
			}
			defined[fields[1]] = true
		case "quorum":
			if fields[1] != QuorumNone && !defined[fields[1]] {
				return nil, bad(fmt.Sprintf("quorum 引用了此前未定义的 %q", fields[1]), fmt.Sprintf("quorum names %q before it is defined", fields[1]))
			}
		}
		if len(p.Logs)+len(p.Witnesses)+len(p.Groups) > 3*maxPolicyEntries {
			return nil, policyErr("策略条目过多 / too many policy lines")
		}
	}
	if quorums != 1 {
		return nil, policyErr("策略必须恰好有一行 quorum / a policy needs exactly one quorum line, found %d", quorums)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate checks keys, names, group thresholds and the quorum.
func (p *Policy) Validate() error {
	if len(p.Logs) > maxPolicyEntries || len(p.Witnesses) > maxPolicyEntries || len(p.Groups) > maxPolicyEntries {
		return policyErr("日志、见证人或组超过%d个 / more than %d logs, witnesses or groups", maxPolicyEntries, maxPolicyEntries)
	}
	seenKey := map[string]string{}
	key := func(vkey, who string) error {
		pub, err := vkeyPublic(vkey)
		if err != nil {
			return err
		}
		if other, dup := seenKey[string(pub)]; dup {
			return policyErr("%s 与 %s 使用同一公钥 / %s uses the same key as %s", who, other, who, other)
		}
		seenKey[string(pub)] = who
		return nil
	}
	for _, l := range p.Logs {
		if _, err := logVerifier(l.VKey); err != nil {
			return err
		}
		if err := key(l.VKey, "log "+vkeyName(l.VKey)); err != nil {
			return err
		}
		if err := checkURL(l.URL); err != nil {
			return err
		}
	}
	defined := map[string]bool{}
	name := func(n string) error {
		if policyKeywords[n] {
			return policyErr("名称 %q 不可用 / name %q is reserved or invalid", n, n)
		}
		if defined[n] {
			return policyErr("名称 %q 重复定义 / name %q defined twice", n, n)
		}
		defined[n] = true
		return nil
	}
	for _, w := range p.Witnesses {
		if err := name(w.Name); err != nil {
			return err
		}
		if _, err := witnessVerifier(w.VKey); err != nil {
			return err
		}
		if err := key(w.VKey, "witness "+w.Name); err != nil {
			return err
		}
		if err := checkURL(w.URL); err != nil {
			return err
		}
	}
	// Groups may only name what was defined before them; in a struct that
	// means witnesses and earlier groups.
	usedAsMember := map[string]bool{}
	for _, g := range p.Groups {
		for _, m := range g.Members {
			if !defined[m] {
				return policyErr("组 %s 引用了未定义的 %q / group %s names undefined %q", g.Name, m, g.Name, m)
			}
			if usedAsMember[m] {
				return policyErr("%q 在多个组中出现 / %q is a member more than once", m, m)
			}
			usedAsMember[m] = true
		}
		if err := name(g.Name); err != nil {
			return err
		}
		if g.Threshold < 1 || g.Threshold > len(g.Members) {
			return policyErr("组 %s 的门限 %d 不在1到%d之间 / group %s threshold %d not in 1..%d", g.Name, g.Threshold, len(g.Members), g.Name, g.Threshold, len(g.Members))
		}
	}
	if p.Quorum != QuorumNone && !defined[p.Quorum] {
		return policyErr("quorum 引用了未定义的 %q / quorum names undefined %q", p.Quorum, p.Quorum)
	}
	return nil
}

// MarshalText writes the policy in canonical text form (numeric thresholds,
// one space between fields). ParsePolicy reads it back to an equal Policy.
func (p *Policy) MarshalText() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, l := range p.Logs {
		b.WriteString(strings.TrimSpace("log "+l.VKey+" "+l.URL) + "\n")
	}
	for _, w := range p.Witnesses {
		b.WriteString(strings.TrimSpace("witness "+w.Name+" "+w.VKey+" "+w.URL) + "\n")
	}
	for _, g := range p.Groups {
		fmt.Fprintf(&b, "group %s %d %s\n", g.Name, g.Threshold, strings.Join(g.Members, " "))
	}
	b.WriteString("quorum " + p.Quorum + "\n")
	return b.Bytes(), nil
}

// satisfied reports whether the witnesses in cosigned meet the quorum.
func (p *Policy) satisfied(cosigned map[string]bool) bool {
	if p.Quorum == QuorumNone {
		return true
	}
	groups := make(map[string]PolicyGroup, len(p.Groups))
	for _, g := range p.Groups {
		groups[g.Name] = g
	}
	// Validate guarantees the group graph is acyclic (names refer backwards).
	var eval func(name string) bool
	eval = func(name string) bool {
		g, ok := groups[name]
		if !ok {
			return cosigned[name]
		}
		n := 0
		for _, m := range g.Members {
			if eval(m) {
				n++
			}
		}
		return n >= g.Threshold
	}
	return eval(p.Quorum)
}

// tesseraText is the policy as tessera's NewWitnessGroupFromPolicy reads it:
// witnesses with their URLs, groups, the quorum. Tessera cuts lines at "#",
// which checkURL already refuses.
func (p *Policy) tesseraText() ([]byte, error) {
	var b bytes.Buffer
	for _, w := range p.Witnesses {
		if w.URL == "" {
			return nil, policyErr("见证人 %s 没有地址，日志无法请求联署 / witness %s has no URL for the log to ask", w.Name, w.Name)
		}
		b.WriteString("witness " + w.Name + " " + w.VKey + " " + w.URL + "\n")
	}
	for _, g := range p.Groups {
		fmt.Fprintf(&b, "group %s %d %s\n", g.Name, g.Threshold, strings.Join(g.Members, " "))
	}
	b.WriteString("quorum " + p.Quorum + "\n")
	return b.Bytes(), nil
}

// LogKey returns the policy's log verifier key whose public key is pub, or "".
func (p *Policy) LogKey(pub ed25519.PublicKey) string {
	for _, l := range p.Logs {
		if k, err := vkeyPublic(l.VKey); err == nil && bytes.Equal(k, pub) {
			return l.VKey
		}
	}
	return ""
}

func checkURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || strings.ContainsAny(s, "# \t") {
		return policyErr("地址 %q 无效（需要 http(s)，不含 #） / invalid URL %q (want http(s), no #)", s, s)
	}
	return nil
}

const (
	algEd25519     = 0x01
	algCosignature = 0x04
)

// vkeyParts splits name+hash+base64(alg||key) without judging the algorithm.
func vkeyParts(vkey string) (name string, alg byte, pub []byte, err error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash, b64, ok2 := strings.Cut(rest, "+")
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if !ok1 || !ok2 || len(hash) != 8 || err != nil || len(raw) != 1+ed25519.PublicKeySize || !validNoteName(name) {
		return "", 0, nil, policyErr("公钥 %q 不是有效的 vkey / %q is not a valid vkey", vkey, vkey)
	}
	return name, raw[0], raw[1:], nil
}

func vkeyName(vkey string) string {
	name, _, _ := strings.Cut(vkey, "+")
	return name
}

func vkeyPublic(vkey string) ([]byte, error) {
	_, _, pub, err := vkeyParts(vkey)
	return pub, err
}

// logVerifier parses a log's Ed25519 (type 0x01) vkey; note.NewVerifier
// checks the key hash.
func logVerifier(vkey string) (note.Verifier, error) {
	if _, alg, _, err := vkeyParts(vkey); err != nil {
		return nil, err
	} else if alg != algEd25519 {
		return nil, policyErr("日志公钥 %q 不是 Ed25519 类型 / log key %q is not of type Ed25519 (0x01)", vkey, vkey)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, policyErr("日志公钥 %q 无效 / invalid log key %q: %v", vkey, vkey, err)
	}
	return v, nil
}

// witnessVerifier parses a witness's cosignature/v1 (type 0x04) vkey. The
// formats package recomputes the key hash rather than checking it, so the
// hash written in the vkey is compared here.
func witnessVerifier(vkey string) (note.Verifier, error) {
	_, alg, _, err := vkeyParts(vkey)
	if err != nil {
		return nil, err
	}
	if alg != algCosignature {
		return nil, policyErr("见证人公钥 %q 不是 cosignature/v1 类型 / witness key %q is not of type cosignature/v1 (0x04)", vkey, vkey)
	}
	v, err := fnote.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return nil, policyErr("见证人公钥 %q 无效 / invalid witness key %q: %v", vkey, vkey, err)
	}
	_, rest, _ := strings.Cut(vkey, "+")
	if hash, _, _ := strings.Cut(rest, "+"); hash != fmt.Sprintf("%08x", v.KeyHash()) {
		return nil, policyErr("见证人公钥 %q 的哈希不符 / witness key %q has a wrong key hash", vkey, vkey)
	}
	return v, nil
}

// validNoteName is the signed-note rule for key names: non-empty, valid
// UTF-8, no Unicode space, no "+".
func validNoteName(name string) bool {
	return name != "" && utf8.ValidString(name) && !strings.Contains(name, "+") && strings.IndexFunc(name, unicode.IsSpace) < 0
}

func policyErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformedPolicy}, args...)...)
}
