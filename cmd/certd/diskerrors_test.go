package main

import (
	"strings"
	"testing"

	"certd/issuer/store/postgres/pgtest"
)

// TestReadOnlyDatabaseNamed: an operator whose database refuses writes (a
// standby, a read-only session or mount) is told so and what to check,
// with exit status 3 and the engine's own words, not "the database is
// unavailable; try again later".
func TestReadOnlyDatabaseNamed(t *testing.T) {
	url := pgtest.URL(t)
	c := &cli{t: t, data: t.TempDir()}
	c.must("init", "--database-url", url)
	code, _, errs := c.run("institution", "add", "testdata/institution.yaml", "--database-url", url+"&options=-c%20default_transaction_read_only%3Don")
	if code != exitInternal || !strings.Contains(errs, "数据库处于只读状态") || !strings.Contains(errs, "the database is read-only") || strings.Contains(errs, "try again later") || !strings.Contains(errs, "SQLSTATE 25006") {
		t.Errorf("write to a read-only database: exit %d\n%s", code, errs)
	}
	t.Logf("exit %d\n%s", code, errs)
}
