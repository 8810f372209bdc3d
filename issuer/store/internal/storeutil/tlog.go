package storeutil

import (
	"fmt"

	"certd/issuer"
)

// LogKeyNoun names the public log's key in errors.
var LogKeyNoun = Noun{"log_key", "公开日志密钥", "public log key"}

// LogKeyExists is returned by a second CreateLogKey.
func LogKeyExists() error {
	return bilingual(issuer.ErrConflict, "log_key_exists", "公开日志密钥已存在", "the public log key already exists")
}

// LogIndexConflict is returned when SetLogIndexes would give a row a second
// index or an index a second row: the sequencer's view disagrees with the
// outbox, and nothing is recorded.
func LogIndexConflict(id int64, index uint64) error {
	return bilingual(issuer.ErrConflict, "log_index_conflict",
		fmt.Sprintf("日志发件箱第 %d 行不能记为日志条目 %d（已有其他索引或该索引已被占用）", id, index),
		fmt.Sprintf("outbox row %d cannot be recorded as log entry %d (it has another index, or the index is taken)", id, index))
}

// LogSequencerBusy is returned by LockSequencer when another instance holds
// the sequencer lock.
func LogSequencerBusy() error {
	return bilingual(issuer.ErrConflict, "log_sequencer_busy", "另一个实例正在向公开日志写入", "another instance is the public log's sequencer")
}
