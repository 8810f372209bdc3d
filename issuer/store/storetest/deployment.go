package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"certd/issuer"
)

// DeploymentStore is a backend that keeps the deployment's named values
// (the public address printed in QR codes), as both shipped backends do.
type DeploymentStore interface {
	issuer.Store
	DeploymentValue(ctx context.Context, name string) (string, error)
	SetDeploymentValue(ctx context.Context, name, value string, at time.Time, ev *issuer.AuditEvent) (string, error)
}

// RunDeploymentValues runs the conformance suite of the deployment's named
// values: unset is "", the first value set stays (concurrent first sets
// agree on one), an audited set replaces it and appends its event, and the
// values do not collide with the console's session key in the same table.
func RunDeploymentValues(t *testing.T, open func(t *testing.T) DeploymentStore) {
	t.Parallel()
	s := open(t)
	ctx := t.Context()
	at := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	v, err := s.DeploymentValue(ctx, "public_url")
	must(t, err)
	if v != "" {
		t.Fatalf("an unset value reads %q", v)
	}
	const n = 8
	got := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.SetDeploymentValue(ctx, "public_url", []string{"https://a.example", "https://b.example"}[i%2], at, nil)
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		}()
	}
	wg.Wait()
	for _, v := range got {
		if v != got[0] || v == "" {
			t.Fatalf("concurrent first sets disagree: %q", got)
		}
	}
	if v, _ := s.SetDeploymentValue(ctx, "public_url", "https://c.example", at, nil); v != got[0] {
		t.Errorf("a second first set replaced the value: %q", v)
	}
	ev := issuer.AuditEvent{At: at, Actor: "cli:test", Action: "deployment.public_url", Subject: "public_url", Detail: `{"to":"https://c.example"}`}
	if v, err := s.SetDeploymentValue(ctx, "public_url", "https://c.example", at, &ev); err != nil || v != "https://c.example" {
		t.Fatalf("an audited set: %q, %v", v, err)
	}
	if v, _ := s.DeploymentValue(ctx, "public_url"); v != "https://c.example" {
		t.Errorf("after the audited set it reads %q", v)
	}
	evs, err := s.Audit(ctx, issuer.AuditFilter{Subject: "public_url"})
	must(t, err)
	if len(evs) != 1 || evs[0].Action != "deployment.public_url" {
		t.Errorf("audit of the change: %+v", evs)
	}
	if v, _ := s.DeploymentValue(ctx, "session"); v != "" {
		t.Error("a deployment value collides with the session key's name")
	}
}
