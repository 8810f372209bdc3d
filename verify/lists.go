package verify

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"certd/issuer"
	"certd/issuer/credential"
	"certd/issuer/statuslist"
)

// StatusList is one institution's status list as an offline verifier holds
// it: from a trust bundle or a file the user gave (Source), checked with
// the institution's registered keys. Err is why it could not be used (a
// list signed with a key that is not the institution's, a bad encoding...):
// a certificate of that institution is then "cannot determine", never
// "valid".
type StatusList struct {
	Institution string
	Source      string
	List        *statuslist.Credential
	Err         error
}

// Input is one thing a verdict was reached with, and its time: the trust
// bundle, a status list, the clock. An offline answer names every one, so
// that a reader knows as of when it holds.
type Input struct {
	What string    `json:"what"` // trust_bundle, status_list, clock
	Zh   string    `json:"zh"`
	En   string    `json:"en"`
	Time time.Time `json:"time"`
}

// lookup returns the key kid of institution inst that could sign at t,
// from the institution's latest registration (which carries every key it
// ever had, each with its window): never another institution's key.
func (r *Registry) lookup(inst string) statuslist.KeyLookup {
	return func(_, kid string, at time.Time) (ed25519.PublicKey, error) {
		reg, ok := r.Latest(inst)
		if !ok {
			return nil, fmt.Errorf("%w: %s", statuslist.ErrUnknownKey, inst)
		}
		for _, k := range reg.Keys {
			if k.JWK.Kid != kid {
				continue
			}
			if !k.Covers(at.Unix()) {
				return nil, fmt.Errorf("%w: key %s did not sign at %s", statuslist.ErrUnknownKey, kid, at.Format(time.RFC3339))
			}
			return k.JWK.PublicKey()
		}
		return nil, statuslist.ErrUnknownKey
	}
}

// StatusList checks a status list token of institution inst with the
// registry's keys.
func (r *Registry) StatusList(inst, token, source string) StatusList {
	c, err := statuslist.Parse(token, credential.InstitutionURN(inst), r.lookup(inst))
	return StatusList{Institution: inst, Source: source, List: c, Err: err}
}

// StatusListOf checks a status list token whose institution is read from
// its (unverified) payload; nothing in it counts until the signature of
// that institution's key is checked.
func (r *Registry) StatusListOf(token, source string) (StatusList, error) {
	parts := strings.Split(strings.TrimSpace(token), ".")
	if len(parts) != 3 || len(token) > statuslist.MaxTokenLen {
		return StatusList{}, errors.New("状态列表不是紧凑 JWS / the status list is not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var p struct {
		Issuer string `json:"issuer"`
	}
	if err != nil || json.Unmarshal(b, &p) != nil || !strings.HasPrefix(p.Issuer, "urn:certd:institution:") {
		return StatusList{}, errors.New("状态列表未指明发布机构 / the status list names no institution")
	}
	inst := strings.TrimPrefix(p.Issuer, "urn:certd:institution:")
	if !r.Known(inst) {
		return StatusList{}, fmt.Errorf("状态列表的发布机构 %s 不在信任包中 / the status list's institution %s is not in the trust bundle", inst, inst)
	}
	return r.StatusList(inst, strings.TrimSpace(token), source), nil
}

// StatusLists checks every status list a trust bundle carries; of two
// lists of one institution the later counts.
func (r *Registry) StatusLists(tb *credential.TrustBundle) map[string]StatusList {
	out := map[string]StatusList{}
	for _, l := range tb.StatusLists {
		sl := r.StatusList(l.Institution, l.Token, "trust bundle")
		if prev, ok := out[l.Institution]; ok && prev.List != nil && (sl.List == nil || !sl.List.ValidFrom.After(prev.List.ValidFrom)) {
			continue
		}
		out[l.Institution] = sl
	}
	return out
}

// Newer returns the later of two lists of one institution (a usable list
// beats one that failed).
func Newer(a, b StatusList) StatusList {
	switch {
	case a.List == nil:
		return b
	case b.List == nil:
		return a
	case b.List.ValidFrom.After(a.List.ValidFrom):
		return b
	}
	return a
}

func cst(t time.Time) string { return t.In(issuer.ChinaTime).Format("2006-01-02 15:04:05") }

// listStatus is the status check made from a status list (offline).
func (v *Verifier) listStatus(b *builder, res *Result, instID string, claims *credential.CertificateClaims, now time.Time) {
	if claims.CredentialStatus == nil {
		b.set(CheckStatus, Unknown, "此记录签发于状态列表启用之前，离线无法查询撤销状态；请到发证机构的查询网址核实",
			"this record predates status lists, so its revocation status cannot be checked offline; check with the issuer's verification service")
		return
	}
	sl, ok := v.Lists[instID]
	if !ok {
		b.set(CheckStatus, Unknown, "没有该机构的状态列表，无法确定是否撤销", "no status list of this institution was given: revocation cannot be determined")
		return
	}
	if sl.List == nil {
		b.set(CheckStatus, Unknown, "该机构的状态列表（"+sl.Source+"）不可用，无法确定是否撤销："+zhOf(sl.Err),
			"the institution's status list ("+sl.Source+") cannot be used, so revocation cannot be determined: "+enOf(sl.Err))
		return
	}
	l := sl.List
	res.Inputs = append(res.Inputs, Input{What: "status_list", Zh: "状态列表（" + sl.Source + "）", En: "status list (" + sl.Source + ")", Time: l.ValidFrom})
	e := statuslist.Entry(*claims.CredentialStatus)
	if _, err := e.Validate(l.ID); err != nil {
		b.set(CheckStatus, Fail, "记录的状态条目无效："+zhOf(err), "the record's status entry is not valid: "+enOf(err))
		return
	}
	asOf := cst(l.ValidFrom)
	st, err := l.Check(e, now, v.MaxAge)
	stale := errors.Is(err, statuslist.ErrStale) || errors.Is(err, statuslist.ErrNotYetValid)
	switch {
	case st == statuslist.Revoked:
		// A revocation is final: it holds whatever the list's age.
		res.Status = &StatusInfo{Found: true, Status: "revoked", AsOf: l.ValidFrom}
		b.set(CheckStatus, Fail, "状态列表（截至"+asOf+"，北京时间）显示此证书已撤销或已被更正的证书取代",
			"the status list (as of "+l.ValidFrom.UTC().Format(time.RFC3339)+") says this certificate was revoked or superseded by a corrected one")
	case err != nil && !stale:
		b.set(CheckStatus, Fail, "状态列表无法给出此证书的状态："+zhOf(err), "the status list cannot give this certificate's status: "+enOf(err))
	// iat is in whole seconds, cut down from the signing time: a list
	// covers the record only when made a full second after it.
	case claims.IssuedAt != nil && l.ValidFrom.Before(claims.IssuedAt.Add(time.Second)):
		b.set(CheckStatus, Unknown, "无法确定：状态列表截至"+asOf+"（北京时间），早于证书签发，需要更新的信任包或状态列表",
			"cannot determine: the status list is as of "+l.ValidFrom.UTC().Format(time.RFC3339)+", before the certificate was signed; a newer trust bundle or status list is needed")
	case stale:
		b.set(CheckStatus, Unknown, "无法确定，状态截至"+asOf+"（北京时间）："+zhOf(err),
			"cannot determine, status as of "+l.ValidFrom.UTC().Format(time.RFC3339)+": "+enOf(err))
	default:
		b.set(CheckStatus, Pass, "状态截至"+asOf+"（北京时间）：未撤销；状态列表在"+cst(l.FreshUntil())+"前有效",
			"status as of "+l.ValidFrom.UTC().Format(time.RFC3339)+": not revoked; the list is fresh until "+l.FreshUntil().UTC().Format(time.RFC3339))
	}
}

// zhOf and enOf split a statuslist error ("zh / en") for the two columns of
// a check.
func zhOf(err error) string {
	if err == nil {
		return ""
	}
	zh, _, _ := strings.Cut(err.Error(), " / ")
	return zh
}

func enOf(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if _, en, ok := strings.Cut(s, " / "); ok {
		return en
	}
	return s
}
