package storeutil

import (
	"context"
	"errors"
	"fmt"

	"certd/issuer"
)

// The constructors below are the only way the backends build classified
// errors, so that the Code a caller branches on and the wording a user reads
// are the same whichever engine is behind the store.

func bilingual(kind issuer.Kind, code, zh, en string) *issuer.Error {
	return &issuer.Error{Kind: kind, Code: code, Zh: zh, En: en}
}

// NotFound reports a missing record. what is a pair of nouns such as
// Certificate, key the identifier the caller looked for.
func NotFound(what Noun, key string) error {
	return bilingual(issuer.ErrNotFound, what.code+"_not_found",
		fmt.Sprintf("%s %s 不存在", what.zh, key), fmt.Sprintf("%s %s not found", what.en, key))
}

// Noun names a kind of record in both languages.
type Noun struct{ code, zh, en string }

var (
	Authority   = Noun{"authority", "认定主管部门", "authority"}
	Institution = Noun{"institution", "认定机构", "institution"}
	Certificate = Noun{"certificate", "证书", "certificate"}
	BatchNoun   = Noun{"batch", "批次", "batch"}
	PDF         = Noun{"pdf", "证书 PDF", "certificate PDF"}
	StatusList  = Noun{"status_list", "状态列表", "status list"}
	// PrintJobNoun is the print job of a batch, or a certificate's place in one.
	PrintJobNoun = Noun{"print_job", "待生成的证书 PDF", "pending print of"}
	Reference    = Noun{"reference", "关联记录", "referenced record"}
)

// AuthorityExists is returned by a second CreateAuthority.
func AuthorityExists() error {
	return bilingual(issuer.ErrConflict, "authority_exists", "认定主管部门已初始化", "the authority is already initialised")
}

// VersionConflict is returned when a PutInstitution does not follow the
// latest stored version: somebody else changed the institution first.
func VersionConflict(id string, got, latest int) error {
	return bilingual(issuer.ErrConflict, "version_conflict",
		fmt.Sprintf("认定机构 %s 已被他人修改（提交版本 %d，现有最新版本 %d），请刷新后重试", id, got, latest),
		fmt.Sprintf("institution %s was changed meanwhile (version %d submitted, latest is %d); reload and retry", id, got, latest))
}

// PrefixTaken is returned when a prefix belongs to another institution.
func PrefixTaken(prefix, owner string) error {
	zh := fmt.Sprintf("证书编号前缀 %s 已被其他认定机构使用", prefix)
	en := fmt.Sprintf("certificate number prefix %s belongs to another institution", prefix)
	if owner != "" {
		zh = fmt.Sprintf("证书编号前缀 %s 已被认定机构 %s 使用", prefix, owner)
		en = fmt.Sprintf("certificate number prefix %s belongs to institution %s", prefix, owner)
	}
	return bilingual(issuer.ErrConflict, "prefix_taken", zh, en)
}

// KeyTaken is returned when a key ID is already used by another institution.
func KeyTaken(kid string) error {
	return bilingual(issuer.ErrConflict, "kid_taken",
		fmt.Sprintf("密钥标识 %s 已属于其他认定机构", kid), fmt.Sprintf("key id %s belongs to another institution", kid))
}

// BatchExists is returned when the same roster was already issued.
func BatchExists(fingerprint, existing string) error {
	zh := "该名册已经发证，不能重复发证"
	en := "this roster was already issued"
	if existing != "" {
		zh = fmt.Sprintf("该名册已在批次 %s 中发证，不能重复发证", existing)
		en = fmt.Sprintf("this roster was already issued as batch %s", existing)
	}
	e := bilingual(issuer.ErrConflict, "batch_exists", zh, en)
	e.Err = fmt.Errorf("fingerprint %s", fingerprint)
	return e
}

// DuplicateHolding is returned when a person already holds a valid
// certificate for the same occupation, 工种 and level. number is the
// certificate they hold, "" when the engine did not say which; a zero k
// (a clash only the unique index caught, in a concurrent batch) gives the
// general message.
func DuplicateHolding(k issuer.HoldingKey, number string) error {
	if k == (issuer.HoldingKey{}) {
		return bilingual(issuer.ErrConflict, "duplicate_holding",
			"名册中有人已持有同一职业（工种）同一等级的有效证书", "someone in the roster already holds a valid certificate for the same occupation and level")
	}
	zh := fmt.Sprintf("持证人已持有同一职业（工种）%s 同一等级 %d 的有效证书", k.Occupation, int(k.Level))
	en := fmt.Sprintf("the holder already has a valid certificate for occupation %s at level %d", k.Occupation, int(k.Level))
	if number != "" {
		zh += "：" + number
		en += ": " + number
	}
	return bilingual(issuer.ErrConflict, "duplicate_holding", zh, en)
}

// NotValid is returned when a revocation or reissue finds the certificate
// already revoked or superseded.
func NotValid(number string, status issuer.Status) error {
	return bilingual(issuer.ErrConflict, "not_valid",
		fmt.Sprintf("证书 %s 当前状态为%s，不是有效证书", number, status.Chinese()),
		fmt.Sprintf("certificate %s is %s, not valid", number, status))
}

// StatusListVersionConflict is returned when a PutStatusList does not
// follow the latest stored version: another instance published first.
func StatusListVersionConflict(id string, got, latest int) error {
	return bilingual(issuer.ErrConflict, "status_list_version_conflict",
		fmt.Sprintf("认定机构 %s 的状态列表已有新版本（提交版本 %d，现有最新版本 %d）", id, got, latest),
		fmt.Sprintf("the status list of institution %s has a newer version (version %d submitted, latest is %d)", id, got, latest))
}

// SerialExhausted is returned when a counter would pass 999999.
func SerialExhausted(prefix string, year, level int) error {
	return bilingual(issuer.ErrConflict, "serial_exhausted",
		fmt.Sprintf("前缀 %s 在 %d 年 %d 级的证书流水号已用尽", prefix, year, level),
		fmt.Sprintf("serials for prefix %s, year %d, level %d are exhausted", prefix, year, level))
}

// Conflict is the fallback for a uniqueness clash the backend could not
// attribute to one of the cases above.
func Conflict(err error) error {
	e := bilingual(issuer.ErrConflict, "conflict", "数据与已有记录冲突", "the change clashes with stored data")
	e.Err = err
	return e
}

// Unavailable classifies a failure of the database itself. Context errors
// stay visible in the chain, so errors.Is(err, context.Canceled) still works.
//
// When the engine's error names a cause an operator can act on (a full
// disk, a read-only database: see [Cause]), the error says so, with what to
// do, under a code of its own: "try again later" would have them retry
// instead of freeing space. Whatever the cause, the kind is
// issuer.ErrUnavailable; public pages show their own "temporarily
// unavailable", never this message.
func Unavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	var ie *issuer.Error
	if errors.As(err, &ie) {
		return err
	}
	e := bilingual(issuer.ErrUnavailable, "database", "数据库暂时不可用，请稍后重试", "the database is unavailable; try again later")
	switch c := causeOf(err); {
	case c != NoCause:
		e = c.error()
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		e.Code = "canceled"
		e.Zh, e.En = "操作已取消或超时", "the operation was canceled or timed out"
	}
	e.Err = fmt.Errorf("%s: %w", op, err)
	return e
}

// Cause is why the database cannot do its part, as far as the engine says,
// when it is something an operator must act on rather than wait out. Each
// backend maps its engine's codes onto these ([RegisterCause]), so that the
// code a script branches on and the advice a person reads are the same
// whichever engine is behind the store.
type Cause int

const (
	// NoCause: nothing an operator can act on is known; the error is the
	// general "try again later".
	NoCause Cause = iota
	// DiskFull: SQLITE_FULL, PostgreSQL 53100 disk_full.
	DiskFull
	// ReadOnly: SQLITE_READONLY (file or directory not writable, a
	// read-only mount), PostgreSQL 25006 read_only_sql_transaction (a
	// standby, default_transaction_read_only).
	ReadOnly
	// DiskIO: SQLITE_IOERR, PostgreSQL 58030 io_error.
	DiskIO
	// CannotOpen: SQLITE_CANTOPEN, PostgreSQL 58P01 undefined_file.
	CannotOpen
	// Corrupt: SQLITE_CORRUPT, SQLITE_NOTADB, PostgreSQL XX001
	// data_corrupted, XX002 index_corrupted.
	Corrupt
	// OutOfMemory: SQLITE_NOMEM, PostgreSQL 53200 out_of_memory.
	OutOfMemory
	// TooManyConnections: PostgreSQL 53300 too_many_connections.
	TooManyConnections
	// NotAccepting: PostgreSQL 57P03 cannot_connect_now (starting up, in
	// recovery), 57P01 admin_shutdown, 57P02 crash_shutdown.
	NotAccepting
)

// causes is what each cause tells a person: the code, and what happened and
// what to do, in both languages.
var causes = map[Cause]struct{ code, zh, en string }{
	DiskFull: {"disk_full",
		"磁盘已满，数据库无法写入：请释放数据库所在磁盘的空间或扩容后重试（已写入的数据不受影响）",
		"the disk is full and the database cannot write: free space on the database's disk or grow it, then retry (nothing already written is lost)"},
	ReadOnly: {"database_read_only",
		"数据库处于只读状态，无法写入：请检查数据文件及其目录是否可写、磁盘是否以只读方式挂载，或 PostgreSQL 是否为只读备库或只读会话",
		"the database is read-only: check that the data file and its directory are writable and the disk is not mounted read-only, or that PostgreSQL is not a standby or a read-only session"},
	DiskIO: {"disk_io_error",
		"读写数据库时发生磁盘 I/O 错误：请检查磁盘和文件系统（系统日志、SMART），必要时从备份恢复",
		"a disk I/O error while reading or writing the database: check the disk and the file system (system log, SMART) and restore from a backup if need be"},
	CannotOpen: {"database_cannot_open",
		"无法打开数据库文件：请检查数据目录是否存在、是否已挂载、certd 是否有权读写",
		"cannot open the database file: check that the data directory exists, is mounted, and that certd may read and write it"},
	Corrupt: {"database_corrupt",
		"数据库文件已损坏：请停止写入并从备份恢复",
		"the database file is corrupt: stop writing to it and restore from a backup"},
	OutOfMemory: {"database_out_of_memory",
		"数据库内存不足：请检查数据库服务器的内存和配置",
		"the database ran out of memory: check the database server's memory and settings"},
	TooManyConnections: {"database_too_many_connections",
		"数据库连接数已满：请调高 PostgreSQL 的 max_connections，或减少实例数和连接池大小",
		"the database has no free connections: raise PostgreSQL's max_connections, or run fewer instances or smaller pools"},
	NotAccepting: {"database_not_accepting",
		"数据库正在启动、恢复或关闭，暂不接受连接：请确认数据库服务状态，待其就绪后重试",
		"the database is starting, recovering or shutting down and accepts no connections: check the database service and retry once it is up"},
}

// Code is the error code of the cause, "" for NoCause.
func (c Cause) Code() string { return causes[c].code }

func (c Cause) error() *issuer.Error {
	m := causes[c]
	return bilingual(issuer.ErrUnavailable, m.code, m.zh, m.en)
}

// readers are the backends' readers of their engines' errors.
var readers []func(error) Cause

// RegisterCause adds a backend's reader of its engine's errors, which names
// the [Cause] of an error of that engine and returns NoCause for any other
// error. Each backend registers one when its package is initialised; with
// both linked in, each recognises only its own engine's error type.
func RegisterCause(read func(error) Cause) { readers = append(readers, read) }

func causeOf(err error) Cause {
	for _, read := range readers {
		if c := read(err); c != NoCause {
			return c
		}
	}
	return NoCause
}

// JobWithOldBatch refuses a print job for a correction filed under an
// existing batch: a batch's job is recorded once, with the batch.
func JobWithOldBatch(batchID string) error {
	return bilingual(issuer.ErrInvalid, "print_job_existing_batch",
		fmt.Sprintf("批次 %s 已存在，更正补发不能为其另建打印任务", batchID), fmt.Sprintf("batch %s exists; a correction cannot add a print job to it", batchID))
}

// ExpectedDuplicate is a college listed twice in the expected list: the
// same name (as issuer.CollegeNameKey compares names) or the same code.
func ExpectedDuplicate(name string) error {
	return bilingual(issuer.ErrConflict, "expected_duplicate", "应备案院校名单中已有同名或同代码的院校（"+name+"）", "the list of expected colleges already has a college of this name or code ("+name+")")
}

// ExpectedNotFound is an expected college that is not in the list.
func ExpectedNotFound() error {
	return bilingual(issuer.ErrNotFound, "expected_unknown", "名单中没有这所院校", "no such college in the list")
}
