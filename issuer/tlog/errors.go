package tlog

import "errors"

// The named failures. Every error this package returns about untrusted input
// wraps exactly one of them, so callers (the verifier, the auditor, the HTTP
// edge) can tell what failed with errors.Is and show the bilingual text.
var (
	// ErrMalformedEntry: bytes that are not a canonical v1 entry.
	ErrMalformedEntry = errors.New("日志条目格式错误 / malformed log entry")
	// ErrMalformedRecord: a signed record that is not a strict compact JWS.
	ErrMalformedRecord = errors.New("签名记录格式错误 / malformed signed record")
	// ErrMalformedPolicy: a tlog-policy file that does not parse or is inconsistent.
	ErrMalformedPolicy = errors.New("日志信任策略格式错误 / malformed log policy")
	// ErrMalformedProof: a tlog-proof that does not parse.
	ErrMalformedProof = errors.New("日志证明格式错误 / malformed log proof")
	// ErrMalformedCheckpoint: a checkpoint that is not a well-formed signed note.
	ErrMalformedCheckpoint = errors.New("检查点格式错误 / malformed checkpoint")
	// ErrUnknownLog: no trusted log key signed the checkpoint (or its origin is unknown).
	ErrUnknownLog = errors.New("检查点不是由受信任的日志密钥签名 / checkpoint is not signed by a trusted log key")
	// ErrBadSignature: a signature by a trusted key does not verify.
	ErrBadSignature = errors.New("检查点上的签名无效 / a signature on the checkpoint does not verify")
	// ErrQuorum: the checkpoint lacks the cosignatures the policy requires.
	ErrQuorum = errors.New("见证人联署未达到法定数量 / the checkpoint lacks the witness quorum")
	// ErrInclusion: the inclusion proof does not lead from the entry to the checkpoint's root.
	ErrInclusion = errors.New("条目不在检查点所承诺的日志中 / the inclusion proof does not verify")
	// ErrInconsistent: two checkpoints of one log cannot both be true (a fork, a rollback, a rewrite).
	ErrInconsistent = errors.New("日志前后不一致，不是只追加的 / the log is not append-only: checkpoints are inconsistent")
	// ErrFilesMismatch: the log's tiles or entry bundles do not hash to its checkpoint.
	ErrFilesMismatch = errors.New("日志文件与检查点不符 / the log's files do not match its checkpoint")
	// ErrNotPublished: the entry is sequenced but no published checkpoint covers it yet.
	ErrNotPublished = errors.New("条目尚未进入已发布的检查点，请稍后再查 / the entry is not yet in a published checkpoint")
	// ErrNotFound: no such public log file.
	ErrNotFound = errors.New("没有该日志文件 / no such log file")
	// ErrLogInUse: another process holds the log directory for appending.
	ErrLogInUse = errors.New("日志目录正被另一个进程写入 / another process is appending to this log directory")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("日志已关闭 / the log is closed")
)
