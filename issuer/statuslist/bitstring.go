package statuslist

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"io"
	"math/bits"
)

// Bounds on a bitstring. MinBits is the Recommendation's 16 KiB floor for
// herd privacy. MaxBits bounds what a decoder accepts from the network:
// 1 MiB of bits, eight times certd's largest planned list (1,048,576
// entries), so a hostile list costs at most that much memory and inflating.
const (
	MinBits = 131_072
	MaxBits = 1 << 23

	maxBytes = MaxBits / 8
	// gzipSlack covers GZIP's header and trailer and deflate's stored-block
	// framing (5 bytes per 64 KiB) for a list that does not compress at all.
	gzipSlack = 4096
	// MaxEncodedLen is the longest encodedList Decode reads: "u" plus the
	// base64url of an incompressible MaxBits list.
	MaxEncodedLen = 1 + ((maxBytes+gzipSlack)*8+5)/6
)

// Bitstring is a list of status bits. Index 0 is the left-most (most
// significant) bit of the first byte. The zero value is an empty list, on
// which every index is out of range.
type Bitstring struct {
	bits []byte
}

// New returns a list of n zero bits. n must be a multiple of 8 between
// MinBits and MaxBits.
func New(n int) (*Bitstring, error) {
	if err := checkLen(n); err != nil {
		return nil, err
	}
	return &Bitstring{bits: make([]byte, n/8)}, nil
}

// FromIndexes returns a list of n bits with exactly the given indexes set:
// the revoked indexes for a status list, or the allocated ones for the
// bitmap RandomFree draws from.
func FromIndexes(n int, indexes []int) (*Bitstring, error) {
	s, err := New(n)
	if err != nil {
		return nil, err
	}
	for _, i := range indexes {
		if err := s.Set(i, true); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func checkLen(n int) error {
	switch {
	case n%8 != 0:
		return fail(ErrLength, "%d 位不是 8 的整数倍", "%d bits is not a whole number of bytes", n)
	case n < MinBits:
		return fail(ErrLength, "%d 位少于最低 %d 位（保护持证人隐私所需）", "%d bits is below the minimum of %d (needed for herd privacy)", n, MinBits)
	case n > MaxBits:
		return fail(ErrTooLarge, "%d 位超过上限 %d 位", "%d bits is above the limit of %d", n, MaxBits)
	}
	return nil
}

// Len is the number of bits.
func (s *Bitstring) Len() int { return len(s.bits) * 8 }

func (s *Bitstring) inRange(i int) error {
	if i < 0 || i >= s.Len() {
		return fail(ErrRange, "索引 %d 不在 0 到 %d 之间", "index %d is not between 0 and %d", i, s.Len()-1)
	}
	return nil
}

// Get reports whether bit i is set. An index outside the list is ErrRange,
// never false: "not in the list" must not read as "not revoked".
func (s *Bitstring) Get(i int) (bool, error) {
	if err := s.inRange(i); err != nil {
		return false, err
	}
	return s.bits[i/8]&(0x80>>(i%8)) != 0, nil
}

// Set sets bit i to v.
func (s *Bitstring) Set(i int, v bool) error {
	if err := s.inRange(i); err != nil {
		return err
	}
	if v {
		s.bits[i/8] |= 0x80 >> (i % 8)
	} else {
		s.bits[i/8] &^= 0x80 >> (i % 8)
	}
	return nil
}

// Count is the number of set bits.
func (s *Bitstring) Count() int {
	n := 0
	for _, b := range s.bits {
		n += bits.OnesCount8(b)
	}
	return n
}

// Encode returns the list as the Recommendation's encodedList: "u" (the
// multibase prefix for base64url without padding) followed by the base64url
// of the GZIP-compressed bits. The output depends only on the bits (no
// timestamp or name in the GZIP header), so an unchanged list encodes to
// the same string. The default level is used: BestCompression saves about
// a tenth of the size of a 1%-revoked list but takes some 40 times longer
// on 1,048,576 entries, and a list is regenerated on every revocation.
func (s *Bitstring) Encode() string {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		panic(err) // only for an invalid level
	}
	if _, err := zw.Write(s.bits); err != nil {
		panic(err) // writing to a bytes.Buffer does not fail
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return "u" + base64.RawURLEncoding.EncodeToString(buf.Bytes())
}

// Decode reads an encodedList. Lists come from the network, so it is
// strict and bounded: at most MaxEncodedLen characters are looked at, at
// most MaxBits bits are inflated (a GZIP bomb is cut off there, costing no
// more than that in memory and time), and anything but exactly one
// complete, checksummed GZIP member holding a whole number of bytes, at
// least MinBits, is refused with ErrEncoding, ErrTooLarge or ErrLength.
func Decode(encodedList string) (*Bitstring, error) {
	if len(encodedList) > MaxEncodedLen {
		return nil, fail(ErrTooLarge, "编码长度 %d 超过上限 %d", "encoded length %d is above the limit of %d", len(encodedList), MaxEncodedLen)
	}
	if encodedList == "" || encodedList[0] != 'u' {
		return nil, fail(ErrEncoding, "multibase 前缀须为 u（base64url）", "the multibase prefix must be u (base64url)")
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(encodedList[1:])
	if err != nil {
		return nil, failCause(ErrEncoding, err, "不是无填充的 base64url", "not base64url without padding")
	}
	br := bytes.NewReader(raw)
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, failCause(ErrEncoding, err, "不是 GZIP 数据", "not GZIP data")
	}
	zr.Multistream(false)
	out := bytes.NewBuffer(make([]byte, 0, sizeHint(raw)+bytes.MinRead))
	_, err = out.ReadFrom(io.LimitReader(zr, maxBytes+1))
	switch {
	case out.Len() > maxBytes:
		return nil, fail(ErrTooLarge, "解压后超过 %d 字节", "more than %d bytes when decompressed", maxBytes)
	case err != nil:
		return nil, failCause(ErrEncoding, err, "GZIP 数据不完整或校验失败", "GZIP data is truncated or fails its checksum")
	case br.Len() != 0:
		return nil, fail(ErrEncoding, "GZIP 数据后有多余的 %d 字节", "%d bytes follow the GZIP data", br.Len())
	}
	if err := checkLen(out.Len() * 8); err != nil {
		return nil, err
	}
	return &Bitstring{bits: out.Bytes()}, nil
}

// sizeHint is the decompressed size a GZIP trailer claims (ISIZE), capped:
// one allocation of the right size for an honest list, and no more than the
// cap for a lying one.
func sizeHint(gz []byte) int {
	if len(gz) < 4 {
		return 0
	}
	return int(min(binary.LittleEndian.Uint32(gz[len(gz)-4:]), maxBytes+1))
}

// freeTries is how many random draws RandomFree makes before it counts the
// free indexes. With half the list allocated, 32 draws all miss with
// probability 2^-32.
const freeTries = 32

// RandomFree picks a uniformly random index whose bit is 0, reading
// randomness from rnd (crypto/rand.Reader in production). s is the bitmap of
// allocated indexes, not the status list: which indexes are taken is the
// store's knowledge, and a published list must not reveal it.
//
// It draws random indexes until one is free, which takes O(1) expected time
// while the list is sparse (two draws on average at half full); after
// freeTries misses it counts the free indexes and picks one of them at
// random, O(Len/8). Both steps are uniform over the free indexes. A full
// list is ErrFull. Two issuers racing for one index must be stopped by the
// store (a unique constraint), not here.
func (s *Bitstring) RandomFree(rnd io.Reader) (int, error) {
	n := s.Len()
	if n == 0 {
		return 0, fail(ErrFull, "列表为空", "the list is empty")
	}
	for range freeTries {
		i, err := randIntn(rnd, n)
		if err != nil {
			return 0, err
		}
		if s.bits[i/8]&(0x80>>(i%8)) == 0 {
			return i, nil
		}
	}
	free := n - s.Count()
	if free == 0 {
		return 0, fail(ErrFull, "%d 个索引均已分配", "all %d indexes are allocated", n)
	}
	r, err := randIntn(rnd, free)
	if err != nil {
		return 0, err
	}
	for bi, b := range s.bits {
		if z := 8 - bits.OnesCount8(b); r >= z {
			r -= z
			continue
		}
		for j := range 8 {
			if b&(0x80>>j) == 0 {
				if r == 0 {
					return bi*8 + j, nil
				}
				r--
			}
		}
	}
	panic("statuslist: free index count is inconsistent")
}

// randIntn returns a uniform integer in [0, n) for 0 < n <= MaxBits, by
// rejection sampling on the smallest power of two that covers n (no modulo
// bias).
func randIntn(rnd io.Reader, n int) (int, error) {
	if n <= 0 || n > MaxBits {
		panic("statuslist: randIntn out of range")
	}
	mask := uint32(1)<<bits.Len32(uint32(n-1)) - 1
	var b [4]byte
	for {
		if _, err := io.ReadFull(rnd, b[:]); err != nil {
			return 0, err
		}
		if v := binary.BigEndian.Uint32(b[:]) & mask; int(v) < n {
			return int(v), nil
		}
	}
}
