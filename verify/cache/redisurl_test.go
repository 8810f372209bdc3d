package cache

import (
	"strings"
	"testing"
)

// TestParseRedisURL: each form operators run Redis in reads into the
// universal options that make go-redis build the right client (one server,
// Sentinel-backed failover, Cluster); routing that reads replicas is
// refused; no error repeats a password.
func TestParseRedisURL(t *testing.T) {
	cases := []struct {
		url     string
		form    RedisForm
		addrs   string
		master  string
		db      int
		tls     bool
		user    string
		pass    string
		sentPW  string
		cluster bool
	}{
		{url: "redis://127.0.0.1:6379/3", form: RedisSingle, addrs: "127.0.0.1:6379", db: 3},
		{url: "redis://:s3cret@cache.internal", form: RedisSingle, addrs: "cache.internal:6379", pass: "s3cret"},
		{url: "rediss://certd:pw@cache.example.cn:6380/1", form: RedisSingle, addrs: "cache.example.cn:6380", db: 1, tls: true, user: "certd", pass: "pw"},
		{url: "unix://:pw@/run/redis/redis.sock?db=2", form: RedisSingle, addrs: "/run/redis/redis.sock", db: 2, pass: "pw"},
		{url: "redis+sentinel://s1:26379/2?master_name=certd&addr=s2:26379&addr=s3:26379&password=masterpw", form: RedisSentinel,
			addrs: "s1:26379,s2:26379,s3:26379", master: "certd", db: 2, pass: "masterpw"},
		{url: "rediss+sentinel://admin:sentpw@s1:26380?master_name=certd", form: RedisSentinel, addrs: "s1:26380", master: "certd", tls: true, sentPW: "sentpw"},
		{url: "redis://s1:26379?master_name=mymaster", form: RedisSentinel, addrs: "s1:26379", master: "mymaster"},
		{url: "redis+cluster://n1:7000?addr=n2:7000&addr=n3:7000", form: RedisCluster, addrs: "n1:7000,n2:7000,n3:7000", cluster: true},
		{url: "rediss+cluster://u:pw@n1:7000", form: RedisCluster, addrs: "n1:7000", cluster: true, tls: true, user: "u", pass: "pw"},
		{url: "redis://n1:7000?addr=n2:7001", form: RedisCluster, addrs: "n1:7000,n2:7001", cluster: true},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			o, form, err := ParseRedisURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			if form != tc.form || strings.Join(o.Addrs, ",") != tc.addrs || o.MasterName != tc.master || o.DB != tc.db ||
				(o.TLSConfig != nil) != tc.tls || o.Username != tc.user || o.Password != tc.pass || o.SentinelPassword != tc.sentPW ||
				o.IsClusterMode != tc.cluster {
				t.Fatalf("form %s, options %+v", form, o)
			}
			if o.ReadOnly || o.RouteByLatency || o.RouteRandomly {
				t.Fatal("reads routed to replicas")
			}
		})
	}
	bad := []struct{ url, why string }{
		{"http://cache:6379", "scheme"},
		{"memcached://cache", "scheme"},
		{"redis+sentinel://s1:26379", "master_name"},
		{"redis+sentinel://:topsecret@s1:26379?master_name=m&route_randomly=true", "route_randomly"},
		{"redis+sentinel://s1:26379?master_name=m&replica_only=true&password=topsecret", "replica_only"},
		{"redis+cluster://n1:7000/3", "database 0"},
		{"redis+cluster://:topsecret@n1:7000?read_only=true", "read_only"},
		{"redis://:topsecret@cache:6379/notadb", "invalid"},
		{"redis://:topsecret@cache:6379?no_such_option=1", "invalid"},
	}
	for _, tc := range bad {
		_, _, err := ParseRedisURL(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.why) || !strings.Contains(err.Error(), "无效") {
			t.Errorf("%s: %v, want an error about %s", tc.url, err, tc.why)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("%s: the error shows the password: %v", tc.url, err)
		}
	}
}
