#!/usr/bin/env bash
# Share-link page benchmark (docs/benchmarks.md, "Share links"): the page of
# a share link for a cached certificate against the bare Fiber handler and
# the certificate's own cached page (/v/), in the same run, as run.sh
# measures /v/. Needs PostgreSQL on 127.0.0.1:5432 (trust), redis-server, wrk.
#
#   N=1000   certificates to seed (the cached path does not depend on it)
#   ROUNDS=3 interleaved rounds; report medians
#   T=8s     length of each run
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-1000}
ROUNDS=${ROUNDS:-3}
T=${T:-8s}
DB=certd_share_bench
URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
export GOTOOLCHAIN=go1.27.3
go build -o /tmp/benchtool ./cmd/benchtool
go build -o /tmp/certd ./cmd/certd
psql -qh 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
/tmp/benchtool seed -db "$URL" -n "$N" >/dev/null
CERT=Y000022000001263000001
TOKEN=$(/tmp/benchtool share -db "$URL" -number "$CERT")
redis-server --port 6392 --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --pidfile /tmp/share-bench-redis.pid
/tmp/benchtool bare -addr 127.0.0.1:8183 & BARE=$!
rm -rf /tmp/share-bench-data
/tmp/certd serve --data /tmp/share-bench-data --database-url "$URL" --redis-url redis://127.0.0.1:6392/0 \
  --addr 127.0.0.1:8182 --public-url http://127.0.0.1:8182 --rate-limit -1 2>/dev/null & CERTD=$!
trap 'kill $BARE $CERTD; kill "$(cat /tmp/share-bench-redis.pid)"' EXIT
sleep 2.5
curl -fs -o /dev/null "http://127.0.0.1:8182/s/$TOKEN"; curl -fs -o /dev/null "http://127.0.0.1:8182/v/$CERT"
run() {
  local out; out=$(wrk -t2 -d"$T" --latency "$@")
  printf '%-28s %s\n' "$LABEL" "$(echo "$out" | awk '/Requests\/sec/{r=$2} / 50%/{p50=$2} / 99%/{p99=$2} /Non-2xx/{e=$NF} END{printf "%10.0f req/s  p50 %-8s p99 %-8s %s", r, p50, p99, (e?"non-2xx "e:"")}')"
}
echo "load before: $(uptime)"
for round in $(seq "$ROUNDS"); do
  echo "== round $round"
  LABEL="bare Fiber, 2 KB"  run -c64 http://127.0.0.1:8183/bare
  LABEL="share page, cached" run -c64 "http://127.0.0.1:8182/s/$TOKEN"
  LABEL="/v/ page, cached"  run -c64 "http://127.0.0.1:8182/v/$CERT"
  LABEL="share page, gzip"  run -c64 -H 'Accept-Encoding: gzip' "http://127.0.0.1:8182/s/$TOKEN"
done
echo "load after: $(uptime)"
echo "views counted: $(psql -tAh 127.0.0.1 -U postgres -d "$DB" -c 'SELECT views FROM share_links')"
