package issuer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"certd/issuer/credential"
	"certd/issuer/statuslist"
)

// DefaultStatusTTL is how long a published status list may be relied on
// (its ttl) unless configured otherwise. It bounds how long a verifier that
// caches the list, or a CDN, can miss a revocation; a list is re-signed
// when half of it has passed, so the latest list is always fresh.
const DefaultStatusTTL = 10 * time.Minute

// statusClock is the time a list is signed at: to the millisecond, the
// unit of ttl, so that two versions made within a second stay ordered.
func (s *Service) statusClock() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Millisecond)
	}
	return time.Now().UTC().Truncate(time.Millisecond)
}

// PublishStatusList makes and stores a new version of institution id's
// status list: a bit set for every certificate that is not valid (revoked,
// or superseded by a correction), signed with the institution's current
// key. Certificates issued before lists existed are given an index first.
//
// The latest version is read before the bits, so a publisher that read
// older bits than another loses the race on the version number; the loser
// starts again, so the version stored last always holds the latest bits.
// A suspended or withdrawn institution's list is still published: what it
// revoked must stay visible.
func (s *Service) PublishStatusList(ctx context.Context, id string, ttl time.Duration) (StatusList, error) {
	if ttl <= 0 {
		ttl = DefaultStatusTTL
	}
	in, err := s.store.Institution(ctx, id)
	if err != nil {
		return StatusList{}, notFoundInstitution(err, id)
	}
	if _, err := s.store.FillStatusIndexes(ctx, id); err != nil {
		return StatusList{}, err
	}
	_, priv, err := s.signingKey(ctx, in)
	if err != nil {
		return StatusList{}, err
	}
	for attempt := 0; ; attempt++ {
		version := 1
		switch latest, err := s.store.StatusList(ctx, id, 0); {
		case err == nil:
			version = latest.Version + 1
		case !Is(err, ErrNotFound):
			return StatusList{}, err
		}
		// The list speaks for the time it is dated: taken before the bits
		// are read, every change committed by then is in them.
		validFrom := s.statusClock()
		bits, err := s.store.StatusBits(ctx, id)
		if err != nil {
			return StatusList{}, err
		}
		size := StatusListSize(bits.Allocated, bits.MaxIndex)
		list, err := statuslist.FromIndexes(size, bits.Set)
		if err != nil {
			return StatusList{}, err
		}
		c := &statuslist.Credential{ID: s.StatusListURL(id), Issuer: credential.InstitutionURN(id),
			ValidFrom: validFrom, TTL: ttl, List: list}
		tok, err := c.Sign(priv)
		if err != nil {
			return StatusList{}, err
		}
		l := StatusList{InstitutionID: id, Version: version, ValidFrom: c.ValidFrom, TTL: ttl, Size: size, Revoked: len(bits.Set), Token: tok,
			BitsDigest: StatusBitsDigest(size, bits.Set)}
		err = s.store.PutStatusList(ctx, l)
		if err == nil {
			return l, nil
		}
		if !Is(err, ErrConflict) || attempt == 4 {
			return StatusList{}, err
		}
	}
}

// StatusBitsDigest names a list's content, its size and the indexes set
// (in ascending order, as StatusBits returns them), so that a re-signing of
// unchanged bits can be told from a change without decoding stored lists.
func StatusBitsDigest(size int, set []int) string {
	h := sha256.New()
	var b [binary.MaxVarintLen64]byte
	h.Write(b[:binary.PutUvarint(b[:], uint64(size))]) // #nosec G115 -- sizes and indexes are never negative
	for _, i := range set {
		h.Write(b[:binary.PutUvarint(b[:], uint64(i))]) // #nosec G115 -- indexes are never negative
	}
	return hex.EncodeToString(h.Sum(nil))
}

// StatusList returns version v of institution id's published list, the
// latest for v 0. Lists are public: anyone may read them.
func (s *Service) StatusList(ctx context.Context, id string, v int) (StatusList, error) {
	return s.store.StatusList(ctx, id, v)
}

// FreshStatusLists publishes a new version of every institution's list
// and returns them. The trust export uses it, so that an export covers
// every certificate signed up to a second before it and stays fresh for a
// whole ttl, even when no server runs to publish lists.
func (s *Service) FreshStatusLists(ctx context.Context, ttl time.Duration) ([]StatusList, error) {
	ins, err := s.store.Institutions(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]StatusList, 0, len(ins))
	for _, in := range ins {
		l, err := s.PublishStatusList(ctx, in.ID, ttl)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}
