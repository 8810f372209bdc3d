package issuer_test

import (
	"context"
	"crypto/ed25519"
	"slices"
	"strconv"
	"testing"
	"time"

	"certd/issuer"
	"certd/issuer/credential"
	"certd/issuer/statuslist"
)

const statusBase = "https://certd.example.cn/status"

// listOf parses a published list with the institution's registered keys.
func (f *fixture) listOf(l issuer.StatusList) *statuslist.Credential {
	f.t.Helper()
	vs, err := f.svc.InstitutionVersions(f.ctx, authority, l.InstitutionID)
	if err != nil {
		f.t.Fatal(err)
	}
	lookup := func(iss, kid string, at time.Time) (ed25519.PublicKey, error) {
		for _, v := range vs {
			for _, k := range v.Keys {
				if k.KID == kid {
					return k.PublicKey, nil
				}
			}
		}
		return nil, statuslist.ErrUnknownKey
	}
	c, err := statuslist.Parse(l.Token, credential.InstitutionURN(l.InstitutionID), lookup)
	if err != nil {
		f.t.Fatalf("the published list does not parse: %v", err)
	}
	return c
}

func entryOf(t *testing.T, tok string) statuslist.Entry {
	t.Helper()
	var cl credential.CertificateClaims
	if _, err := credential.Decode(tok, credential.TypeCertificate, &cl); err != nil {
		t.Fatal(err)
	}
	if cl.CredentialStatus == nil {
		t.Fatalf("the record has no credentialStatus")
	}
	return statuslist.Entry(*cl.CredentialStatus)
}

// TestStatusListFollowsRevocationAndReissue: records carry the entry of
// their index; a published list has exactly the bits of the certificates
// that are not valid, whoever checks it.
func TestStatusListFollowsRevocationAndReissue(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.svc.StatusBase = statusBase
		rep := f.issue(clerk, roster(5))
		for _, c := range rep.Issued {
			e := entryOf(t, c.Token)
			if _, err := e.Validate(statusBase + "/jlvtc"); err != nil {
				t.Fatalf("%s: entry %+v: %v", c.Number, e, err)
			}
			if e.StatusListIndex != strconv.Itoa(c.StatusIndex) || e.StatusListCredential != statusBase+"/jlvtc" {
				t.Fatalf("%s: entry %+v, stored index %d", c.Number, e, c.StatusIndex)
			}
		}
		check := func(l issuer.StatusList, want map[int]statuslist.Status) {
			t.Helper()
			c := f.listOf(l)
			if c.List.Len() != statuslist.MinBits || c.TTL != issuer.DefaultStatusTTL {
				t.Fatalf("list of %d entries, ttl %v", c.List.Len(), c.TTL)
			}
			for i, w := range want {
				got, err := c.Check(entryOf(t, rep.Issued[i].Token), c.ValidFrom, 0)
				if got != w || err != nil {
					t.Errorf("certificate %d: %v (%v), want %v", i, got, err, w)
				}
			}
		}
		l1, err := f.svc.PublishStatusList(f.ctx, "jlvtc", 0)
		if err != nil {
			t.Fatal(err)
		}
		check(l1, map[int]statuslist.Status{0: statuslist.Active, 1: statuslist.Active})
		if _, err := f.svc.Revoke(f.ctx, clerk, rep.Issued[0].Number, issuer.ReasonMisconduct, ""); err != nil {
			t.Fatal(err)
		}
		repl, err := f.svc.Reissue(f.ctx, clerk, rep.Issued[1].Number, issuer.Correction{Name: "张四", Reason: "姓名录入错误"})
		if err != nil {
			t.Fatal(err)
		}
		l2, err := f.svc.PublishStatusList(f.ctx, "jlvtc", 0)
		if err != nil {
			t.Fatal(err)
		}
		if l2.Version != l1.Version+1 || l2.Revoked != 2 {
			t.Fatalf("second list: version %d (after %d), %d bits set, want 2", l2.Version, l1.Version, l2.Revoked)
		}
		check(l2, map[int]statuslist.Status{0: statuslist.Revoked, 1: statuslist.Revoked, 2: statuslist.Active})
		if got, err := f.listOf(l2).Check(entryOf(t, repl.Token), l2.ValidFrom, 0); got != statuslist.Active || err != nil {
			t.Errorf("the corrected certificate: %v %v", got, err)
		}
		// Version 1 is still what it was.
		old, err := f.svc.StatusList(f.ctx, "jlvtc", l1.Version)
		if err != nil || old != l1 {
			t.Fatalf("version %d changed: %+v %v", l1.Version, old, err)
		}
	})
}

// TestStatusPublisherWithinASecond: with the publisher running, a
// revocation is in a new list version within one second.
func TestStatusPublisherWithinASecond(t *testing.T) {
	f := newFixture(t)
	f.svc.StatusBase = statusBase
	f.svc.Now = nil // the publisher runs on the real clock
	rep := f.issue(clerk, roster(3))
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- (&issuer.StatusPublisher{Service: f.svc, Poll: 50 * time.Millisecond}).Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	var first issuer.StatusList
	for {
		l, err := f.svc.StatusList(f.ctx, "jlvtc", 0)
		if err == nil {
			first = l
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no list published at start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the publisher is past its first polls
	if _, err := f.svc.Revoke(f.ctx, clerk, rep.Issued[2].Number, issuer.ReasonRequest, ""); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for {
		l, err := f.svc.StatusList(f.ctx, "jlvtc", 0)
		if err != nil {
			t.Fatal(err)
		}
		if l.Version > first.Version {
			if got, err := f.listOf(l).Check(entryOf(t, rep.Issued[2].Token), l.ValidFrom, 0); got != statuslist.Revoked {
				t.Fatalf("the new version says %v (%v)", got, err)
			}
			if d := time.Since(revoked); d > time.Second {
				t.Fatalf("new version after %v, want within 1 s", d)
			}
			break
		}
		if time.Since(revoked) > time.Second {
			t.Fatalf("no new version within 1 s of the revocation")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
}

// TestStatusListResignsDoNotPileUp: re-signing unchanged bits every half
// ttl kept a version each time (288 a day per institution). A run of
// re-signings now keeps its first version, which dates the change, and its
// latest; every version that changed bits stays readable as it was.
func TestStatusListResignsDoNotPileUp(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		f.svc.StatusBase = statusBase
		rep := f.issue(clerk, roster(3))
		publish := func() issuer.StatusList {
			t.Helper()
			f.now = f.now.Add(5 * time.Minute)
			l, err := f.svc.PublishStatusList(f.ctx, "jlvtc", 0)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		kept := func(want ...int) {
			t.Helper()
			latest, err := f.svc.StatusList(f.ctx, "jlvtc", 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for v := 1; v <= latest.Version; v++ {
				switch _, err := f.svc.StatusList(f.ctx, "jlvtc", v); {
				case err == nil:
					got = append(got, v)
				case !issuer.Is(err, issuer.ErrNotFound):
					t.Fatal(err)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("versions kept %v, want %v", got, want)
			}
		}
		first := publish()
		for range 10 {
			publish()
		}
		kept(1, 11)
		if _, err := f.svc.Revoke(f.ctx, clerk, rep.Issued[0].Number, issuer.ReasonMisconduct, ""); err != nil {
			t.Fatal(err)
		}
		changed := publish()
		if changed.Revoked != 1 || changed.BitsDigest == first.BitsDigest {
			t.Fatalf("after a revocation: %d bits set, digest %s (before %s)", changed.Revoked, changed.BitsDigest, first.BitsDigest)
		}
		kept(1, 11, 12)
		for range 5 {
			publish()
		}
		latest := publish()
		kept(1, 11, 12, 18)
		if got := f.listOf(latest); !got.ValidFrom.Equal(f.now.Truncate(time.Millisecond)) {
			t.Fatalf("the latest list is dated %v, want %v", got.ValidFrom, f.now)
		}
		if old, err := f.svc.StatusList(f.ctx, "jlvtc", changed.Version); err != nil || old != changed {
			t.Fatalf("the version that revoked changed: %+v %v", old, err)
		}
	})
}

// bitsThen runs after once StatusBits has read the bits: a change
// committed between reading the bits and dating the list.
type bitsThen struct {
	issuer.Store
	after func()
}

func (b *bitsThen) StatusBits(ctx context.Context, id string) (issuer.StatusBits, error) {
	bits, err := b.Store.StatusBits(ctx, id)
	if b.after != nil {
		b.after()
		b.after = nil
	}
	return bits, err
}

// TestStatusListDatedBeforeItsBits: a list says "as of validFrom"; a
// revocation committed before that instant must be in it. The list was
// dated after its bits were read, so a revocation in between was missing
// from a list that claimed to be newer than it.
func TestStatusListDatedBeforeItsBits(t *testing.T) {
	f := newFixture(t)
	f.svc.StatusBase = statusBase
	rep := f.issue(clerk, roster(2))
	var revokedAt time.Time
	hook := &bitsThen{Store: f.store, after: func() {
		f.now = f.now.Add(time.Second)
		revokedAt = f.now
		if _, err := f.svc.Revoke(f.ctx, clerk, rep.Issued[1].Number, issuer.ReasonRequest, ""); err != nil {
			t.Error(err)
		}
	}}
	svc := issuer.New(hook, f.kek)
	svc.Now, svc.Log, svc.StatusBase = f.svc.Now, f.svc.Log, statusBase
	l, err := svc.PublishStatusList(f.ctx, "jlvtc", 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.listOf(l).Check(entryOf(t, rep.Issued[1].Token), l.ValidFrom, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !l.ValidFrom.Before(revokedAt) && got != statuslist.Revoked {
		t.Fatalf("a list dated %v says %v for a certificate revoked at %v", l.ValidFrom, got, revokedAt)
	}
}
