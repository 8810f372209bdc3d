package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	"certd/issuer"
	"certd/issuer/credential"
	"certd/verify"
)

// Directory is everything derived from the institutions at one reload: the
// verified registry that checks records, the documents published from it,
// and what the institution directory shows. It is replaced whole when an
// institution or the authority changes, never changed: share it, do not
// modify it.
type Directory struct {
	// Registry verifies records against every registration the authority
	// signed.
	Registry *verify.Registry
	// Institutions is the latest version of every institution, by ID.
	Institutions []issuer.Institution
	// TrustBundle is the published trust.json (credential.TrustBundle);
	// JWKS the key set, .well-known/jwks.json.
	TrustBundle, JWKS *Blob

	// fp names the registry: it is part of every Redis key, so a
	// registry change retires every shared view on every instance at once.
	fp          string
	byID        map[string]issuer.Institution
	versions    map[string][]issuer.Institution
	occupations map[string]string // code → name
}

// Institution returns the latest version of institution id.
func (d *Directory) Institution(id string) (issuer.Institution, bool) {
	in, ok := d.byID[id]
	return in, ok
}

// Versions returns every version of institution id, oldest first.
func (d *Directory) Versions(id string) []issuer.Institution { return d.versions[id] }

// OccupationName names an occupation by its catalogue code, or returns the
// code when the catalogue lacks it.
func (d *Directory) OccupationName(code string) string {
	if name, ok := d.occupations[code]; ok {
		return name
	}
	return code
}

// reloadDirectory reads the authority and every institution with all its
// versions, verifies the registrations, and publishes the result. A
// directory whose registry did not change is not replaced, so that the
// views cached under it stay.
func (s *Service) reloadDirectory(ctx context.Context) error {
	a, err := s.store.Authority(ctx)
	if err != nil {
		return err
	}
	all, err := s.store.Institutions(ctx)
	if err != nil {
		return err
	}
	occ, err := s.store.Occupations(ctx)
	if err != nil {
		return err
	}
	// GeneratedAt stays zero, so that the published bundle (and its ETag)
	// changes only when the registry does.
	tb := credential.TrustBundle{Format: credential.TrustFormat, LogPolicy: s.opt.LogPolicy,
		Authority: credential.Authority{ID: credential.AuthorityID, Name: a.Name, JWK: credential.NewJWK(a.PublicKey)}}
	d := &Directory{Institutions: all, byID: map[string]issuer.Institution{},
		versions: map[string][]issuer.Institution{}, occupations: map[string]string{}}
	for _, o := range occ {
		d.occupations[o.Code] = o.Name
	}
	for _, in := range all {
		d.byID[in.ID] = in
		vs, err := s.store.InstitutionVersions(ctx, in.ID)
		if err != nil {
			return err
		}
		d.versions[in.ID] = vs
		for _, v := range vs {
			tb.Registrations = append(tb.Registrations, v.Token)
		}
	}
	if d.Registry, err = verify.NewRegistry(&tb); err != nil {
		return err
	}
	toks := slices.Clone(tb.Registrations)
	slices.Sort(toks)
	h := sha256.New()
	h.Write([]byte(tb.Authority.JWK.Kid))
	for _, t := range toks {
		h.Write([]byte{0})
		h.Write([]byte(t))
	}
	d.fp = hex.EncodeToString(h.Sum(nil))[:16]
	bundle, _ := json.MarshalIndent(tb, "", "  ")
	d.TrustBundle, d.JWKS = NewBlob(bundle), NewBlob(d.Registry.JWKS())
	if old := s.dir.Load(); old != nil && old.fp == d.fp {
		return nil
	}
	s.mu.Lock()
	s.gen++
	s.dir.Store(d)
	s.mu.Unlock()
	s.l1.InvalidateAll()
	return nil
}
