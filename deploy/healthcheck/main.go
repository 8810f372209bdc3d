// Command certd-healthcheck asks a certd instance whether it is ready, for
// container engines whose health checks run a command inside the container.
// The certd image has no shell, curl or wget (it is distroless), so
// compose.yaml runs this static binary instead; Kubernetes probes over HTTP
// and does not need it.
//
// Usage:
//
//	certd-healthcheck [URL]
//
// URL defaults to http://127.0.0.1:8080/readyz. The exit status is 0 when the
// answer is 2xx within three seconds and 1 otherwise, with the reason on
// standard error (docker inspect shows it).
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

const defaultURL = "http://127.0.0.1:8080/readyz"

func main() {
	url := defaultURL
	if len(os.Args) > 1 {
		url = os.Args[1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := check(ctx, url); err != nil {
		fmt.Fprintln(os.Stderr, "certd-healthcheck:", err)
		cancel()
		os.Exit(1)
	}
}

// check fetches url and reports an error unless the status is 2xx. The body
// is read (bounded) so that a ready certd's JSON shows in the error of an
// unready one.
func check(ctx context.Context, url string) error {
	// The URL is the container's own health-check command line, written
	// by the operator: there is no one else to forge a request for.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil) // #nosec G704 -- operator-given URL
	if err != nil {
		return err
	}
	// No proxy from the environment: the check is about this container.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req) // #nosec G704 -- operator-given URL
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s %s", url, resp.Status, body)
	}
	return nil
}
