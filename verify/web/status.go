package web

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"certd/issuer"
)

// Status lists (W3C Bitstring Status List credentials, compact JWS) are
// served at /status/ID, the latest version, and /status/ID/N, version N,
// which never changes. The latest is cached by clients and CDNs for no
// longer than it stays fresh (its ttl from when it was signed), so nobody
// keeps a list past the time it may be relied on; a version is cached for
// a year. Reads are cheap for certd too: the latest is read from the
// store at most every statusLatestFor per institution (a new version is
// published within a poll of a revocation; this keeps the promise of one
// second), versions are kept in a bounded map, and only institutions in
// the directory are looked up, so an anonymous client cannot make certd
// read the store with made-up names.

const (
	statusLatestFor = 250 * time.Millisecond
	// statusVersionsKept bounds the versions kept in memory; a version is
	// about 5 KB for a 131,072-entry list, 30 KB for a 1,048,576-entry one.
	statusVersionsKept = 256
	// statusMediaType is VC-JOSE-COSE's media type for a credential secured
	// as a JWS.
	statusMediaType = "application/vc+jwt"
)

var statusIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,31}$`)

type statusCache struct {
	mu       sync.Mutex
	latest   map[string]statusLatest
	versions map[string]issuer.StatusList
}

type statusLatest struct {
	l  issuer.StatusList
	at time.Time
}

// StatusStore reads published status lists (both store backends).
type StatusStore interface {
	StatusList(ctx context.Context, institutionID string, version int) (issuer.StatusList, error)
}

func (h *handlers) statusList(c *fiber.Ctx) error {
	id := c.Params("id")
	version := 0
	if v := c.Params("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000_000 || strconv.Itoa(n) != v {
			return h.fail(c, errStatusListUnknown)
		}
		version = n
	}
	d := h.svc.Directory()
	if d == nil {
		return h.unavailable(c, errors.New("directory not loaded"))
	}
	if !statusIDPattern.MatchString(id) || !d.Registry.Known(id) || h.lists == nil {
		return h.fail(c, errStatusListUnknown)
	}
	l, err := h.status.get(c.UserContext(), h.lists, id, version)
	if issuer.Is(err, issuer.ErrNotFound) {
		return h.fail(c, errStatusListUnknown)
	}
	if err != nil {
		return h.unavailable(c, err)
	}
	if version == 0 {
		left := time.Until(l.ValidFrom.Add(l.TTL))
		age := int64(min(left, l.TTL) / time.Second)
		c.Set("Cache-Control", "public, max-age="+strconv.FormatInt(max(age, 0), 10))
		c.Set("Content-Location", c.Path()+"/"+strconv.Itoa(l.Version))
	} else {
		c.Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	c.Set("Last-Modified", l.ValidFrom.UTC().Format(time.RFC1123[:len(time.RFC1123)-3])+"GMT")
	c.Set("Access-Control-Allow-Origin", "*")
	c.Set(fiber.HeaderContentType, statusMediaType)
	return c.SendString(l.Token)
}

func (sc *statusCache) get(ctx context.Context, st StatusStore, id string, version int) (issuer.StatusList, error) {
	now := time.Now()
	key := id + "/" + strconv.Itoa(version)
	sc.mu.Lock()
	if version == 0 {
		if e, ok := sc.latest[id]; ok && now.Sub(e.at) < statusLatestFor {
			sc.mu.Unlock()
			return e.l, nil
		}
	} else if l, ok := sc.versions[key]; ok {
		sc.mu.Unlock()
		return l, nil
	}
	sc.mu.Unlock()
	l, err := st.StatusList(ctx, id, version)
	if err != nil {
		return l, err
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if version == 0 {
		if sc.latest == nil {
			sc.latest = map[string]statusLatest{}
		}
		sc.latest[id] = statusLatest{l, now}
		return l, nil
	}
	if sc.versions == nil || len(sc.versions) >= statusVersionsKept {
		sc.versions = map[string]issuer.StatusList{}
	}
	sc.versions[key] = l
	return l, nil
}

var errStatusListUnknown = issuer.Errorf(issuer.ErrNotFound, "status_list_unknown", "没有这个状态列表", "no such status list")
