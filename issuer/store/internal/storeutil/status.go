package storeutil

import (
	"crypto/rand"

	"certd/issuer"
	"certd/issuer/statuslist"
)

// AllocStatus gives each of certs a status index drawn uniformly at random
// among the indexes of its institution's list that taken does not hold,
// and sets it in taken's place. The list is sized for what it will hold
// (issuer.StatusListSize), so it stays at most half full and a draw rarely
// misses. The backend must hold its institution-wide lock (or be the only
// writer) while it calls this and inserts the certificates: the unique
// index on (institution_id, status_index) is the last guard.
func AllocStatus(taken []int, certs []issuer.Certificate) error {
	maxIdx := -1
	for _, i := range taken {
		maxIdx = max(maxIdx, i)
	}
	n := issuer.StatusListSize(len(taken)+len(certs), maxIdx)
	used, err := statuslist.FromIndexes(n, taken)
	if err != nil {
		return err
	}
	for i := range certs {
		idx, err := used.RandomFree(rand.Reader)
		if err != nil {
			return issuer.Errorf(issuer.ErrConflict, "status_list_full", "本机构的状态列表已满", "the institution's status list is full")
		}
		if err := used.Set(idx, true); err != nil {
			return err
		}
		certs[i].StatusIndex = idx
	}
	return nil
}
