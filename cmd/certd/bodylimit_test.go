package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"certd/verify/web"
)

// TestBodyLimitByPath: public routes refuse a body over web.MaxBody
// before reading it; console routes take up to the console's upload limit;
// a path that only looks like the console's does not get its limit.
func TestBodyLimitByPath(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	cfg := &Config{Data: filepath.Join(dir, "data"), Addr: ln.Addr().String(), PublicURL: base, LogLevel: "error",
		RateLimit: "-1", CacheMB: "16", FontPath: "/nonexistent.ttf"}
	e, err := cfg.open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer e.close()
	if _, err := e.svc.Init(ctx, authorityActor(), "吉林省人力资源和社会保障厅"); err != nil {
		t.Fatal(err)
	}
	app, err := newApp(e)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	defer func() { _ = app.Shutdown() }()

	big := bytes.Repeat([]byte("a"), web.MaxBody+1024)
	for _, tc := range []struct {
		path    string
		body    []byte
		tooBig  bool
		comment string
	}{
		// Routes that would read the whole body and then answer 404 or 405
		// if the limit came only after reading it.
		{"/nonexistent", big, true, "public path"},
		{"/healthz", big, true, "public GET-only route"},
		{"/console/../nonexistent", big, true, "dot-dot out of the console"},
		{"/api/v1/verify", []byte(`{"token":"x"}`), false, "small public body"},
		{"/console/login", big, false, "console"},
		{"/api/console/v1/batches", big, false, "console API"},
	} {
		req, _ := http.NewRequest("POST", base+tc.path, bytes.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			// The server may close the connection after refusing a body
			// it did not read.
			if tc.tooBig {
				continue
			}
			t.Fatalf("%s: %v", tc.comment, err)
		}
		resp.Body.Close()
		if got := resp.StatusCode == http.StatusRequestEntityTooLarge; got != tc.tooBig {
			t.Errorf("%s (%s, %d bytes): status %d", tc.comment, tc.path, len(tc.body), resp.StatusCode)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}
