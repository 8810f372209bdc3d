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
	Reference   = Noun{"reference", "关联记录", "referenced record"}
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
func Unavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	var ie *issuer.Error
	if errors.As(err, &ie) {
		return err
	}
	e := bilingual(issuer.ErrUnavailable, "database", "数据库暂时不可用，请稍后重试", "the database is unavailable; try again later")
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		e.Code = "canceled"
		e.Zh, e.En = "操作已取消或超时", "the operation was canceled or timed out"
	}
	e.Err = fmt.Errorf("%s: %w", op, err)
	return e
}
