// Package clientip finds the address of the client behind a request: what
// the public pages count their rate limits by, and what the console
// throttles sign-ins by and writes into its audit log.
//
// The peer of a TCP connection is the client unless the peer is a reverse
// proxy the deployment trusts. Only then is X-Forwarded-For read, and only
// its right end: each trusted proxy appends the address it saw, so the
// entries the proxies wrote stand to the right of anything the client sent.
// Walking from the right to the first address that is not a trusted proxy
// yields the client; anything further left was written by the client and
// proves nothing.
//
//	trusted, err := clientip.ParseTrustedProxies([]string{"10.0.0.0/8"})
//	...
//	ip := clientip.Of(peer, r.Header.Get("X-Forwarded-For"), trusted)
//	limiter.Allow(clientip.Key(ip))
//
// Rate limits count by [Key], not by the address itself: one IPv6
// subscriber is routinely given a whole /64, so counting its addresses one
// by one would hand it 2^64 budgets.
package clientip

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// maxXFF bounds the part of X-Forwarded-For that is read: only its right
// end can come from trusted proxies, and the header is the client's to make
// long.
const maxXFF = 2048

// ParseTrustedProxies parses a list of IP addresses and CIDR prefixes, as
// an operator configures them; blank entries are skipped. The error names
// the bad entry, in Chinese and English.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("受信任代理 %q 不是IP地址或网段 / trusted proxy %q is not an IP address or CIDR prefix", s, s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// Of is the address of the client: the peer, unless the peer is a
// trusted proxy, in which case X-Forwarded-For (xff) is walked from the
// right to the first address that is not a trusted proxy. A malformed entry
// ends the walk at the last good one. A peer that is not an IP address
// (a test connection) is the unspecified IPv4 address.
func Of(peer net.IP, xff string, trusted []netip.Prefix) netip.Addr {
	addr, ok := netip.AddrFromSlice(peer)
	if !ok {
		return netip.IPv4Unspecified()
	}
	addr = addr.Unmap()
	if len(trusted) == 0 || !trustedAddr(addr, trusted) || xff == "" {
		return addr
	}
	if len(xff) > maxXFF {
		xff = xff[len(xff)-maxXFF:]
	}
	parts := strings.Split(xff, ",")
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			return addr
		}
		a = a.Unmap()
		if !trustedAddr(a, trusted) {
			return a
		}
		addr = a
	}
	return addr
}

func trustedAddr(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Key is what a rate limit counts a client by: the address itself for IPv4,
// and its /64 prefix for IPv6, the block one subscriber (one home, one phone)
// is given and can pick source addresses from at will. An IPv4-mapped IPv6
// address is its IPv4 address. The key is a printable string, e.g.
// "198.51.100.7" or "2001:db8:1:2::/64".
func Key(addr netip.Addr) string {
	b := Block(addr)
	if !b.Is6() {
		return b.String()
	}
	return netip.PrefixFrom(b, 64).String()
}

// Block is the first address of the block a client owns: the address itself
// for IPv4 (an IPv4-mapped address unmapped), the /64 prefix for IPv6. Rate
// limits that hash the client rather than print it count by Block.
func Block(addr netip.Addr) netip.Addr {
	addr = addr.Unmap()
	if !addr.Is6() {
		return addr
	}
	p, _ := addr.WithZone("").Prefix(64)
	return p.Addr()
}

// Forwarded joins the X-Forwarded-For header lines of a request, in order,
// into the one list Of reads. A request may carry the header more than once
// (a proxy that appends a line of its own instead of extending the client's
// line, HAProxy's option forwardfor among them), and HTTP defines several
// lines as one comma-joined value; reading only the first line would let the
// client name its own address. Only the last maxXFF bytes are kept.
func Forwarded(lines [][]byte) string {
	b := bytes.Join(lines, []byte{','})
	return string(b[max(0, len(b)-maxXFF):])
}
