package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
)

// Fetch reads one public file of a log by its path relative to the log's
// root ("checkpoint", "tile/0/000", ...). A missing file is an error wrapping
// os.ErrNotExist. Reader.Fetch reads a directory; HTTPFetch a served log.
type Fetch func(ctx context.Context, path string) ([]byte, error)

// Size limits for files fetched from a log nobody vouches for yet.
const (
	maxTileSize   = layout.TileWidth * 32
	maxBundleSize = layout.EntryBundleWidth * (2 + MaxEntrySize)
)

func maxFileSize(path string) int64 {
	switch {
	case path == layout.CheckpointPath:
		return MaxCheckpointSize
	case strings.HasPrefix(path, "tile/entries/"):
		return maxBundleSize
	default:
		return maxTileSize
	}
}

// HTTPFetch fetches from a log served at base (e.g. "https://certd.example/log/").
func HTTPFetch(base string, c *http.Client) (Fetch, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/") + "/")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("日志地址无效 / invalid log URL %q", base)
	}
	if c == nil {
		c = http.DefaultClient
	}
	return func(ctx context.Context, path string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.JoinPath(path).String(), nil) // #nosec G125 -- paths come from the tlog layout functions, never from input
		if err != nil {
			return nil, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
		case http.StatusNotFound:
			return nil, fmt.Errorf("%s: %w", path, errors.Join(ErrNotFound, os.ErrNotExist))
		default:
			return nil, fmt.Errorf("%s: HTTP %d", path, resp.StatusCode)
		}
		limit := maxFileSize(path)
		b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err == nil && int64(len(b)) > limit {
			err = fmt.Errorf("%w: %s 超过 %d 字节 / %s is larger than %d bytes", ErrFilesMismatch, path, limit, path, limit)
		}
		return b, err
	}, nil
}

// Monitor replays a log from its public files only: anyone can run it, over
// HTTP or on a copy of the directory.
type Monitor struct {
	Policy *Policy // trusted log keys, witnesses and quorum
	Origin string  // the log to follow (one of the policy's logs)
	Fetch  Fetch
}

// Replay checks the log's current checkpoint and everything behind it:
//
//  1. the checkpoint is signed by a log key of the policy and cosigned by its quorum;
//  2. every entry from start to the checkpoint's size is fetched, hashed into
//     the tree, and the resulting root must be the checkpoint's; every tile
//     the replay completes must equal the log's tile (ErrFilesMismatch);
//  3. if prev (a checkpoint this monitor accepted earlier) is given, the new
//     checkpoint must extend it (ErrInconsistent): not smaller, the same
//     root at the same size, a valid consistency proof otherwise.
//
// visit sees each entry in order as it is replayed (the monitor's counts and
// the auditor's matching against the database both run here); its error
// stops the replay. Conclusions from the visited entries hold only if Replay
// returns no error. With start 0 every tile is checked, so a failure in step 3
// is a real inconsistency; a later start checks the tree from the tiles'
// compact range at start, which the final root then vouches for.
func (m *Monitor) Replay(ctx context.Context, prev []byte, start uint64, visit func(Leaf) error) (*Checkpoint, error) {
	raw, err := m.fetch(ctx, layout.CheckpointPath)
	if err != nil {
		return nil, err
	}
	cp, err := m.Policy.VerifyCheckpoint(raw)
	if err != nil {
		return nil, err
	}
	if cp.Origin != m.Origin {
		return nil, fmt.Errorf("%w: 日志来源是 %q 而非 %q / origin %q, want %q", ErrUnknownLog, cp.Origin, m.Origin, cp.Origin, m.Origin)
	}
	if start > cp.Size {
		return nil, fmt.Errorf("起点 %d 超过日志大小 %d / start %d is past the log's size %d", start, cp.Size, start, cp.Size)
	}
	if err := m.replay(ctx, cp, start, visit); err != nil {
		return nil, err
	}
	if prev != nil {
		pc, err := m.Policy.openCheckpoint(prev)
		if err != nil {
			return nil, fmt.Errorf("记住的检查点无效 / the remembered checkpoint: %w", err)
		}
		if err := m.consistent(ctx, pc, cp); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

func (m *Monitor) consistent(ctx context.Context, old, cur *Checkpoint) error {
	switch {
	case old.Origin != cur.Origin:
		return fmt.Errorf("%w: 来源不同 / different origins", ErrInconsistent)
	case cur.Size < old.Size:
		return fmt.Errorf("%w: 日志从 %d 缩小到 %d / the log shrank from %d to %d", ErrInconsistent, old.Size, cur.Size, old.Size, cur.Size)
	case cur.Size == old.Size:
		if old.Root != cur.Root {
			return fmt.Errorf("%w: 同一大小 %d 有两个根哈希 / two roots for size %d", ErrInconsistent, cur.Size, cur.Size)
		}
		return nil
	case old.Size == 0:
		return nil
	}
	pb, err := client.NewProofBuilder(ctx, cur.Size, m.readTile)
	if err != nil {
		return err
	}
	p, err := pb.ConsistencyProof(ctx, old.Size, cur.Size)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFilesMismatch, err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, cur.Size, p, old.Root[:], cur.Root[:]); err != nil {
		return fmt.Errorf("%w: %d → %d", ErrInconsistent, old.Size, cur.Size)
	}
	return nil
}

func (m *Monitor) fetch(ctx context.Context, path string) ([]byte, error) {
	b, err := m.Fetch(ctx, path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: 缺少 %s / %s is missing", ErrFilesMismatch, path, path)
		}
		return nil, err
	}
	if limit := maxFileSize(path); int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s 超过 %d 字节 / %s is larger than %d bytes", ErrFilesMismatch, path, limit, path, limit)
	}
	return b, nil
}

// fetchPartial fetches a partial tile or bundle, or the full one if the log
// already replaced it (C2SP tlog-tiles lets a log delete partials then).
func (m *Monitor) fetchPartial(ctx context.Context, pathOf func(p uint8) string, p uint8) ([]byte, error) {
	b, err := m.Fetch(ctx, pathOf(p))
	if p > 0 && errors.Is(err, os.ErrNotExist) {
		return m.fetch(ctx, pathOf(0))
	}
	if err != nil {
		return m.fetch(ctx, pathOf(p)) // for the error's wording
	}
	if limit := maxFileSize(pathOf(p)); int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s 过大 / %s too large", ErrFilesMismatch, pathOf(p), pathOf(p))
	}
	return b, nil
}

func (m *Monitor) readTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	return m.fetchPartial(ctx, func(p uint8) string { return layout.TilePath(level, index, p) }, p)
}

// tileCheck rebuilds tiles from the nodes the compact range creates while
// entries are appended, and compares them with the log's tiles. A tile
// begun before the replay's start is compared from where the replay began.
type tileCheck struct {
	pending map[[2]uint64]*pendingTile
	done    []*pendingTile
}

type pendingTile struct {
	level, index uint64
	first        uint64 // position of nodes[0] in the tile
	nodes        [][]byte
}

func (t *tileCheck) visit(id compact.NodeID, h []byte) {
	if id.Level%layout.TileHeight != 0 {
		return
	}
	level, index, pos := uint64(id.Level/layout.TileHeight), id.Index/layout.TileWidth, id.Index%layout.TileWidth
	key := [2]uint64{level, index}
	pt, ok := t.pending[key]
	if !ok {
		pt = &pendingTile{level: level, index: index, first: pos}
		t.pending[key] = pt
	}
	pt.nodes = append(pt.nodes, h)
	if pt.first+uint64(len(pt.nodes)) == layout.TileWidth {
		t.done = append(t.done, pt)
		delete(t.pending, key)
	}
}

func (m *Monitor) compareTile(ctx context.Context, pt *pendingTile, width uint8) error {
	data, err := m.readTile(ctx, pt.level, pt.index, width)
	if err != nil {
		return err
	}
	path := layout.TilePath(pt.level, pt.index, width)
	want := uint64(layout.TileWidth)
	if width > 0 {
		want = uint64(width)
	}
	end := pt.first + uint64(len(pt.nodes))
	// A partial tile may have been replaced by the full one; both are fine.
	okLen := len(data) == layout.TileWidth*32 || width > 0 && uint64(len(data)) == want*32
	if end != want || !okLen {
		return fmt.Errorf("%w: %s 长度为 %d 字节 / %s has %d bytes", ErrFilesMismatch, path, len(data), path, len(data))
	}
	if !bytes.Equal(data[pt.first*32:end*32], bytes.Join(pt.nodes, nil)) {
		return fmt.Errorf("%w: %s 的哈希与条目不符 / %s does not match the entries", ErrFilesMismatch, path, path)
	}
	return nil
}

func (m *Monitor) replay(ctx context.Context, cp *Checkpoint, start uint64, visit func(Leaf) error) error {
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	rng := rf.NewEmptyRange(0)
	if start > 0 {
		nodes, err := client.FetchRangeNodes(ctx, start, m.readTile)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrFilesMismatch, err)
		}
		if rng, err = rf.NewRange(0, start, nodes); err != nil {
			return fmt.Errorf("%w: %v", ErrFilesMismatch, err)
		}
	}
	tc := &tileCheck{pending: map[[2]uint64]*pendingTile{}}
	for ri := range layout.Range(start, cp.Size-start, cp.Size) {
		if err := ctx.Err(); err != nil {
			return err
		}
		raw, err := m.fetchPartial(ctx, func(p uint8) string { return layout.EntriesPath(ri.Index, p) }, ri.Partial)
		if err != nil {
			return err
		}
		var b api.EntryBundle
		if err := b.UnmarshalText(raw); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrFilesMismatch, layout.EntriesPath(ri.Index, ri.Partial), err)
		}
		if want := int(ri.Partial); len(b.Entries) != layout.EntryBundleWidth && (want == 0 || len(b.Entries) != want) {
			return fmt.Errorf("%w: %s 有 %d 个条目 / %s holds %d entries", ErrFilesMismatch, layout.EntriesPath(ri.Index, ri.Partial), len(b.Entries), layout.EntriesPath(ri.Index, ri.Partial), len(b.Entries))
		}
		for i := ri.First; i < ri.First+ri.N; i++ {
			if err := rng.Append(rfc6962.DefaultHasher.HashLeaf(b.Entries[i]), tc.visit); err != nil {
				return err
			}
			if visit != nil {
				if err := visit(Leaf{Index: ri.Index*layout.EntryBundleWidth + uint64(i), Data: b.Entries[i]}); err != nil {
					return err
				}
			}
		}
		for _, pt := range tc.done {
			if err := m.compareTile(ctx, pt, 0); err != nil {
				return err
			}
		}
		tc.done = tc.done[:0]
	}
	root := rfc6962.DefaultHasher.EmptyRoot()
	if rng.End() > 0 {
		var err error
		if root, err = rng.GetRootHash(nil); err != nil {
			return err
		}
	}
	if !bytes.Equal(root, cp.Root[:]) {
		return fmt.Errorf("%w: 由条目算出的根哈希不是检查点的根哈希 / the entries hash to another root than the checkpoint's", ErrFilesMismatch)
	}
	for _, pt := range tc.pending {
		if err := m.compareTile(ctx, pt, layout.PartialTileSize(pt.level, pt.index, cp.Size)); err != nil {
			return err
		}
	}
	return nil
}

// Report is what Check found.
type Report struct {
	Checkpoint *Checkpoint
	Entries    uint64   // entries replayed
	Counts     []Count  // per institution, day, kind, occupation and level
	Malformed  []uint64 // indexes of entries that are not certd v1 entries
}

// Count is the number of entries sharing institution, day, kind, occupation
// and level (the last two empty for non-certificate kinds).
type Count struct {
	Institution string
	Day         string
	Kind        Kind
	Occupation  string
	Level       int
	N           int
}

// Check replays the whole log (see Replay) and counts its entries. prev may
// be nil on the first run; afterwards pass the previous Report's
// Checkpoint.Note so that a rewritten history is noticed.
func (m *Monitor) Check(ctx context.Context, prev []byte) (*Report, error) {
	type key struct {
		inst, day  string
		kind       Kind
		occupation string
		level      int
	}
	counts := map[key]int{}
	rep := &Report{}
	cp, err := m.Replay(ctx, prev, 0, func(l Leaf) error {
		rep.Entries++
		e, err := DecodeEntry(l.Data)
		if err != nil {
			rep.Malformed = append(rep.Malformed, l.Index)
			return nil
		}
		counts[key{e.Institution, e.Day, e.Kind, e.Occupation, e.Level}]++
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Checkpoint = cp
	for k, n := range counts {
		rep.Counts = append(rep.Counts, Count{Institution: k.inst, Day: k.day, Kind: k.kind, Occupation: k.occupation, Level: k.level, N: n})
	}
	sort.Slice(rep.Counts, func(i, j int) bool {
		a, b := rep.Counts[i], rep.Counts[j]
		if a.Institution != b.Institution {
			return a.Institution < b.Institution
		}
		if a.Day != b.Day {
			return a.Day < b.Day
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Occupation != b.Occupation {
			return a.Occupation < b.Occupation
		}
		return a.Level < b.Level
	})
	return rep, nil
}
