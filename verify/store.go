package verify

import (
	"context"

	"certd/issuer"
	"certd/issuer/occupation"
)

// Store is what public verification reads from the issuer's store, and the
// one thing it writes: a count of failed confirmations per certificate and client,
// which no record depends on. No bug on the public side can change a
// record through it. Both store backends satisfy it (cmd/certd wires them,
// which checks that at compile time); tests wrap it to count or break
// reads.
type Store interface {
	// Authority, Institutions and InstitutionVersions are the registry:
	// the authority's key and every registration it signed, which make the
	// published trust bundle and the key set.
	Authority(ctx context.Context) (issuer.Authority, error)
	Institutions(ctx context.Context) ([]issuer.Institution, error)
	InstitutionVersions(ctx context.Context, id string) ([]issuer.Institution, error)
	// Occupations names the occupations of the institution directory.
	Occupations(ctx context.Context) ([]occupation.Occupation, error)
	// Certificates reads a batch of certificates by number
	// (CertificateFilter.Numbers); Certificate reads one.
	Certificate(ctx context.Context, number string) (issuer.Certificate, error)
	Certificates(ctx context.Context, f issuer.CertificateFilter) ([]issuer.Certificate, error)
	// Audit is read for changes made anywhere (by AfterSeq), to invalidate
	// what they touched.
	Audit(ctx context.Context, f issuer.AuditFilter) ([]issuer.AuditEvent, error)
	// Ping answers readiness checks.
	Ping(ctx context.Context) error

	// FailedConfirmations and AddFailedConfirmation count the failed
	// confirmations of a certificate's holder (a wrong name, or the right
	// name with a wrong ID number) on a day (days since 1970-01-01 UTC),
	// per client (a hashed client key) and in total, for the caps on
	// guessing when no Redis is configured: kept in the database, the caps
	// outlive a restart. Both return the client's count and the
	// certificate's total for the day; an unknown number is
	// issuer.ErrNotFound.
	FailedConfirmations(ctx context.Context, number, client string, day int64) (mine, total int, err error)
	AddFailedConfirmation(ctx context.Context, number, client string, day int64) (mine, total int, err error)

	// ShareLink reads a holder's share link by the hash of its token
	// (issuer.ErrNotFound if unknown), and AddShareViews adds the views
	// counted since the last call: counts only, nothing about a viewer,
	// and no record depends on them.
	ShareLink(ctx context.Context, tokenHash string) (issuer.ShareLink, error)
	AddShareViews(ctx context.Context, views []issuer.ShareView) error
}

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
	st := StatusInfo{Found: true, Status: string(c.Status), SupersededBy: c.SupersededBy, PDFSHA256: c.PDFSHA256, Token: c.Token,
		CredentialHash: CredentialHash(c.Credential)}
	if r := c.Revocation; r != nil {
		st.Reason, st.ReasonZh, st.Note, st.RevokedAt = r.Reason.English(), r.Reason.Chinese(), r.Note, r.At
	}
	return st
}
