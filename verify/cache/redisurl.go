package cache

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisForm is the kind of Redis deployment a --redis-url names.
type RedisForm string

const (
	// RedisSingle is one server: redis://, rediss:// (TLS) or unix://.
	RedisSingle RedisForm = "single"
	// RedisSentinel is a master found through Sentinel.
	RedisSentinel RedisForm = "sentinel"
	// RedisCluster is a Redis Cluster.
	RedisCluster RedisForm = "cluster"
)

// ParseRedisURL reads the one --redis-url setting into go-redis universal
// options, in any of the forms operators run Redis:
//
//	redis://[user:password@]host:6379[/db]           one server
//	rediss://[user:password@]host:6380[/db]          one server over TLS
//	unix://[user:password@]/run/redis.sock[?db=N]    one server on a socket
//	redis+sentinel://[user:password@]s1:26379[/db]?master_name=NAME[&addr=s2:26379...][&password=P]
//	redis+cluster://[user:password@]n1:7000[?addr=n2:7000&addr=n3:7000]
//
// (rediss+sentinel and rediss+cluster for TLS.) The Sentinel and Cluster
// forms are go-redis's own (ParseFailoverURL, ParseClusterURL) behind a
// scheme that says which is meant; the plain redis:// forms go-redis reads
// that way are accepted too: a redis:// URL with master_name is Sentinel,
// one with addr= parameters a Cluster. In the Sentinel form the user
// information is the Sentinels' login and password= the master's.
//
// Reads always go to the master: a replica may not have applied the
// deletion that invalidated a view yet, and serving that view would show a
// revoked certificate as valid. The routing options that read from
// replicas (replica_only, read_only, route_by_latency, route_randomly) are
// refused.
//
// Errors never repeat the password.
func ParseRedisURL(raw string) (*redis.UniversalOptions, RedisForm, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", redisURLError("", "地址无法解析", "it cannot be parsed")
	}
	shown := redact(u)
	scheme, form := u.Scheme, RedisForm("")
	switch scheme {
	case "redis+sentinel", "rediss+sentinel":
		form, scheme = RedisSentinel, strings.TrimSuffix(scheme, "+sentinel")
	case "redis+cluster", "rediss+cluster":
		form, scheme = RedisCluster, strings.TrimSuffix(scheme, "+cluster")
	case "redis", "rediss", "unix":
		q := u.Query()
		switch {
		case scheme == "unix":
			form = RedisSingle
		case q.Has("master_name"):
			form = RedisSentinel
		case q.Has("addr"):
			form = RedisCluster
		default:
			form = RedisSingle
		}
	default:
		return nil, "", redisURLError(shown, "协议应为 redis、rediss、unix、redis+sentinel 或 redis+cluster",
			"the scheme must be redis, rediss, unix, redis+sentinel or redis+cluster")
	}
	q := u.Query()
	for _, k := range []string{"replica_only", "read_only", "route_by_latency", "route_randomly"} {
		if q.Has(k) {
			return nil, "", redisURLError(shown, "不支持参数 "+k+"：核验缓存只能从主节点读取（从节点可能尚未删除已撤销证书的缓存）",
				"parameter "+k+" is not supported: the verification cache reads from the master only (a replica may not have applied the deletion of a revoked certificate's view yet)")
		}
	}
	norm := *u
	norm.Scheme = scheme
	s := norm.String()
	switch form {
	case RedisSingle:
		o, err := redis.ParseURL(s)
		if err != nil {
			return nil, "", redisURLError(shown, "单机地址无效", "invalid single-server URL", err, u)
		}
		return fromSingle(o), form, nil
	case RedisSentinel:
		if q.Get("master_name") == "" {
			return nil, "", redisURLError(shown, "Sentinel 地址须给出 master_name 参数（主节点名）", "a Sentinel URL needs the master_name parameter")
		}
		o, err := redis.ParseFailoverURL(s)
		if err != nil {
			return nil, "", redisURLError(shown, "Sentinel 地址无效", "invalid Sentinel URL", err, u)
		}
		return &redis.UniversalOptions{
			Addrs: o.SentinelAddrs, MasterName: o.MasterName, SentinelUsername: o.SentinelUsername, SentinelPassword: o.SentinelPassword,
			Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig, Protocol: o.Protocol, ClientName: o.ClientName,
			PoolSize: o.PoolSize, MinIdleConns: o.MinIdleConns, MaxIdleConns: o.MaxIdleConns, MaxActiveConns: o.MaxActiveConns,
			ConnMaxIdleTime: o.ConnMaxIdleTime, ConnMaxLifetime: o.ConnMaxLifetime,
		}, form, nil
	default:
		if p := strings.Trim(u.Path, "/"); p != "" && p != "0" {
			return nil, "", redisURLError(shown, "Redis Cluster 只有 0 号数据库", "Redis Cluster has database 0 only")
		}
		norm.Path = ""
		o, err := redis.ParseClusterURL(norm.String())
		if err != nil {
			return nil, "", redisURLError(shown, "Cluster 地址无效", "invalid Cluster URL", err, u)
		}
		return &redis.UniversalOptions{
			Addrs: o.Addrs, IsClusterMode: true, Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig,
			Protocol: o.Protocol, ClientName: o.ClientName, MaxRedirects: o.MaxRedirects,
			PoolSize: o.PoolSize, MinIdleConns: o.MinIdleConns, MaxIdleConns: o.MaxIdleConns, MaxActiveConns: o.MaxActiveConns,
			ConnMaxIdleTime: o.ConnMaxIdleTime, ConnMaxLifetime: o.ConnMaxLifetime,
		}, form, nil
	}
}

// fromSingle carries a single-server client's options over; a unix
// socket, which the universal options have no field for, is dialled by a
// dialer of its own.
func fromSingle(o *redis.Options) *redis.UniversalOptions {
	uo := &redis.UniversalOptions{
		Addrs: []string{o.Addr}, Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig,
		Protocol: o.Protocol, ClientName: o.ClientName,
		PoolSize: o.PoolSize, MinIdleConns: o.MinIdleConns, MaxIdleConns: o.MaxIdleConns, MaxActiveConns: o.MaxActiveConns,
		ConnMaxIdleTime: o.ConnMaxIdleTime, ConnMaxLifetime: o.ConnMaxLifetime,
	}
	if o.Network == "unix" {
		uo.Dialer = func(ctx context.Context, _, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		}
	}
	return uo
}

// redact is u as it may be shown: without the password of its user
// information or of its password= parameter.
func redact(u *url.URL) string {
	c := *u
	if q := c.Query(); q.Get("password") != "" {
		q.Set("password", "xxxxx")
		c.RawQuery = q.Encode()
	}
	return c.Redacted()
}

// secrets are the passwords a URL carries.
func secrets(u *url.URL) []string {
	var out []string
	if pw, ok := u.User.Password(); ok && pw != "" {
		out = append(out, pw, url.QueryEscape(pw), url.PathEscape(pw))
	}
	if pw := u.Query().Get("password"); pw != "" {
		out = append(out, pw, url.QueryEscape(pw))
	}
	return out
}

// redisURLError says what is wrong with a Redis URL, shown without its
// passwords. A parser's own words are added when they do not contain a
// password.
func redisURLError(shown, zh, en string, cause ...any) error {
	where := ""
	if shown != "" {
		where = " " + shown
	}
	detail := ""
	if len(cause) == 2 {
		err, _ := cause[0].(error)
		u, _ := cause[1].(*url.URL)
		if err != nil && u != nil {
			detail = ": " + err.Error()
			for _, pw := range secrets(u) {
				if strings.Contains(detail, pw) {
					detail = ""
					break
				}
			}
		}
	}
	return fmt.Errorf("--redis-url%s 无效：%s / --redis-url%s is invalid: %s%s", where, zh, where, en, detail)
}
