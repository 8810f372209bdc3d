package verify

import (
	"context"

	"certd/issuer"
)

// StoreStatus answers status lookups from the issuer's store.
type StoreStatus struct {
	Store interface {
		Certificate(ctx context.Context, number string) (issuer.Certificate, error)
	}
}

// Status implements StatusSource.
func (s StoreStatus) Status(ctx context.Context, number string) (StatusInfo, error) {
	c, err := s.Store.Certificate(ctx, number)
	if issuer.Is(err, issuer.ErrNotFound) {
		return StatusInfo{}, nil
	}
	if err != nil {
		return StatusInfo{}, err
	}
	return StatusOf(c), nil
}

// StatusOf is the public status of a certificate record.
func StatusOf(c issuer.Certificate) StatusInfo {
	st := StatusInfo{Found: true, Status: string(c.Status), SupersededBy: c.SupersededBy, PDFSHA256: c.PDFSHA256, Token: c.Token}
	if r := c.Revocation; r != nil {
		st.Reason, st.ReasonZh, st.Note, st.RevokedAt = r.Reason.English(), r.Reason.Chinese(), r.Note, r.At
	}
	return st
}
