package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"certd/issuer"
	"certd/verify/cache"
	"certd/verify/internal/verifytest"
)

// TestRevokeSeenByAnotherInstance: two instances on one PostgreSQL database
// and one Redis, both with the certificate cached; a revocation made outside
// either (as `certd revoke` does) is answered by both within 1 second, and
// so are a reissue and a newly issued number that was cached as unknown.
func TestRevokeSeenByAnotherInstance(t *testing.T) {
	rurl := verifytest.RedisURL(t)
	st := openPostgres(t)
	w := verifytest.NewWorld(t, st, 3)
	prefix := "certd-test-" + verifytest.RandHex() + ":"
	a := newApp(t, st, Deps{RedisURL: rurl, RedisPrefix: prefix, Options: cache.Options{Poll: 200 * time.Millisecond}})
	b := newApp(t, st, Deps{RedisURL: rurl, RedisPrefix: prefix, Options: cache.Options{Poll: 200 * time.Millisecond}})
	c := w.Certs[0]
	next := fmt.Sprintf("%s%06d", c.Number[:16], 4) // the number the next certificate will get
	for _, x := range []*testApp{a, b} {
		for _, n := range []string{c.Number, w.Certs[1].Number, next} {
			x.do(t, "GET", "/api/v1/certificates/"+n, nil)
			x.do(t, "GET", "/v/"+n, nil)
		}
	}
	if _, body := b.do(t, "GET", "/api/v1/certificates/"+c.Number, nil); !strings.Contains(body, `"verdict":"valid"`) {
		t.Fatal("not valid before the revocation")
	}
	if r, _ := b.do(t, "GET", "/api/v1/certificates/"+next, nil); r.StatusCode != 404 {
		t.Fatal("next number should be unknown yet")
	}
	start := time.Now()
	if _, err := w.Iss.Revoke(w.Ctx, verifytest.Authority, c.Number, issuer.ReasonMisconduct, "考核舞弊"); err != nil {
		t.Fatal(err)
	}
	took := verifytest.Eventually(t, time.Second, "revocation on instance B", func() bool {
		_, api := b.do(t, "GET", "/api/v1/certificates/"+c.Number, nil)
		_, page := b.do(t, "GET", "/v/"+c.Number, nil)
		return strings.Contains(api, `"verdict":"revoked"`) && strings.Contains(page, "已撤销")
	})
	// Both poll on their own: A's second may end a little after B's.
	verifytest.Eventually(t, time.Second-took, "revocation on instance A", func() bool {
		_, api := a.do(t, "GET", "/api/v1/certificates/"+c.Number, nil)
		return strings.Contains(api, `"verdict":"revoked"`)
	})
	t.Logf("revocation visible on the other instance after %v", took)

	// A new certificate takes the number that was cached as unknown.
	w.Issue(1, 100)
	if w.Certs[3].Number != next {
		t.Fatalf("issued %s, expected %s", w.Certs[3].Number, next)
	}
	verifytest.Eventually(t, time.Second, "new certificate on instance B", func() bool {
		r, _ := b.do(t, "GET", "/api/v1/certificates/"+next, nil)
		return r.StatusCode == 200
	})

	// A reissue supersedes the old number everywhere.
	old := w.Certs[1].Number
	nc, err := w.Iss.Reissue(w.Ctx, verifytest.Authority, old, issuer.Correction{Reason: "姓名有误", Name: "张三"})
	if err != nil {
		t.Fatal(err)
	}
	verifytest.Eventually(t, time.Second, "reissue on instance A", func() bool {
		_, api := a.do(t, "GET", "/api/v1/certificates/"+old, nil)
		return strings.Contains(api, `"verdict":"superseded"`) && strings.Contains(api, nc.Number)
	})
	_ = start
}
