package clientip

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestOf(t *testing.T) {
	trusted, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.168.1.1", " "})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTrustedProxies([]string{"not-an-ip"}); err == nil {
		t.Error("a bad proxy entry was accepted")
	}
	tests := []struct {
		name, peer, xff string
		trusted         []netip.Prefix
		want            string
	}{
		{"no proxies configured: header ignored", "203.0.113.9", "1.2.3.4", nil, "203.0.113.9"},
		{"untrusted peer: header ignored", "203.0.113.9", "1.2.3.4", trusted, "203.0.113.9"},
		{"trusted proxy: client from header", "10.1.2.3", "198.51.100.7", trusted, "198.51.100.7"},
		{"spoofed left entry ignored", "10.1.2.3", "6.6.6.6, 198.51.100.7", trusted, "198.51.100.7"},
		{"chain of trusted proxies", "10.1.2.3", "198.51.100.7, 192.168.1.1, 10.9.9.9", trusted, "198.51.100.7"},
		{"garbage entry stops the walk", "10.1.2.3", "198.51.100.7, junk", trusted, "10.1.2.3"},
		{"all trusted: the leftmost proxy", "10.1.2.3", "10.2.2.2", trusted, "10.2.2.2"},
		{"IPv6 client", "10.1.2.3", "2001:db8::1", trusted, "2001:db8::1"},
		{"mapped peer", "::ffff:10.1.2.3", "198.51.100.7", trusted, "198.51.100.7"},
		{"empty header", "10.1.2.3", "", trusted, "10.1.2.3"},
		{"over-long header: its right end is read", "10.1.2.3", strings.Repeat("junk,", 1000) + "198.51.100.7", trusted, "198.51.100.7"},
		{"no peer address", "", "198.51.100.7", trusted, "0.0.0.0"},
	}
	for _, tt := range tests {
		got := Of(net.ParseIP(tt.peer), tt.xff, tt.trusted)
		if got.String() != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies([]string{"10.1.2.3/8", "::ffff:192.168.1.1", "2001:db8::/32", ""})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.168.1.1/32", "2001:db8::/32"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d: %s, want %s", i, got[i], want[i])
		}
	}
	_, err = ParseTrustedProxies([]string{"10.0.0.0/8", "proxy.example"})
	if err == nil || !strings.Contains(err.Error(), "proxy.example") || !strings.Contains(err.Error(), " / ") {
		t.Errorf("a bad entry: %v, want a bilingual error naming it", err)
	}
}

func TestKey(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"198.51.100.7", "198.51.100.7"},
		{"::ffff:198.51.100.7", "198.51.100.7"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
	}
	for _, tt := range tests {
		if got := Key(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Key(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
	// Every address of one /64 is one client; the next /64 is another.
	a, b := Key(netip.MustParseAddr("2001:db8::1")), Key(netip.MustParseAddr("2001:db8::dead:beef:1"))
	if a != b {
		t.Errorf("one /64 gives two keys: %s, %s", a, b)
	}
	if Key(netip.MustParseAddr("2001:db8:0:1::1")) == a {
		t.Error("two /64 prefixes share a key")
	}
}

func FuzzOf(f *testing.F) {
	f.Add([]byte{10, 0, 0, 1}, "1.2.3.4, 10.0.0.2")
	f.Add([]byte{1, 2, 3, 4}, "")
	trusted, _ := ParseTrustedProxies([]string{"10.0.0.0/8"})
	f.Fuzz(func(t *testing.T, peer []byte, xff string) {
		ip := Of(net.IP(peer), xff, trusted)
		if !ip.IsValid() {
			t.Fatal("invalid address")
		}
		p, ok := netip.AddrFromSlice(peer)
		if ok && !trustedAddr(p, trusted) && ip != p.Unmap() {
			t.Fatalf("untrusted peer %v replaced by %v", p, ip)
		}
	})
}

func TestForwarded(t *testing.T) {
	proxy := []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}
	peer := net.ParseIP("10.0.0.1")
	for _, tc := range []struct {
		lines [][]byte
		want  string
	}{
		{nil, "10.0.0.1"},
		{[][]byte{[]byte("203.0.113.9")}, "203.0.113.9"},
		// The client sent a line; the proxy added its own after it.
		{[][]byte{[]byte("198.51.100.1"), []byte("203.0.113.9")}, "203.0.113.9"},
		{[][]byte{[]byte("198.51.100.1, 198.51.100.2"), []byte("203.0.113.9, 10.0.0.1")}, "203.0.113.9"},
		// Only the right end is read: a huge forged line is cut.
		{[][]byte{bytes.Repeat([]byte("1.1.1.1,"), 4000), []byte("203.0.113.9")}, "203.0.113.9"},
	} {
		if got := Of(peer, Forwarded(tc.lines), proxy).String(); got != tc.want {
			t.Errorf("Of(%q) = %s, want %s", tc.lines, got, tc.want)
		}
	}
	if n := len(Forwarded([][]byte{bytes.Repeat([]byte("x"), 10*maxXFF)})); n != maxXFF {
		t.Errorf("Forwarded kept %d bytes, want %d", n, maxXFF)
	}
}
