package tlog

import (
	"context"
	"errors"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/transparency-dev/tessera/api/layout"
)

// Cache lifetimes of the public files (C2SP tlog-tiles): the checkpoint
// changes every few seconds; a full tile or bundle never changes; a partial
// one never changes either (its bytes are fixed by the entries it covers) but
// is superseded quickly and then deleted, so there is no point keeping it
// for a year; a 404 may turn into a file at the next checkpoint.
const (
	CacheCheckpoint = "public, max-age=2"
	CacheFull       = "public, max-age=31536000, immutable"
	CachePartial    = "public, max-age=3600"
	CacheMissing    = "no-store"
)

// Resource is a public log file ready to be sent.
type Resource struct {
	Body         []byte
	ContentType  string
	CacheControl string
}

// Public returns the public file at path, relative to the log's root
// ("checkpoint", "tile/0/x001/234", "tile/entries/005.p/17"), for an HTTP
// edge that is not net/http (Fiber calls this; net/http uses ServeHTTP).
//
// Only canonical tlog-tiles paths are recognised: the file name is rebuilt
// from the parsed numbers, so no request reaches a file outside the tile
// tree (".state", ".certd", "..") . A tile or bundle is served only once a
// published checkpoint commits to it: tessera writes files for entries it is
// still integrating, and after a crash it rewrites them with other entries,
// so a file beyond the published size must never reach a cache. Anything
// else is ErrNotFound.
func (r *Reader) Public(path string) (Resource, error) {
	if path == layout.CheckpointPath {
		cp, err := r.Checkpoint()
		if err != nil {
			return Resource{}, ErrNotFound
		}
		return Resource{Body: cp, ContentType: "text/plain; charset=utf-8", CacheControl: CacheCheckpoint}, nil
	}
	level, index, width, file, ok := parseTilePath(path)
	if !ok {
		return Resource{}, ErrNotFound
	}
	if !r.committed(level, index, width) {
		if cp, err := r.Checkpoint(); err != nil || cp == nil || !r.committed(level, index, width) {
			return Resource{}, ErrNotFound
		}
	}
	body, err := os.ReadFile(filepath.Join(r.dir, file)) // #nosec G304 G703 -- file is built from parsed numbers only (parseTilePath)
	if err != nil {
		return Resource{}, ErrNotFound
	}
	cc := CacheFull
	if width > 0 {
		cc = CachePartial
	}
	return Resource{Body: body, ContentType: "application/octet-stream", CacheControl: cc}, nil
}

// committed reports whether the published size covers the tile: all the
// entries below its last hash are in the tree.
func (r *Reader) committed(level, index uint64, width uint8) bool {
	w := uint64(width)
	if w == 0 {
		w = layout.TileWidth
	}
	if index > (math.MaxUint64-w)/layout.TileWidth {
		return false
	}
	return r.published.Load()>>(layout.TileHeight*level) >= index*layout.TileWidth+w
}

// entriesLevel marks an entry bundle in parseTilePath's result; bundles are
// committed exactly like level-0 tiles.
const entriesLevel = 0

// parseTilePath accepts "tile/<L>/<N>[.p/<W>]" and "tile/entries/<N>[.p/<W>]"
// in their one canonical spelling, and returns the file name rebuilt from
// the parsed numbers (never the request's own text).
func parseTilePath(path string) (level, index uint64, width uint8, file string, ok bool) {
	rest, found := strings.CutPrefix(path, "tile/")
	if !found {
		return 0, 0, 0, "", false
	}
	lev, n, found := strings.Cut(rest, "/")
	if !found || n == "" {
		return 0, 0, 0, "", false
	}
	index, width, err := layout.ParseTileIndexPartial(n)
	if err != nil {
		return 0, 0, 0, "", false
	}
	if lev == "entries" {
		level, file = entriesLevel, layout.EntriesPath(index, width)
	} else {
		l, err := layout.ParseTileLevel(lev)
		if err != nil {
			return 0, 0, 0, "", false
		}
		level, file = l, layout.TilePath(l, index, width)
	}
	if file != path {
		return 0, 0, 0, "", false
	}
	return level, index, width, file, true
}

// ServeHTTP serves the public files; mount it under the log's prefix with
// http.StripPrefix("/log", reader).
func (r *Reader) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "只支持 GET / GET only", http.StatusMethodNotAllowed)
		return
	}
	res, err := r.Public(strings.TrimPrefix(req.URL.Path, "/"))
	if err != nil {
		w.Header().Set("Cache-Control", CacheMissing)
		http.Error(w, ErrNotFound.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", res.ContentType)
	w.Header().Set("Cache-Control", res.CacheControl)
	w.Header().Set("Content-Length", strconv.Itoa(len(res.Body)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if req.Method == http.MethodGet {
		_, _ = w.Write(res.Body) // a client that went away is not an error of ours
	}
}

// Fetch reads a public file as the monitor does; with it a Monitor checks a
// log directory exactly as it would check the log over HTTP.
func (r *Reader) Fetch(_ context.Context, path string) ([]byte, error) {
	res, err := r.Public(path)
	if errors.Is(err, ErrNotFound) {
		return nil, errors.Join(ErrNotFound, os.ErrNotExist)
	}
	return res.Body, err
}
