package main

import (
	"context"
	"encoding/json"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"certd/issuer/account"
)

// The operator can list every API token with its holder and revoke one;
// resetting a password from the command line ends the holder's tokens.
func TestUserTokensCommand(t *testing.T) {
	c := &cli{t: t, data: filepath.Join(t.TempDir(), "data")}
	c.must("init")
	c.must("institution", "add", "testdata/institution.yaml")
	c.must("user", "add", "jl.op", "--role", "college_operator", "--institution", "jlvtc", "--name", "李经办")

	ctx := context.Background()
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	addConfigFlags(fs, &cfg)
	if err := fs.Parse([]string{"--data", c.data}); err != nil {
		t.Fatal(err)
	}
	e, err := cfg.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	as, err := e.accounts()
	if err != nil {
		t.Fatal(err)
	}
	op, err := as.UserByName(ctx, cliUser(), "jl.op")
	if err != nil {
		t.Fatal(err)
	}
	tokens := make([]account.Token, 2)
	secrets := make([]string, 2)
	for i := range tokens {
		if tokens[i], secrets[i], err = as.CreateToken(ctx, op, "教务系统", []account.Scope{account.ScopeLedgerRead}, 0); err != nil {
			t.Fatal(err)
		}
	}
	e.close()

	var rows []struct{ ID, Login, Institution, Revoked string }
	if err := json.Unmarshal([]byte(c.must("user", "tokens", "--json")), &rows); err != nil || len(rows) != 2 || rows[0].Login != "jl.op" || rows[0].Institution != "jlvtc" || rows[0].Revoked != "" {
		t.Fatalf("user tokens: %+v, %v", rows, err)
	}
	if out := c.must("user", "tokens", "--institution", "other"); strings.Contains(out, tokens[0].ID) {
		t.Fatalf("another college's listing shows jlvtc's token: %s", out)
	}
	c.must("user", "revoke-token", tokens[0].ID)
	if code, _, errs := c.run("user", "revoke-token", tokens[0].ID); code != 1 || !strings.Contains(errs, "已被吊销") {
		t.Fatalf("revoking twice: exit %d, %s", code, errs)
	}
	c.must("user", "passwd", "jl.op")
	rows = nil
	if err := json.Unmarshal([]byte(c.must("user", "tokens", "--json")), &rows); err != nil || len(rows) != 2 || rows[0].Revoked == "" || rows[1].Revoked == "" {
		t.Fatalf("after revoke-token and passwd: %+v, %v", rows, err)
	}
}
