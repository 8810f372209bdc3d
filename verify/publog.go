package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"certd/issuer"
	"certd/issuer/publog"
	"certd/issuer/tlog"
)

// LogSource says whether a stored certificate is in the public log.
type LogSource interface {
	LogCheck(ctx context.Context, c issuer.Certificate) Check
}

// Prover gives a certificate's tlog-proof (publog.Prover).
type Prover interface {
	Proof(ctx context.Context, number string) ([]byte, error)
}

// LogProofs checks each certificate the way an offline verifier would: it
// fetches the certificate's proof and verifies it against the trust
// bundle's policy (log key, witnesses' quorum, inclusion of the entry
// rebuilt from the record). A database that merely claims an index proves
// nothing.
type LogProofs struct {
	Prover Prover
	Policy *tlog.Policy
}

// LogCheck implements LogSource.
func (l LogProofs) LogCheck(ctx context.Context, c issuer.Certificate) Check {
	lbl := checkLabels[CheckLog]
	ch := Check{ID: CheckLog, Zh: lbl[0], En: lbl[1]}
	proof, err := l.Prover.Proof(ctx, c.Number)
	switch {
	case errors.Is(err, publog.ErrNotLogged):
		ch.Outcome, ch.DetailZh, ch.DetailEn = Fail, "公开日志中没有这张证书的签发记录", "the public log has no issuance entry for this certificate"
		return ch
	case errors.Is(err, tlog.ErrNotPublished):
		ch.Outcome, ch.DetailZh, ch.DetailEn = Unknown, "证书刚刚签发，尚未进入见证人联署的检查点，请几秒后再查", "just issued: not yet in a witnessed checkpoint; check again in a few seconds"
		return ch
	case err != nil:
		ch.Outcome, ch.DetailZh, ch.DetailEn = Unknown, "暂时无法读取公开日志", "the public log cannot be read right now"
		return ch
	}
	return CheckLogProof(l.Policy, proof, c.Token)
}

// CheckLogProof verifies a certificate's tlog-proof offline against a
// policy and says what it established, or names what failed.
func CheckLogProof(p *tlog.Policy, proof []byte, token string) Check {
	lbl := checkLabels[CheckLog]
	ch := Check{ID: CheckLog, Zh: lbl[0], En: lbl[1]}
	inc, err := publog.VerifyRecord(p, proof, token)
	if err != nil {
		ch.Outcome = Fail
		ch.DetailZh, ch.DetailEn = splitBilingual(err)
		return ch
	}
	ch.Outcome = Pass
	at := inc.Checkpoint.NotAfter
	when, whenEn := "", ""
	if !at.IsZero() {
		when = "；见证人于 " + at.In(issuer.ChinaTime).Format("2006-01-02 15:04:05") + "（北京时间）前联署，证书不晚于此时签发"
		whenEn = "; cosigned by the witnesses by " + at.UTC().Format(time.RFC3339) + ", so issued no later than that"
	}
	ch.DetailZh = fmt.Sprintf("日志条目 #%d，检查点大小 %d%s", inc.Index, inc.Checkpoint.Size, when)
	ch.DetailEn = fmt.Sprintf("log entry #%d, checkpoint of size %d%s", inc.Index, inc.Checkpoint.Size, whenEn)
	return ch
}

// splitBilingual reads the named tlog failure ("中文 / English").
func splitBilingual(err error) (string, string) {
	for _, e := range []error{tlog.ErrInclusion, tlog.ErrQuorum, tlog.ErrUnknownLog, tlog.ErrBadSignature, tlog.ErrMalformedProof, tlog.ErrMalformedCheckpoint} {
		if errors.Is(err, e) {
			zh, en, _ := cutSlash(e.Error())
			return zh, en
		}
	}
	return "公开日志证明无效", "the public log proof does not verify"
}

func cutSlash(s string) (string, string, bool) {
	for i := 0; i+3 <= len(s); i++ {
		if s[i:i+3] == " / " {
			return s[:i], s[i+3:], true
		}
	}
	return s, s, false
}
