package issuer

import (
	"context"
	"strings"

	"certd/issuer/occupation"
)

// SetFees publishes a college's fee schedule (收费标准) as a new version of
// its institution record. A college administrator may publish its own
// college's fees; fees must be public, so every change is a version that
// stays on record with who made it. Publishing the schedule in force again
// makes no version (see putVersion).
func (s *Service) SetFees(ctx context.Context, actor Actor, id string, fees []FeeSpec) (Institution, error) {
	if err := actor.MayActFor(id); err != nil {
		return Institution{}, err
	}
	if len(fees) > 500 {
		return Institution{}, Errorf(ErrInvalid, "fees_too_many", "收费标准不能超过500项", "at most 500 fee lines")
	}
	cat, err := s.catalogue(ctx)
	if err != nil {
		return Institution{}, err
	}
	var fe fieldErrors
	var out []Fee
	for i, f := range fees {
		code := occupation.NormalizeCode(f.Occupation)
		l, okL := occupation.ParseLevel(f.Level)
		fen, okA := parseYuan(f.Amount)
		basis := strings.TrimSpace(f.Basis)
		if !okL || !okA || !ValidCodeIn(cat, code) || len([]rune(basis)) > 200 {
			fe.add("收费标准第%d项无效（职业、等级、金额或依据）", "fee line %d is invalid (occupation, level, amount or basis)", i+1)
			continue
		}
		out = append(out, Fee{Occupation: code, Level: l, AmountFen: fen, Basis: basis})
	}
	if err := fe.err("fees_invalid"); err != nil {
		return Institution{}, err
	}
	cur, err := s.store.Institution(ctx, id)
	if err != nil {
		return Institution{}, notFoundInstitution(err, id)
	}
	in := cur.clone()
	in.Version++
	in.Fees = out
	return s.putVersion(ctx, actor, &cur, in, nil, "institution.fees", map[string]any{"lines": len(out)})
}
