package web

import (
	"strings"
	"testing"

	"certd/issuer"
	"certd/verify/internal/verifytest"
)

// TestPublicPagesHideTheCause: when the database fails for a reason an
// operator must act on (a full disk), the operator's log says so at error
// level, while an anonymous viewer is only told that verification is
// temporarily unavailable: no internals on public pages.
func TestPublicPagesHideTheCause(t *testing.T) {
	st := openSQLite(t)
	w := verifytest.NewWorld(t, st, 1)
	bs := &verifytest.BrokenStore{Store: st, Err: &issuer.Error{Kind: issuer.ErrUnavailable, Code: "disk_full",
		Zh: "磁盘已满，数据库无法写入：请释放数据库所在磁盘的空间或扩容后重试", En: "the disk is full and the database cannot write: free space on the database's disk",
		Err: errInjected}}
	bs.Broken.Store(true)
	a := newApp(t, bs, Deps{})
	n := w.Certs[0].Number
	for _, path := range []string{"/v/" + n, "/v/" + n + "?lang=en", "/api/v1/certificates/" + n} {
		resp, body := a.do(t, "GET", path, nil)
		if resp.StatusCode != 503 || !(strings.Contains(body, "暂时无法验证") || strings.Contains(body, "temporarily unavailable")) {
			t.Errorf("%s: %d %.300s", path, resp.StatusCode, body)
		}
		for _, internal := range []string{"磁盘", "disk", "disk_full", "database or disk"} {
			if strings.Contains(body, internal) {
				t.Errorf("%s shows %q to an anonymous viewer", path, internal)
			}
		}
	}
	logs := a.logs.String()
	if !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, "disk_full") || !strings.Contains(logs, errInjected.Error()) {
		t.Errorf("the operator's log does not name the cause:\n%s", logs)
	}
}

var errInjected = injected("append audit: database or disk is full (13)")

type injected string

func (e injected) Error() string { return string(e) }
