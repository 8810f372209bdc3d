package verify

// Conclusion is the one answer a viewer acts on: the certificate's verdict
// combined with what this viewer presented (the QR's verification code, a
// name, an ID number) and the issuing institution's standing now. The
// verdict says whether the certificate number is good; the conclusion says
// whether the paper in front of the viewer, for the person in front of
// them, is. A certificate that is valid but whose QR code carries another
// code (a forged paper reusing a real number), or whose holder is not the
// person named, must never read as a plain "valid".
type Conclusion string

const (
	// ConclusionValid: valid, and nothing presented disagrees with it.
	ConclusionValid Conclusion = "valid"
	// ConclusionCodeMismatch: the number is a real certificate, but the
	// verification code presented (the QR's ?c=, or typed from the paper)
	// is not its code. The paper was not made by the issuer for this
	// number: the forged-paper case.
	ConclusionCodeMismatch Conclusion = "code_mismatch"
	// ConclusionNameMismatch: the name presented is not the holder's.
	ConclusionNameMismatch Conclusion = "name_mismatch"
	// ConclusionIDMismatch: the name matches, the ID number does not.
	ConclusionIDMismatch Conclusion = "id_mismatch"
	// ConclusionHolderNotChecked: valid, but the name or the ID number
	// given could not be checked (the caps on guessing refused it): a row
	// that needs a person to look again.
	ConclusionHolderNotChecked Conclusion = "holder_not_checked"
	// ConclusionInstSuspended: valid (issued while the registration was in
	// force), but the institution is suspended now.
	ConclusionInstSuspended Conclusion = "valid_institution_suspended"
	// ConclusionInstWithdrawn: valid, but the institution's registration
	// has been withdrawn since.
	ConclusionInstWithdrawn Conclusion = "valid_institution_withdrawn"
)

// Tone is how a conclusion is shown: the colour of the verdict block.
type Tone string

const (
	ToneGood    Tone = "good"    // green
	ToneCaution Tone = "caution" // amber: valid, with something to know
	ToneBad     Tone = "bad"     // red: do not rely on it
	ToneNeutral Tone = "neutral" // grey: not found, cannot confirm
)

// HolderNotChecked is the conclusion of a verdict whose name or ID check
// was refused: the verdict itself when it already says "do not rely on it".
func HolderNotChecked(v Verdict) Conclusion {
	if c := Conclude(v, false, false, nil, ""); c != ConclusionValid && c != Conclusion(Stale) && c != Conclusion(Undecided) {
		return c
	}
	return ConclusionHolderNotChecked
}

// Conclude sums up a verdict with what the viewer presented. codeGiven and
// codeOK say whether a verification code came with the request and
// matched; m is a name confirmation (nil: none); current is the issuing
// institution's status now ("" when unknown). A verdict that already says
// "do not rely on it" (revoked, superseded, invalid, not found) stands as
// it is: a mismatch adds nothing to it.
func Conclude(v Verdict, codeGiven, codeOK bool, m *Match, current string) Conclusion {
	switch v {
	case Valid, Stale, Undecided:
	default:
		return Conclusion(v)
	}
	switch {
	case codeGiven && !codeOK:
		return ConclusionCodeMismatch
	case m != nil && !m.Name:
		return ConclusionNameMismatch
	case m != nil && m.IDNumber != nil && !*m.IDNumber:
		return ConclusionIDMismatch
	case m != nil && m.IDNotChecked:
		return ConclusionHolderNotChecked
	case v != Valid:
		return Conclusion(v)
	case current == "suspended":
		return ConclusionInstSuspended
	case current == "withdrawn":
		return ConclusionInstWithdrawn
	}
	return ConclusionValid
}

// Tone is the colour a conclusion is shown in.
func (c Conclusion) Tone() Tone {
	switch c {
	case ConclusionValid:
		return ToneGood
	case ConclusionInstSuspended, ConclusionInstWithdrawn, ConclusionHolderNotChecked, Conclusion(Superseded):
		return ToneCaution
	case Conclusion(NotFound), Conclusion(Stale), Conclusion(Undecided):
		return ToneNeutral
	}
	return ToneBad
}

// Chinese is the conclusion's headline, as large as the verdict's.
func (c Conclusion) Chinese() string {
	switch c {
	case ConclusionCodeMismatch:
		return "验证码不符"
	case ConclusionNameMismatch:
		return "姓名不符"
	case ConclusionIDMismatch:
		return "证件号码不符"
	case ConclusionHolderNotChecked:
		return "持证人未核对"
	case ConclusionInstSuspended:
		return "有效·机构暂停"
	case ConclusionInstWithdrawn:
		return "有效·机构已撤销备案"
	}
	return Verdict(c).Chinese()
}

// English is the conclusion's headline in English.
func (c Conclusion) English() string {
	switch c {
	case ConclusionCodeMismatch:
		return "code does not match"
	case ConclusionNameMismatch:
		return "name does not match"
	case ConclusionIDMismatch:
		return "ID number does not match"
	case ConclusionHolderNotChecked:
		return "holder not checked"
	case ConclusionInstSuspended:
		return "valid · institution suspended"
	case ConclusionInstWithdrawn:
		return "valid · registration withdrawn"
	}
	return Verdict(c).English()
}

// Explain is the sentence under a conclusion that is not the verdict's
// own ("" for those: the verdict's explanation stands).
func (c Conclusion) Explain(en bool) string {
	pick := func(zh, e string) string {
		if en {
			return e
		}
		return zh
	}
	switch c {
	case ConclusionCodeMismatch:
		return pick("该编号的证书存在，但您出示的验证码不是该证书的验证码：这张纸质证书或二维码不是发证机构为该证书制作的，可能是伪造。请勿采信，并请联系发证机构。",
			"A certificate with this number exists, but the verification code presented is not its code: this paper or QR code was not made by the issuer for this certificate and may be forged. Do not rely on it; contact the issuing institution.")
	case ConclusionNameMismatch:
		return pick("证书本身有效，但您填写的姓名与证书持证人不一致：该证书不属于此人。请核对姓名是否输入有误。",
			"The certificate itself is valid, but the name given is not its holder's: it does not belong to this person. Check the name for typing errors.")
	case ConclusionIDMismatch:
		return pick("证书本身有效，姓名一致，但证件号码与证书不一致：不能确认该证书属于此人。",
			"The certificate itself is valid and the name matches, but the ID number does not: it cannot be confirmed that the certificate belongs to this person.")
	case ConclusionHolderNotChecked:
		return pick("证书本身有效，但这次未能核对您填写的持证人信息（姓名或证件号码），原因见本页说明。请持证人出示证书上的二维码，或明日再核对。",
			"The certificate itself is valid, but the holder's details given (name or ID number) were not checked this time; this page says why. Ask the holder to show the QR code on the certificate, or check again tomorrow.")
	case ConclusionInstSuspended:
		return pick("该机构目前暂停发证；本证书签发时备案有效，证书仍然有效。",
			"The institution is currently suspended from issuing; its registration was in force when this certificate was issued, and the certificate remains valid.")
	case ConclusionInstWithdrawn:
		return pick("该机构的备案现已撤销，不能再发证；本证书签发时备案有效，证书仍然有效。",
			"The institution's registration has since been withdrawn and it can no longer issue; its registration was in force when this certificate was issued, and the certificate remains valid.")
	}
	return ""
}
