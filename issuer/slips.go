package issuer

import (
	"bytes"
	"context"
	"io"
	"net/url"

	"certd/issuer/render"
)

// VerifyURL is the public address of a certificate with its verification
// code, as its QR code has it: the link a college may mail to a holder.
func VerifyURL(publicURL string, c Certificate) string {
	return publicURL + "/v/" + url.PathEscape(c.Number) + "?c=" + url.QueryEscape(c.VerifyCode)
}

// ClaimURL is the holder pages' address with the number filled in.
func ClaimURL(publicURL, number string) string {
	return publicURL + "/me?n=" + url.QueryEscape(number)
}

// ClaimSlip is one certificate's claim slip with the holder code in force,
// for the college's operators (the code is theirs to hand over, not their
// auditors').
func (s *Service) ClaimSlip(ctx context.Context, actor Actor, number string) ([]byte, error) {
	c, err := s.Certificate(ctx, actor, number)
	if err != nil {
		return nil, err
	}
	if err := actor.MayActFor(c.InstitutionID); err != nil {
		return nil, err
	}
	if s.Printer == nil {
		return nil, errNoPrinter()
	}
	slips, err := s.slipsOf(ctx, c.InstitutionID, []Certificate{c})
	if err != nil {
		return nil, err
	}
	return s.Printer.base.Slip(slips[0])
}

// ClaimSlips writes a batch's claim slips, one page each in number order,
// as one PDF for plain paper (the certificates' print file goes on
// certificate stock).
func (s *Service) ClaimSlips(ctx context.Context, actor Actor, batchID string, w io.Writer) error {
	b, certs, err := s.batchCertificates(ctx, actor, batchID)
	if err != nil {
		return err
	}
	if err := actor.MayActFor(b.InstitutionID); err != nil {
		return err
	}
	if s.Printer == nil {
		return errNoPrinter()
	}
	slips, err := s.slipsOf(ctx, b.InstitutionID, certs)
	if err != nil {
		return err
	}
	if err := s.Printer.base.Slips(slips, w); err != nil {
		return err
	}
	return s.store.AppendAudit(ctx, s.event(actor, "batch.slips", b.InstitutionID, b.ID, map[string]any{"count": len(certs)}))
}

func (s *Service) slipsOf(ctx context.Context, institutionID string, certs []Certificate) ([]render.Slip, error) {
	in, err := s.store.Institution(ctx, institutionID)
	if err != nil {
		return nil, err
	}
	numbers := make([]string, len(certs))
	for i, c := range certs {
		numbers[i] = c.Number
	}
	rows, err := s.store.HolderCodes(ctx, numbers)
	if err != nil {
		return nil, err
	}
	out := make([]render.Slip, len(certs))
	for i, c := range certs {
		code := s.deriveHolderCode(c.Number, rows[c.Number].Generation)
		out[i] = render.Slip{Number: c.Number, InstitutionName: in.Name, Name: c.Holder.Name, OccupationName: c.OccupationName,
			LevelZh: c.Level.Chinese(), HolderCode: FormatHolderCode(code), ClaimURL: ClaimURL(s.Printer.publicURL, c.Number)}
	}
	return out, nil
}

// slipZipEntries are the claim slips of certs as 学号_姓名_编号_领取凭条.pdf entries
// of the batch ZIP, for an actor who may hand them out.
func (s *Service) slipZipEntries(ctx context.Context, institutionID string, certs []Certificate) ([]render.ZipEntry, error) {
	if s.Printer == nil {
		return nil, nil
	}
	slips, err := s.slipsOf(ctx, institutionID, certs)
	if err != nil {
		return nil, err
	}
	out := make([]render.ZipEntry, len(slips))
	for i, sl := range slips {
		var buf bytes.Buffer
		if err := s.Printer.base.Slips([]render.Slip{sl}, &buf); err != nil {
			return nil, err
		}
		out[i] = render.ZipEntry{Name: HandOutName(certs[i]) + slipSuffix, Data: buf.Bytes()}
	}
	return out, nil
}
